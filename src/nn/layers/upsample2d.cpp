// Upsample2d: nearest and bilinear (align_corners=False) forward and backward, one (image,
// channel) plane at a time, with the source positions and weights worked out once per axis.
#include <convnet/core/error.h>
#include <convnet/nn/layers/upsample2d.h>

#include <algorithm>

namespace convnet {

namespace {

// Where output position o along an axis reads: input positions first and second (equal at the
// border) with weights 1 − lambda and lambda.
struct Tap {
    std::int64_t first, second;
    float lambda;
};

// PyTorch's area_pixel_compute_source_index with align_corners=False: src = (o + 0.5)/s − 0.5,
// negative taken as 0; nearest reads floor(o / s), which for whole factors is o / s.
std::vector<Tap> axis_taps(std::int64_t input, std::int64_t scale, bool bilinear) {
    std::vector<Tap> taps(static_cast<std::size_t>(input * scale));
    const float inverse = 1.0f / static_cast<float>(scale);
    for (std::int64_t o = 0; o < input * scale; ++o) {
        if (!bilinear) {
            taps[static_cast<std::size_t>(o)] = {o / scale, o / scale, 0.0f};
            continue;
        }
        const float source = std::max(inverse * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
        const auto first = static_cast<std::int64_t>(source);
        const std::int64_t second = first < input - 1 ? first + 1 : first;
        taps[static_cast<std::size_t>(o)] = {first, second, source - static_cast<float>(first)};
    }
    return taps;
}

}  // namespace

Upsample2d::Upsample2d(const Upsample2dOptions& options) : options_(options) {
    if (options.scale_height < 1 || options.scale_width < 1)
        throw Error("upsample2d: scale " + pair_text(options.scale_height, options.scale_width) + " should be at least 1");
}

std::vector<Attribute> Upsample2d::attributes() const {
    return {{"scale_factor", std::pair{options_.scale_height, options_.scale_width}, "scale"},
            {"mode", std::string(options_.bilinear ? "bilinear" : "nearest"), "mode", !options_.bilinear},
            {"align_corners", false, "", true}};
}

Shape Upsample2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("upsample2d expects an input (N, C, H, W), got " + input.to_string());
    return Shape{input[0], input[1], checked_multiply(input[2], options_.scale_height, "upsample2d height"),
                 checked_multiply(input[3], options_.scale_width, "upsample2d width")};
}

std::string Upsample2d::output_size_formula(const Shape& input, const Shape& output) const {
    return per_axis_formula(std::to_string(input[2]) + "·" + std::to_string(options_.scale_height) + " = " + std::to_string(output[2]),
                            std::to_string(input[3]) + "·" + std::to_string(options_.scale_width) + " = " + std::to_string(output[3]));
}

std::int64_t Upsample2d::multiply_adds(const Shape& input) const {
    return options_.bilinear ? checked_multiply(output_shape(input.with_batch(1)).element_count(), 4, "upsample2d multiply-adds") : 0;
}

void Upsample2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, C, H·sh, W·sw)
    output.resize(output_shape(input.shape()));
    const Shape& in = input.shape();
    const std::int64_t planes = in[0] * in[1], height = in[2], width = in[3];
    const std::vector<Tap> rows = axis_taps(height, options_.scale_height, options_.bilinear);
    const std::vector<Tap> columns = axis_taps(width, options_.scale_width, options_.bilinear);
    const auto output_height = static_cast<std::int64_t>(rows.size()), output_width = static_cast<std::int64_t>(columns.size());
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* plane = input.data() + p * height * width;
        float* target = output.data() + p * output_height * output_width;
        for (std::int64_t oh = 0; oh < output_height; ++oh) {
            const Tap& row = rows[static_cast<std::size_t>(oh)];
            const float* upper = plane + row.first * width;
            const float* lower = plane + row.second * width;
            for (std::int64_t ow = 0; ow < output_width; ++ow) {
                const Tap& column = columns[static_cast<std::size_t>(ow)];
                if (!options_.bilinear) {  // a copy: no 0·x terms, which would turn an infinity into NaN
                    target[oh * output_width + ow] = upper[column.first];
                    continue;
                }
                const float top = (1.0f - column.lambda) * upper[column.first] + column.lambda * upper[column.second];
                const float bottom = (1.0f - column.lambda) * lower[column.first] + column.lambda * lower[column.second];
                target[oh * output_width + ow] = (1.0f - row.lambda) * top + row.lambda * bottom;
            }
        }
    }
}

void Upsample2d::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    if (grad_input == nullptr) return;
    grad_input->resize(input.shape());
    grad_input->fill(0.0f);
    const Shape& in = input.shape();
    const std::int64_t planes = in[0] * in[1], height = in[2], width = in[3];
    const std::vector<Tap> rows = axis_taps(height, options_.scale_height, options_.bilinear);
    const std::vector<Tap> columns = axis_taps(width, options_.scale_width, options_.bilinear);
    const auto output_height = static_cast<std::int64_t>(rows.size()), output_width = static_cast<std::int64_t>(columns.size());
#pragma omp parallel for
    for (std::int64_t p = 0; p < planes; ++p) {
        const float* gradient = grad_output.data() + p * output_height * output_width;
        float* plane = grad_input->data() + p * height * width;
        for (std::int64_t oh = 0; oh < output_height; ++oh) {
            const Tap& row = rows[static_cast<std::size_t>(oh)];
            for (std::int64_t ow = 0; ow < output_width; ++ow) {
                const Tap& column = columns[static_cast<std::size_t>(ow)];
                const float g = gradient[oh * output_width + ow];
                if (!options_.bilinear) {
                    plane[row.first * width + column.first] += g;
                    continue;
                }
                plane[row.first * width + column.first] += (1.0f - row.lambda) * (1.0f - column.lambda) * g;
                plane[row.first * width + column.second] += (1.0f - row.lambda) * column.lambda * g;
                plane[row.second * width + column.first] += row.lambda * (1.0f - column.lambda) * g;
                plane[row.second * width + column.second] += row.lambda * column.lambda * g;
            }
        }
    }
}

}  // namespace convnet
