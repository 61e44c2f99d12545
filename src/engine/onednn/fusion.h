// Fusion planning for the oneDNN backend: how the layers group into stages, read from the stage
// table's roles, for chains and graphs alike. Internal.
#pragma once

#include "onednn.h"

#include <optional>
#include <vector>

namespace convnet::engine::onednn {

// One stage to build: the layers [first, last] it covers, the one whose table row builds it, and
// what it fuses. Layers are fused only where the earlier one's output is read by the next alone.
struct StageRecipe {
    std::size_t first;                       // the first layer covered: its inputs are the stage's
    std::size_t layer;                       // the layer whose table row builds the stage
    std::size_t last;                        // the last layer covered: the stage's output is that layer's
    bool fuse_relu = false;                  // batch norm (or the batch norm a convolution folds) followed by relu
    std::optional<std::size_t> folded_norm;  // evaluation: the batch norm a convolution absorbs
    bool fuse_max_pool = false;              // training: batch norm, relu and a 2×2 max pool on our kernel
};

// The stages for training or evaluation, in layer order; nullopt, with the reason in `why_not`,
// when a layer has no stage or its neighbours do not allow what its role needs (dropout on a 4-D
// input). `own_kernels` allows the fusions that run on kernels of ours.
std::optional<std::vector<StageRecipe>> plan_stages(const std::vector<LayerPlan>& layers, bool training, OwnKernels own_kernels,
                                                    std::string& why_not);

}  // namespace convnet::engine::onednn
