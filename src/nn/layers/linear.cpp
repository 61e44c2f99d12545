// Linear: one GEMM each for forward, the weight gradient and the input gradient.
#include <convnet/core/error.h>
#include <convnet/nn/layers/linear.h>

#include "../../kernels/gemm.h"

#include <cmath>

namespace convnet {

Linear::Linear(const LinearOptions& options) : options_(options) {
    weight_ = declare("weight", Shape{options.out_features, options.in_features});
    if (options.bias) bias_ = declare("bias", Shape{options.out_features});
}

std::vector<Attribute> Linear::attributes() const {
    return {{"in_features", options_.in_features, ""},
            {"out_features", options_.out_features, "out"},
            {"bias", options_.bias, "bias", options_.bias}};
}

Shape Linear::output_shape(const Shape& input) const {
    if (input.rank() != 2)
        throw Error("linear expects an input (N, features), got " + input.to_string() + "; put a flatten layer before it");
    if (input[1] != options_.in_features)
        throw Error("linear: " + std::to_string(input[1]) + " features flow in, the layer expects " + std::to_string(options_.in_features) +
                    " (in=" + std::to_string(input[1]) + " would fit)");
    return Shape{input[0], options_.out_features};
}

void Linear::initialize(Random& random) { initialize_uniform(random, options_.in_features, weight(), bias()); }

void Linear::forward(const Tensor& input, Tensor& output) const {
    output.resize(output_shape(input.shape()));
    const std::int64_t batch = input.shape()[0], in = options_.in_features, out = options_.out_features;
    if (bias_ >= 0)
        for (std::int64_t n = 0; n < batch; ++n) std::copy(param(bias_).value, param(bias_).value + out, output.data() + n * out);
    kernels::gemm(false, true, batch, out, in, 1.0f, input.data(), in, param(weight_).value, in, bias_ >= 0 ? 1.0f : 0.0f, output.data(),
                  out);
}

void Linear::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    const std::int64_t batch = input.shape()[0], in = options_.in_features, out = options_.out_features;
    kernels::gemm(true, false, out, in, batch, 1.0f, grad_output.data(), out, input.data(), in, 0.0f, param(weight_).grad, in);
    if (bias_ >= 0)
        for (std::int64_t o = 0; o < out; ++o) {
            double sum = 0.0;
            for (std::int64_t n = 0; n < batch; ++n) sum += grad_output[n * out + o];
            param(bias_).grad[o] = static_cast<float>(sum);
        }
    if (grad_input != nullptr) {
        grad_input->resize(input.shape());
        kernels::gemm(false, false, batch, in, out, 1.0f, grad_output.data(), out, param(weight_).value, in, 0.0f, grad_input->data(), in);
    }
}

}  // namespace convnet
