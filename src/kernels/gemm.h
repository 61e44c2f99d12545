// Row-major single-precision matrix multiply, C = alpha·op(A)·op(B) + beta·C, through oneDNN's
// sgemm (AVX-512 where the CPU has it, whatever OPENBLAS_CORETYPE says). Internal header.
#pragma once

#include <cstdint>

namespace convnet::kernels {

void gemm(bool transpose_a, bool transpose_b, std::int64_t rows, std::int64_t cols, std::int64_t depth, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);

}  // namespace convnet::kernels
