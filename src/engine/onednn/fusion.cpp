// plan_stages: the fusion rules of fusion.h.
#include "fusion.h"

#include "../../kernels/batch_norm_relu_max_pool.h"

namespace convnet::engine::onednn {

namespace {

FastPathRole role_of(const std::vector<LayerPlan>& layers, std::size_t index) {
    if (index >= layers.size()) return FastPathRole::none;
    const FastPathDecision* decision = fast_path_decision(layers[index].layer->type());
    return decision ? decision->role : FastPathRole::none;
}

// How many times each layer's output is read (a join reading it twice counts twice).
std::vector<int> reader_counts(const std::vector<LayerPlan>& layers) {
    std::vector<int> counts(layers.size(), 0);
    for (const LayerPlan& plan : layers)
        for (int input : plan.inputs)
            if (input != kNetworkInput) ++counts[static_cast<std::size_t>(input)];
    return counts;
}

}  // namespace

std::optional<std::vector<StageRecipe>> plan_stages(const std::vector<LayerPlan>& layers, bool training, OwnKernels own_kernels,
                                                    std::string& why_not) {
    const std::vector<int> readers = reader_counts(layers);
    // Whether layer `next` reads layer `index` and nothing else does: only then may they be one stage.
    const auto feeds_only = [&](std::size_t index, std::size_t next) {
        return next < layers.size() && readers[index] == 1 && layers[next].inputs == std::vector<int>{static_cast<int>(index)};
    };
    std::vector<StageRecipe> recipes;
    for (std::size_t i = 0; i < layers.size();) {
        const Layer& layer = *layers[i].layer;
        StageRecipe recipe{i, i, i, false, std::nullopt};
        switch (role_of(layers, i)) {
            case FastPathRole::stage:
            case FastPathRole::relu:
            case FastPathRole::max_pool:
            case FastPathRole::inner_product:
                break;
            case FastPathRole::convolution:
                // With running statistics batch norm is a per-channel scale and shift: it folds
                // into the convolution's weights, and a relu after it becomes a post-op.
                if (!training && role_of(layers, i + 1) == FastPathRole::batch_norm && feeds_only(i, i + 1)) {
                    recipe.folded_norm = i + 1;
                    recipe.fuse_relu = role_of(layers, i + 2) == FastPathRole::relu && feeds_only(i + 1, i + 2);
                    recipe.last = recipe.fuse_relu ? i + 2 : i + 1;
                }
                break;
            case FastPathRole::batch_norm:
                if (role_of(layers, i + 1) == FastPathRole::relu && feeds_only(i, i + 1)) {
                    recipe.fuse_relu = true;
                    recipe.last = i + 1;
                    // Training: with a 2×2 max pool after a batch norm over channels of (N, C, H, W),
                    // the three are two sweeps each way on our kernel.
                    if (training && own_kernels == OwnKernels::where_they_apply && layers[i].input.rank() == 4 &&
                        role_of(layers, i + 2) == FastPathRole::max_pool && feeds_only(i + 1, i + 2) &&
                        layers[i + 2].layer->sliding_window() && kernels::halving_window(*layers[i + 2].layer->sliding_window()) &&
                        kernels::batch_norm_relu_max_pool_available()) {
                        recipe.fuse_max_pool = true;
                        recipe.last = i + 2;
                    }
                }
                break;
            case FastPathRole::flatten_into_linear:
                // The inner product reads the 4-D input; otherwise flatten is a stage of its own.
                if (role_of(layers, i + 1) == FastPathRole::inner_product && feeds_only(i, i + 1))
                    recipe = StageRecipe{i, i + 1, i + 1, false, std::nullopt};
                break;
            case FastPathRole::dropout_features:
                if (layers[i].input.rank() != 2) {
                    why_not = "dropout on a 4-D input (the fast path drops only features of (N, F))";
                    return std::nullopt;
                }
                break;
            case FastPathRole::none: {
                const FastPathDecision* decision = fast_path_decision(layer.type());
                why_not = "layer type " + layer.type() + (decision ? ": " + std::string(decision->how) : std::string());
                return std::nullopt;
            }
        }
        recipes.push_back(recipe);
        i = recipe.last + 1;
    }
    return recipes;
}

}  // namespace convnet::engine::onednn
