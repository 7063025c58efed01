// Paged word-embedding rows: per-row checksums from the load, range planning, the LRU row cache.
#include "runtime/paged_rows.h"

#include <algorithm>
#include <cstring>

#include "base/checksum.h"

namespace jv3 {
namespace {

constexpr const char* kValues = "embeddings.word_embeddings.weight";
constexpr const char* kScale = "embeddings.word_embeddings.weight_scale";
constexpr const char* kLoraA = "embeddings.word_embeddings.lora_A";

// Rows closer than this in the file are read as one range: a few KiB read through costs less than
// another request (a system call locally, a round trip over HTTP).
constexpr uint64_t kMergeGap = 4096;

}  // namespace

bool PagedRows::Pages(const std::string& name) { return name == kValues || name == kScale || name == kLoraA; }

Status PagedRows::Create(const ModelHeader& h, size_t capacity, std::unique_ptr<PagedRows>* out) {
  std::unique_ptr<PagedRows> p(new PagedRows());
  const ModelConfig& c = h.config;
  p->vocab_ = c.vocab_size;
  p->capacity_ = std::max<size_t>(capacity, 1);
  for (const char* name : {kValues, kScale, kLoraA}) {
    auto it = std::find_if(h.tensors.begin(), h.tensors.end(), [&](const TensorEntry& e) { return e.name == name; });
    if (it == h.tensors.end()) continue;  // no scale in f32 files, no lora_A without tasks
    const uint64_t slabs = name == kLoraA ? it->shape[0] : 1;
    Part part{&*it, h.data_start + it->offset, it->size / slabs / p->vocab_, slabs, p->record_bytes_};
    if (part.row_bytes * p->vocab_ * slabs != it->size ||
        (!p->parts_.empty() && part.file_offset < p->parts_.back().file_offset)) {
      return Status(Code::kModelFormat, std::string("model file: ") + name + " cannot be paged (unexpected layout)");
    }
    if (name == kScale) p->has_scale_ = true;
    if (name == kLoraA) p->lora_offset_ = p->record_bytes_;
    p->record_bytes_ += part.row_bytes * slabs;
    p->parts_.push_back(part);
  }
  if (p->parts_.empty() || p->parts_[0].entry->name != kValues) {
    return Status(Code::kModelFormat, "model file: no word embeddings to page");
  }
  p->stride_ = (p->record_bytes_ + 15) / 16 * 16;
  JV3_RETURN_IF_ERROR(OrOutOfMemory(
      [&] {
        p->crc_.assign(p->vocab_, 0);
        p->slot_of_.assign(p->vocab_, -1);
      },
      "for the paged rows' index"));
  *out = std::move(p);
  return Status::Ok();
}

Status PagedRows::OnChunk(const TensorEntry& entry, uint64_t offset, const uint8_t* data, size_t n) {
  const Part* part = nullptr;
  for (const Part& p : parts_) part = p.entry->name == entry.name ? &p : part;
  if (!part) return Status(Code::kState, "paged rows: unexpected tensor " + entry.name);
  // A record is its parts in file order, and the tensors arrive in that order: so each row's CRC
  // grows here exactly as Supply recomputes it over the record.
  while (n > 0) {
    const uint64_t row = (offset / part->row_bytes) % vocab_;
    const uint64_t take = std::min<uint64_t>(n, part->row_bytes - offset % part->row_bytes);
    crc_[row] = Crc32(crc_[row], data, take);
    offset += take;
    data += take;
    n -= take;
  }
  return Status::Ok();
}

int32_t PagedRows::Allocate(int32_t id) {
  int32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<int32_t>(id_of_.size());
    id_of_.push_back(-1);
    used_.push_back(0);
    arena_.resize(arena_.size() + stride_);
  }
  id_of_[slot] = id;
  used_[slot] = call_;
  slot_of_[id] = slot;
  return slot;
}

Status PagedRows::Need(const std::vector<const std::vector<int32_t>*>& ids, std::vector<RowRange>* ranges) {
  ++call_;
  pending_ids_.clear();
  pending_.clear();
  pending_bytes_ = 0;
  ranges->clear();
  for (const std::vector<int32_t>* seq : ids) {
    for (int32_t id : *seq) {
      if (id < 0 || static_cast<size_t>(id) >= vocab_) {
        return Status(Code::kInvalidArgument, "token id " + std::to_string(id) + " outside the vocabulary");
      }
      if (slot_of_[id] >= 0) {
        used_[slot_of_[id]] = call_;
      } else {
        pending_ids_.push_back(id);
      }
    }
  }
  std::sort(pending_ids_.begin(), pending_ids_.end());
  pending_ids_.erase(std::unique(pending_ids_.begin(), pending_ids_.end()), pending_ids_.end());

  // Evict rows this call does not use, oldest first, down to the capacity left for its new rows.
  size_t cached = id_of_.size() - free_.size();
  if (cached + pending_ids_.size() > capacity_) {
    std::vector<int32_t> old;
    for (size_t s = 0; s < id_of_.size(); ++s) {
      if (id_of_[s] >= 0 && used_[s] != call_) old.push_back(static_cast<int32_t>(s));
    }
    std::sort(old.begin(), old.end(), [&](int32_t a, int32_t b) { return used_[a] < used_[b]; });
    for (size_t i = 0; i < old.size() && cached + pending_ids_.size() > capacity_; ++i, --cached) {
      slot_of_[id_of_[old[i]]] = -1;
      id_of_[old[i]] = -1;
      free_.push_back(old[i]);
    }
  }

  // Pieces in file order (parts, then slabs, then rows ascending), merged into ranges.
  for (const Part& p : parts_) {
    for (uint64_t s = 0; s < p.slabs; ++s) {
      for (size_t i = 0; i < pending_ids_.size(); ++i) {
        const uint64_t off = p.file_offset + (s * vocab_ + pending_ids_[i]) * p.row_bytes;
        if (ranges->empty() || off > ranges->back().offset + ranges->back().length + kMergeGap) {
          ranges->push_back({off, 0});
        }
        RowRange& r = ranges->back();
        const uint64_t at = pending_bytes_ + (off - r.offset) - r.length;
        pending_bytes_ += off + p.row_bytes - (r.offset + r.length);
        r.length = off + p.row_bytes - r.offset;
        pending_.push_back({static_cast<uint32_t>(i), at, static_cast<uint32_t>(p.record_offset + s * p.row_bytes),
                            static_cast<uint32_t>(p.row_bytes)});
      }
    }
  }
  pending_ranges_ = ranges->size();
  return Status::Ok();
}

Status PagedRows::Supply(const uint8_t* bytes, size_t n) {
  if (n != pending_bytes_) {
    const uint64_t want = pending_bytes_;
    pending_ids_.clear();
    pending_.clear();
    pending_bytes_ = 0;
    return Status(Code::kIo, "paged rows: got " + std::to_string(n) + " bytes for a read of " + std::to_string(want));
  }
  std::vector<uint8_t> records;
  JV3_RETURN_IF_ERROR(OrOutOfMemory([&] { records.resize(pending_ids_.size() * record_bytes_); }, "for paged rows"));
  for (const Piece& p : pending_) {
    std::memcpy(records.data() + p.row * record_bytes_ + p.record_offset, bytes + p.at, p.length);
  }
  for (size_t i = 0; i < pending_ids_.size(); ++i) {
    if (Crc32(0, records.data() + i * record_bytes_, record_bytes_) != crc_[pending_ids_[i]]) {
      const int32_t id = pending_ids_[i];
      pending_ids_.clear();
      pending_.clear();
      pending_bytes_ = 0;
      return Status(Code::kModelChecksum, "the model source's row for token " + std::to_string(id) +
                                              " does not match its checksum: the file changed since it was loaded; "
                                              "load it again");
    }
  }
  Status st = OrOutOfMemory(
      [&] {
        arena_.reserve(arena_.size() + pending_ids_.size() * stride_);
        id_of_.reserve(id_of_.size() + pending_ids_.size());
        used_.reserve(used_.size() + pending_ids_.size());
      },
      "for paged rows");
  if (!st.ok()) return st;
  for (size_t i = 0; i < pending_ids_.size(); ++i) {
    const int32_t slot = Allocate(pending_ids_[i]);
    std::memcpy(arena_.data() + slot * stride_, records.data() + i * record_bytes_, record_bytes_);
  }
  stats_.rows_read += pending_ids_.size();
  stats_.bytes_read += pending_bytes_;
  stats_.ranges_read += pending_ranges_;
  pending_ids_.clear();
  pending_.clear();
  pending_bytes_ = 0;
  return Status::Ok();
}

const uint8_t* PagedRows::Find(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_ || slot_of_[id] < 0) return nullptr;
  return arena_.data() + slot_of_[id] * stride_;
}

PagedStats PagedRows::stats() const {
  PagedStats s = stats_;
  s.rows_cached = id_of_.size() - free_.size();
  return s;
}

}  // namespace jv3
