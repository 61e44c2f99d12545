// What our AVX2 kernels share: a register's 8 float lanes, and rounding a count up to whole blocks.
// Internal to the library.
#pragma once

#include <cstdint>

namespace convnet::kernels {

inline constexpr std::int64_t kLanes = 8;  // floats in a __m256

// a / b rounded up, for positive a and b.
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace convnet::kernels
