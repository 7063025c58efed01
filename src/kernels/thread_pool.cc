// ThreadPool over pthreadpool.
#include "kernels/thread_pool.h"

#include <string>

#include <pthreadpool.h>

namespace jv3 {

Status ThreadPool::Create(int threads, std::unique_ptr<ThreadPool>* out) {
  if (threads < 1 || threads > 64) {
    return Status(Code::kInvalidArgument, "threads must be between 1 and 64, got " + std::to_string(threads));
  }
  pthreadpool_t pool = nullptr;
  if (threads > 1) {
    pool = pthreadpool_create(threads);
    if (!pool) return Status(Code::kBackend, "could not start " + std::to_string(threads) + " threads");
  }
  out->reset(new ThreadPool(pool, threads));
  return Status::Ok();
}

ThreadPool::~ThreadPool() {
  if (pool_) pthreadpool_destroy(pool_);
}

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (!pool_ || n <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pthreadpool_parallelize_1d(
      pool_, [](void* ctx, size_t i) { (*static_cast<const std::function<void(size_t)>*>(ctx))(i); },
      const_cast<std::function<void(size_t)>*>(&fn), n, 0);
}

}  // namespace jv3
