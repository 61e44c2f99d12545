// Fusion planning for the oneDNN backend: how a chain of layers groups into stages, read from the
// stage table's roles alone. Internal.
#pragma once

#include "onednn.h"

#include <optional>
#include <vector>

namespace convnet::engine::onednn {

// One stage to build: the layer that makes it and what it swallows.
struct StageRecipe {
    std::size_t layer;                       // index of the layer whose table row builds the stage
    std::size_t last;                        // index of the last layer it covers: the stage's output is that layer's
    bool fuse_relu = false;                  // batch norm (or the batch norm a convolution folds) followed by relu
    std::optional<std::size_t> folded_norm;  // evaluation: the batch norm a convolution absorbs
};

// The stages for training or evaluation, in order; nullopt, with the reason in `why_not`, when a
// layer has no stage or its neighbours do not allow the fusion its role needs (a flatten not
// followed by linear, dropout on a 4-D input).
std::optional<std::vector<StageRecipe>> plan_stages(const std::vector<LayerPlan>& layers, bool training, std::string& why_not);

}  // namespace convnet::engine::onednn
