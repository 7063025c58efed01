// Braided CRC-32 (Kadatch and Jenkins' braiding, the method zlib 1.2.12 uses): the model file is
// hundreds of MB and every tensor is checked while it loads. Five independent 8-byte lanes let the
// engine overlap their table lookups: ~3 GB/s in wasm, where slicing-by-8 (one dependent chain)
// reaches ~2 GB/s.
#include "base/checksum.h"

#include <array>

namespace jv3 {
namespace {

constexpr uint32_t kPoly = 0xEDB88320u;  // reflected x^32 + x^26 + ... + 1
constexpr int kLanes = 5;                // zlib's N for 8-byte words
constexpr int kWord = 8;                 // zlib's W

using ByteTable = std::array<uint32_t, 256>;
using BraidTables = std::array<ByteTable, kWord>;

constexpr ByteTable MakeByteTable() {
  ByteTable t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? kPoly ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

// a·b modulo the polynomial, in the reflected bit order (a != 0).
constexpr uint32_t MultModP(uint32_t a, uint32_t b) {
  uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return p;
}

// x^n modulo the polynomial.
constexpr uint32_t XPowModP(uint64_t n) {
  uint32_t p = 1u << 31;   // x^0
  uint32_t sq = 1u << 30;  // x^(2^k), starting at x^1
  for (; n; n >>= 1) {
    if (n & 1) p = MultModP(sq, p);
    sq = MultModP(sq, sq);
  }
  return p;
}

// Table k maps byte k of a lane's word to its CRC contribution carried across the other lanes'
// words, i.e. shifted by (kLanes·kWord − k − 1) bytes (zlib's braid(), little-endian half).
constexpr BraidTables MakeBraidTables() {
  BraidTables t{};
  for (int k = 0; k < kWord; ++k) {
    const uint32_t p = XPowModP(uint64_t(kLanes * kWord + 3 - k) << 3);
    for (uint32_t i = 1; i < 256; ++i) t[k][i] = MultModP(i << 24, p);
  }
  return t;
}

constexpr ByteTable kTable = MakeByteTable();
constexpr BraidTables kBraid = MakeBraidTables();

uint64_t Le64(const uint8_t* b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(b[i]) << (8 * i);
  return v;
}

// Runs one word through the CRC byte by byte (no braid).
uint32_t CrcWord(uint64_t data) {
  for (int k = 0; k < kWord; ++k) data = (data >> 8) ^ kTable[data & 0xFF];
  return static_cast<uint32_t>(data);
}

}  // namespace

uint32_t Crc32(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  constexpr size_t kBlock = kLanes * kWord;
  if (n >= 2 * kBlock) {
    size_t blocks = n / kBlock;
    n -= blocks * kBlock;
    // Lane i carries the CRC of words i, i + kLanes, ... ; the first lane starts from the running CRC.
    uint32_t lane[kLanes] = {crc};
    for (; blocks > 1; --blocks, p += kBlock) {
      uint64_t word[kLanes];
      for (int i = 0; i < kLanes; ++i) word[i] = lane[i] ^ Le64(p + kWord * i);
      for (int i = 0; i < kLanes; ++i) lane[i] = kBraid[0][word[i] & 0xFF];
      for (int k = 1; k < kWord; ++k) {
        for (int i = 0; i < kLanes; ++i) lane[i] ^= kBraid[k][(word[i] >> (8 * k)) & 0xFF];
      }
    }
    // The last block folds the lanes back into one CRC.
    crc = 0;
    for (int i = 0; i < kLanes; ++i) crc = CrcWord(lane[i] ^ Le64(p + kWord * i) ^ crc);
    p += kBlock;
  }
  while (n--) crc = kTable[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

}  // namespace jv3
