// Test support: builds one layer from a model-file line, binds its parameters to a local arena,
// and fills inputs in ways that keep finite differences away from kinks (ReLU at 0, max-pool ties).
#pragma once

#include <convnet/nn/layer.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/network.h>
#include <convnet/core/random.h>

#include <memory>
#include <string>
#include <vector>

namespace convnet::testing {

// A layer built from "conv2d out=3 kernel=3" for an input of `sample` (no batch axis),
// with every parameter and buffer bound to vectors owned here.
struct BoundLayer {
    LayerPlan plan;
    ParameterArena arena;

    Layer& layer() { return *plan.layer; }
};

inline BoundLayer make_layer(const std::string& line, const Shape& sample) {
    const ModelSpec spec = parse_model("input " + sample.to_string() + "\n" + line + "\n", "test");
    std::vector<LayerPlan> plans = plan_model(spec);
    LayerPlan plan = std::move(plans.at(0));
    ParameterArena arena({plan.layer.get()});
    return BoundLayer{std::move(plan), std::move(arena)};
}

// A layer built from a line such as "add" or "concat" for inputs of these shapes (no batch axis),
// each input its own tensor (a model file would need from= and layers to make them): how the
// gradient cases test the joins. Works for one-input layers too.
inline BoundLayer make_layer(const std::string& line, const std::vector<Shape>& samples) {
    const ModelSpec spec = parse_model("input " + samples.at(0).to_string() + "\n" + line + "\n", "test");
    const LayerLine& layer_line = spec.layers.at(0);
    LayerPlan plan{nullptr, "layer", layer_line.line, Shape{}, Shape{}, {}, {}};
    for (const Shape& sample : samples) {
        std::vector<std::int64_t> dims{1};
        dims.insert(dims.end(), sample.dims().begin(), sample.dims().end());
        plan.input_shapes.emplace_back(dims);
        plan.inputs.push_back(kNetworkInput);
    }
    plan.input = plan.input_shapes.front();
    LayerOptions options(layer_line.type, layer_line.options, "test:2");
    options.set_input_shapes(plan.input_shapes);
    plan.layer = find_layer_type(layer_line.type)->create(options, plan.input);
    options.check_all_used();
    plan.output = plan.layer->graph_output_shape(plan.input_shapes);
    ParameterArena arena({plan.layer.get()});
    return BoundLayer{std::move(plan), std::move(arena)};
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
