// Test support: builds one layer from a model-file line, binds its parameters to a local arena,
// and fills inputs in ways that keep finite differences away from kinks (ReLU at 0, max-pool ties).
#pragma once

#include <convnet/layer.h>
#include <convnet/model.h>
#include <convnet/random.h>

#include <memory>
#include <string>
#include <vector>

namespace convnet::testing {

// A layer built from "conv2d out=3 kernel=3" for an input of `sample` (no batch axis),
// with every parameter and buffer bound to vectors owned here.
struct BoundLayer {
    LayerPlan plan;
    std::vector<float> values, gradients;

    Layer& layer() { return *plan.layer; }
};

inline BoundLayer make_layer(const std::string& line, const Shape& sample) {
    const ModelSpec spec = parse_model("input " + sample.to_string() + "\n" + line + "\n", "test");
    std::vector<LayerPlan> plans = plan_model(spec);
    BoundLayer bound{std::move(plans.at(0)), {}, {}};
    std::int64_t total = 0;
    for (const Parameter& parameter : bound.layer().parameters()) total += parameter.shape.element_count();
    bound.values.assign(static_cast<std::size_t>(total), 0.0f);
    bound.gradients.assign(static_cast<std::size_t>(total), 0.0f);
    std::int64_t offset = 0;
    for (Parameter& parameter : bound.layer().parameters()) {
        parameter.value = bound.values.data() + offset;
        parameter.grad = parameter.role == ParameterRole::trainable ? bound.gradients.data() + offset : nullptr;
        offset += parameter.shape.element_count();
    }
    return bound;
}

enum class InputKind {
    smooth,          // uniform in [-1, 1]
    away_from_zero,  // |x| in [0.1, 1]: no value within a finite-difference step of ReLU's kink
    distinct,        // all values at least 0.02 apart: no max-pool window has a near tie
};

inline void fill_input(Tensor& tensor, InputKind kind, Random& random) {
    const std::int64_t size = tensor.size();
    for (std::int64_t i = 0; i < size; ++i) {
        const float magnitude = random.uniform(0.1f, 1.0f);
        switch (kind) {
            case InputKind::smooth:
                tensor[i] = random.uniform(-1.0f, 1.0f);
                break;
            case InputKind::away_from_zero:
                tensor[i] = random.next() % 2 ? magnitude : -magnitude;
                break;
            case InputKind::distinct:
                tensor[i] = 0.02f * static_cast<float>(i - size / 2);
                break;
        }
    }
    if (kind == InputKind::distinct)  // shuffle the evenly spaced values
        for (std::int64_t i = size - 1; i > 0; --i)
            std::swap(tensor[i], tensor[static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(i + 1)))]);
}

}  // namespace convnet::testing
