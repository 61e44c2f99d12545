// Fuzz target: the networks model files describe, built and run: one batch of two images through
// the fast path and the reference layers, for evaluation and for a training step (forward and
// backward). Only networks of at most kLargestValues values (activations and parameters, per
// image) run, so that a run takes milliseconds; planning larger ones is the model target's.
#include "fuzz_support.h"

#include <convnet/nn/network.h>

namespace convnet::fuzz {

namespace {

constexpr std::int64_t kLargestValues = std::int64_t{1} << 18;

void train_step(Network& network, const Tensor& images) {
    const Tensor& logits = network.forward_train(images);
    Tensor grad_logits(logits.shape());
    grad_logits.fill(0.5f);
    network.backward(grad_logits);
}

}  // namespace

void network(std::string_view input) {
    const ModelSpec spec = parse_model(std::string(input), "fuzz.model");
    std::int64_t values = 0;
    for (const LayerPlan& plan : plan_model(spec)) {
        values += plan.output.element_count();
        for (const Parameter& parameter : plan.layer->parameters()) values += parameter.shape.element_count();
    }
    if (values > kLargestValues) return;
    Network network(spec);
    network.initialize(1);
    std::vector<std::int64_t> dims{2};
    dims.insert(dims.end(), spec.input.dims().begin(), spec.input.dims().end());
    Tensor images{Shape(dims)};
    for (std::int64_t i = 0; i < images.size(); ++i) images.data()[i] = static_cast<float>(i % 7 - 3) * 0.25f;
    Tensor logits;
    network.predict(images, logits);
    train_step(network, images);
    network.set_backend("reference");
    network.predict(images, logits);
    train_step(network, images);
}

}  // namespace convnet::fuzz
