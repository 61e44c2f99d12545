// plan_stages: the fusion rules of fusion.h.
#include "fusion.h"

namespace convnet::engine::onednn {

namespace {

FastPathRole role_of(const std::vector<LayerPlan>& layers, std::size_t index) {
    if (index >= layers.size()) return FastPathRole::none;
    const FastPathDecision* decision = fast_path_decision(layers[index].layer->type());
    return decision ? decision->role : FastPathRole::none;
}

bool is_type(const std::vector<LayerPlan>& layers, std::size_t index, std::string_view type) {
    return index < layers.size() && layers[index].layer->type() == type;
}

}  // namespace

std::optional<std::vector<StageRecipe>> plan_stages(const std::vector<LayerPlan>& layers, bool training, std::string& why_not) {
    for (std::size_t i = 0; i < layers.size(); ++i)
        if (layers[i].inputs != std::vector<int>{static_cast<int>(i) - 1}) {
            why_not = layers[i].name + " reads from= other than the line above: the oneDNN backend runs chains of layers only so far";
            return std::nullopt;
        }
    std::vector<StageRecipe> recipes;
    for (std::size_t i = 0; i < layers.size();) {
        const Layer& layer = *layers[i].layer;
        StageRecipe recipe{i, i, false, std::nullopt};
        switch (role_of(layers, i)) {
            case FastPathRole::stage:
                break;
            case FastPathRole::convolution:
                // With running statistics batch norm is a per-channel scale and shift: it folds
                // into the convolution's weights, and a relu after it becomes a post-op.
                if (!training && role_of(layers, i + 1) == FastPathRole::batch_norm) {
                    recipe.folded_norm = i + 1;
                    recipe.fuse_relu = is_type(layers, i + 2, "relu");
                    recipe.last = recipe.fuse_relu ? i + 2 : i + 1;
                }
                break;
            case FastPathRole::batch_norm:
                if (is_type(layers, i + 1, "relu")) {
                    recipe.fuse_relu = true;
                    recipe.last = i + 1;
                }
                break;
            case FastPathRole::flatten_into_linear:
                if (!is_type(layers, i + 1, "linear")) {
                    why_not = "flatten not followed by linear";
                    return std::nullopt;
                }
                recipe = StageRecipe{i + 1, i + 1, false, std::nullopt};  // the inner product reads the 4-D input: flatten costs nothing
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
