// GlobalAvgPool2d forward and backward, one (image, channel) plane at a time.
#include <convnet/core/error.h>
#include <convnet/nn/layers/globalavgpool2d.h>

namespace convnet {

Shape GlobalAvgPool2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("globalavgpool2d expects an input (N, C, H, W), got " + input.to_string());
    return Shape{input[0], input[1], 1, 1};
}

void GlobalAvgPool2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, 1, 1)
    output.resize(output_shape(input.shape()));
    const Shape& in = input.shape();
    const std::int64_t planes = in[0] * in[1], plane_size = in[2] * in[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* source = input.data() + p * plane_size;
        double sum = 0.0;  // a 224×224 map has 50176 terms: float would lose digits
        for (std::int64_t i = 0; i < plane_size; ++i) sum += source[i];
        output[p] = static_cast<float>(sum / static_cast<double>(plane_size));
    }
}

void GlobalAvgPool2d::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    const Shape& in = input.shape();
    const std::int64_t planes = in[0] * in[1], plane_size = in[2] * in[3];
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float share = grad_output[p] / static_cast<float>(plane_size);
        float* target = grad_input->data() + p * plane_size;
        for (std::int64_t i = 0; i < plane_size; ++i) target[i] = share;
    }
}

}  // namespace convnet
