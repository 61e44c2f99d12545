// The one table of what the oneDNN backend covers, keyed by registry name: the role each layer
// type plays in fusion and the factory of the stage that serves it. Adding a layer adds a row.
#include "stage.h"

namespace convnet::engine::onednn {

namespace {

constexpr FastPathDecision kFastPathTable[] = {
    {"conv2d", FastPathRole::convolution, "convolution (grouped and depthwise too; evaluation folds a following batch norm in)",
     make_convolution_stage},
    {"detect", FastPathRole::convolution, "convolution (the detection head is one)", make_convolution_stage},
    {"batchnorm2d", FastPathRole::batch_norm,
     "batch normalization, fused with a following relu (training: and a 2x2 max pool after it, our kernel)", make_batch_norm_stage},
    {"batchnorm1d", FastPathRole::batch_norm, "batch normalization, fused with a following relu", make_batch_norm_stage},
    {"relu", FastPathRole::relu, "eltwise relu (or fused into the batch norm before it)", make_relu_stage},
    {"leakyrelu", FastPathRole::stage, "eltwise relu with a negative slope", make_leaky_relu_stage},
    {"tanh", FastPathRole::stage, "eltwise tanh", make_tanh_stage},
    {"sigmoid", FastPathRole::stage, "eltwise logistic", make_sigmoid_stage},
    {"maxpool2d", FastPathRole::max_pool, "pooling max (training: 2x2 after batch norm and relu, one stage with them on our kernel)",
     make_max_pool_stage},
    {"avgpool2d", FastPathRole::stage, "pooling avg (padding counted or not)", make_avg_pool_stage},
    {"linear", FastPathRole::inner_product, "inner product (reading a flatten's 4-D input)", make_inner_product_stage},
    {"flatten", FastPathRole::flatten_into_linear,
     "nothing of its own where a linear alone reads it (its inner product reads the 4-D input); else a reorder to plain (N, F)",
     make_flatten_stage},
    {"dropout", FastPathRole::dropout_features, "the layer's own mask on (N, F) features", make_dropout_stage},
    {"softmax", FastPathRole::none, "no stage: the training loss applies its own softmax; add softmax for prediction only", nullptr},
    {"l2pool2d", FastPathRole::none, "no oneDNN primitive computes an L2 norm over a window", nullptr},
    {"gausspool2d", FastPathRole::none, "no stage yet (a depthwise convolution with fixed weights could serve it)", nullptr},
    {"globalavgpool2d", FastPathRole::stage, "pooling avg with a window of the whole map", make_global_avg_pool_stage},
    {"convtranspose2d", FastPathRole::stage, "deconvolution", make_deconvolution_stage},
    {"upsample2d", FastPathRole::stage, "resampling nearest or linear (half-pixel, as align_corners=False)", make_resampling_stage},
    {"add", FastPathRole::stage, "sum (backward: every input's gradient is the output's, no copy)", make_sum_stage},
    {"concat", FastPathRole::stage, "concat along channels (backward: each input's block of the gradient)", make_concat_stage},
};

}  // namespace

std::span<const FastPathDecision> fast_path_table() { return kFastPathTable; }

const FastPathDecision* fast_path_decision(std::string_view type) {
    for (const FastPathDecision& decision : kFastPathTable)
        if (decision.type == type) return &decision;
    return nullptr;
}

}  // namespace convnet::engine::onednn
