// LeakyReLU forward and backward.
#include <convnet/nn/layers/elementwise.h>
#include <convnet/nn/layers/leakyrelu.h>

#include <charconv>

namespace convnet {

std::vector<Attribute> LeakyReLU::attributes() const {
    return {{"negative_slope", options_.negative_slope, "slope", options_.negative_slope == 0.01}};
}

void LeakyReLU::forward(const Tensor& input, Tensor& output) const {  // any shape, elementwise
    const float slope = static_cast<float>(options_.negative_slope);
    map_elementwise(input, output, [slope](float x) { return x > 0.0f ? x : slope * x; });
}

void LeakyReLU::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    const float slope = static_cast<float>(options_.negative_slope);
    map_elementwise(input, grad_output, *grad_input, [slope](float x, float grad) { return x > 0.0f ? grad : slope * grad; });
}

}  // namespace convnet
