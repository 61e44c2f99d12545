// Softmax cross-entropy for classification and per-pixel segmentation, computed through
// log-sum-exp so large logits never overflow; and softmax probabilities for reporting.
#pragma once

#include <convnet/core/tensor.h>

#include <cstdint>
#include <span>
#include <vector>

namespace convnet {

struct LossResult {
    double loss = 0.0;           // the weighted mean over the targets counted
    std::int64_t correct = 0;    // counted targets (rows or pixels) whose largest logit is the label
    std::int64_t counted = 0;    // targets not equal to ignore_index
    double denominator = 0.0;    // what the mean divides by: Σ weight[label] over the counted targets
};

// The options of torch.nn.CrossEntropyLoss that convnet's tasks use.
struct CrossEntropyOptions {
    // ε in [0, 1): the target is (1 − ε)·one_hot + ε/K.
    double label_smoothing = 0.0;
    // Per class (K values, each ≥ 0), as CrossEntropyLoss(weight=…); empty: every class 1.
    std::vector<float> weight;
    // Targets equal to this contribute neither loss nor gradient, as CrossEntropyLoss(ignore_index=…);
    // −1: none (labels are bytes, so torch's default −100 can never match one either).
    int ignore_index = -1;
};

// Softmax cross-entropy over logits (N, K), labels N values; or per pixel, as F.cross_entropy for
// segmentation: logits (N, K, H, W), labels N·H·W values (image by image, row by row).
// As torch.nn.CrossEntropyLoss(weight, ignore_index, label_smoothing, reduction="mean") in torch
// 1.13: with w = weight[label] for each counted target (label ≠ ignore_index),
//   loss = Σ w·((1 − ε)·(−log p_label)) / Σ w  +  ε/K · Σ Σ_k weight[k]·(−log p_k) / Σ w,
// and, when grad_logits is not null, it receives d(loss)/d(logits); ignored targets' entries are 0.
// One difference: a batch whose every target is ignored (or weighs 0) has loss 0 and a zero
// gradient, where torch returns NaN (0/0), so that a crop of nothing but "ignore" cannot stop a run.
// Throws convnet::Error on a label outside [0, K) that is not ignore_index, a label count that does
// not fit, a weight count other than K, or a negative or non-finite weight.
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const std::uint8_t> labels, Tensor* grad_logits,
                                 const CrossEntropyOptions& options);

// The same without weights or ignore_index: `correct` counts rows (or pixels).
LossResult softmax_cross_entropy(const Tensor& logits, std::span<const std::uint8_t> labels, Tensor* grad_logits,
                                 double label_smoothing = 0.0);

// The index of the largest of `count` values, as torch.argmax: a NaN counts as larger than any
// number (the first NaN wins), else the first maximum. So a NaN output is never hidden behind
// the largest finite one.
std::int64_t argmax(const float* values, std::int64_t count);

// probabilities (N, K): each row sums to 1.
void softmax(const Tensor& logits, Tensor& probabilities);

}  // namespace convnet
