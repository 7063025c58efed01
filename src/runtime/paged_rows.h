// PagedRows: the word-embedding table left in the model file ('paged' memory); each call reads the
// rows its tokens need into a bounded cache, and every read is checked against per-row checksums.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/model_file.h"

namespace jv3 {

// Where a paged call's bytes come from: the file ranges to read (absolute offsets), in order.
struct RowRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// What the paged rows have cost so far (for benchmarks and info()).
struct PagedStats {
  uint64_t rows_read = 0;
  uint64_t bytes_read = 0;
  uint64_t ranges_read = 0;
  uint64_t rows_cached = 0;  // now
};

class PagedRows {
 public:
  // Rows kept between calls unless a call needs more (then its own rows, until the next call).
  static constexpr size_t kDefaultCapacity = 16384;

  // True for the tensors that stay in the file: word_embeddings.{weight, weight_scale, lora_A}.
  static bool Pages(const std::string& tensor_name);
  // `header` must outlive it (the model's own copy): the load looks tensors up in it.
  static Status Create(const ModelHeader& header, size_t capacity, std::unique_ptr<PagedRows>* out);

  // Load: the paged tensors' bytes as the file streams past (each verified whole by the reader),
  // from which each row's CRC-32 is computed, so that later reads of single rows can be checked.
  Status OnChunk(const TensorEntry& entry, uint64_t offset, const uint8_t* data, size_t n);

  // A call: the rows of `ids` not cached yet become the pending read; `ranges` gets the file ranges
  // holding them (nearby rows merged into one range), empty if every row is cached. Rows the call
  // uses are kept; others beyond the capacity are evicted, least recently used first.
  Status Need(const std::vector<const std::vector<int32_t>*>& ids, std::vector<RowRange>* ranges);
  // The pending read's bytes (its ranges, concatenated): each row checked against its CRC-32
  // (E_MODEL_CHECKSUM if the file changed since load), then cached. Nothing is cached on failure.
  Status Supply(const uint8_t* bytes, size_t n);

  // A cached token's record (null if absent), in file order: values [d] (i8 or f32), scale (f32,
  // int8 files), lora_A rows [T, r] (f32). Read its floats with memcpy: records are byte-packed.
  const uint8_t* Find(int32_t id) const;
  size_t values_bytes() const { return parts_[0].row_bytes; }
  size_t lora_offset() const { return lora_offset_; }
  bool has_scale() const { return has_scale_; }
  PagedStats stats() const;

 private:
  struct Part {
    const TensorEntry* entry = nullptr;
    uint64_t file_offset = 0;  // absolute
    uint64_t row_bytes = 0;    // one row of one slab
    uint64_t slabs = 1;        // lora_A: one slab per task
    uint64_t record_offset = 0;
  };
  // A row's bytes in the pending read: where in the supplied bytes, where in its record.
  struct Piece {
    uint32_t row = 0;  // index into pending_ids_
    uint64_t at = 0;
    uint32_t record_offset = 0;
    uint32_t length = 0;
  };
  PagedRows() = default;
  int32_t Allocate(int32_t id);

  std::vector<Part> parts_;  // file order: values, scale, lora_A
  size_t vocab_ = 0;
  size_t record_bytes_ = 0;  // one token's record
  size_t stride_ = 0;        // record_bytes_ rounded up to 16
  size_t lora_offset_ = 0;
  bool has_scale_ = false;
  size_t capacity_ = 0;
  std::vector<uint32_t> crc_;      // [V] CRC-32 of each token's record bytes, from the load
  std::vector<int32_t> slot_of_;   // [V] cache slot of each token, -1 if not cached
  std::vector<int32_t> id_of_;     // [slots] token in each slot, -1 if free
  std::vector<uint64_t> used_;     // [slots] the call that last used each slot
  std::vector<int32_t> free_;      // free slots
  std::vector<uint8_t> arena_;     // [slots, stride_] the records
  uint64_t call_ = 0;
  std::vector<int32_t> pending_ids_;  // the pending read's rows, ascending
  std::vector<Piece> pending_;        // per pending row and part (and slab), ordered as the rows
  uint64_t pending_bytes_ = 0;
  size_t pending_ranges_ = 0;
  PagedStats stats_;
};

}  // namespace jv3
