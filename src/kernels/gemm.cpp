// oneDNN sgemm behind the project's own signature, so callers never include dnnl.h.
#include "gemm.h"

#include <convnet/core/error.h>

#include <oneapi/dnnl/dnnl.h>

namespace convnet::kernels {

void gemm(bool transpose_a, bool transpose_b, std::int64_t rows, std::int64_t cols, std::int64_t depth, float alpha, const float* a,
          std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
    const dnnl_status_t status =
        dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', rows, cols, depth, alpha, a, lda, b, ldb, beta, c, ldc);
    if (status != dnnl_success)
        throw Error("sgemm failed (status " + std::to_string(static_cast<int>(status)) + ") for " + std::to_string(rows) + "x" +
                    std::to_string(cols) + "x" + std::to_string(depth));
}

}  // namespace convnet::kernels
