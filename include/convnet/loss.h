// Softmax cross-entropy for classification, computed through log-sum-exp so large logits never
// overflow; and softmax probabilities for reporting.
#pragma once

#include <convnet/tensor.h>

#include <cstdint>
#include <span>

namespace convnet {

struct LossResult {
    double loss = 0.0;         // mean over the batch
    std::int64_t correct = 0;  // rows whose largest logit is the label
};

// logits (N, K), labels N values in [0, K); or per pixel, as F.cross_entropy for segmentation:
// logits (N, K, H, W), labels N·H·W values (image by image, row by row), the loss the mean over
// all N·H·W. When grad_logits is not null it receives d(mean loss)/d(logits) = (softmax −
// one_hot) / (N·H·W). `correct` counts rows (or pixels). Throws on a label outside [0, K) or a
// label count that does not fit.
// With label_smoothing ε in [0, 1) the target is (1 − ε)·one_hot + ε/K, as
// torch.nn.CrossEntropyLoss(label_smoothing=ε): the loss adds ε·mean_k(−log p_k) to (1 − ε)·(−log
// p_label), the gradient is (softmax − target) / (N·H·W); `correct` is unchanged.
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const std::uint8_t> labels, Tensor* grad_logits,
                                 double label_smoothing = 0.0);

// The index of the largest of `count` values, as torch.argmax: a NaN counts as larger than any
// number (the first NaN wins), else the first maximum. So a NaN output is never hidden behind
// the largest finite one.
std::int64_t argmax(const float* values, std::int64_t count);

// probabilities (N, K): each row sums to 1.
void softmax(const Tensor& logits, Tensor& probabilities);

}  // namespace convnet
