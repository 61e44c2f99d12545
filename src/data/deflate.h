// What deflate (zlib, gzip, PNG's IDAT) can expand to: the bound the readers check a declared size
// against before they allocate.
#pragma once

#include <cstdint>

namespace convnet {

// Deflate's largest expansion: a 258-byte match coded in 2 bits (a 1-bit length code and a 1-bit
// distance code) gives 1,032 bytes a byte of compressed data.
inline constexpr std::int64_t kDeflateLargestRatio = 1032;

}  // namespace convnet
