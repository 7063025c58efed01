// ThreadPool: the pthreadpool (from XNNPACK's build) that XNNPACK's operators and our own kernels run on.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>

#include "base/status.h"

struct pthreadpool;  // pthreadpool.h: typedef struct pthreadpool* pthreadpool_t

namespace jv3 {

class ThreadPool {
 public:
  // threads in [1, 64]; 1 runs everything on the calling thread.
  static Status Create(int threads, std::unique_ptr<ThreadPool>* out);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  pthreadpool* handle() const { return pool_; }  // null with one thread
  // Runs fn(i) for i in [0, n), spread over the pool's threads.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  ThreadPool(pthreadpool* pool, int threads) : pool_(pool), threads_(threads) {}
  pthreadpool* pool_;
  int threads_;
};

// Splits [0, n) into about 4 blocks per thread, so ParallelFor's per-call overhead stays small.
template <typename F>
void ForBlocks(ThreadPool* pool, size_t n, F&& body) {
  const size_t blocks = std::min(n, static_cast<size_t>(pool->threads()) * 4);
  if (blocks == 0) return;
  pool->ParallelFor(blocks, [&](size_t b) {
    const size_t lo = n * b / blocks, hi = n * (b + 1) / blocks;
    for (size_t i = lo; i < hi; ++i) body(i);
  });
}

}  // namespace jv3
