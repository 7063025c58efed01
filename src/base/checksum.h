// CRC-32 (IEEE 802.3, as zlib's crc32) over tensor bytes, computed incrementally as they stream in.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jv3 {

// Continues a CRC-32 over `n` more bytes; start with crc = 0.
uint32_t Crc32(uint32_t crc, const uint8_t* data, size_t n);

}  // namespace jv3
