// Conv2d: the shape rule, a fast forward/backward by im2col + GEMM (images in parallel, one GEMM
// per group), and the plain reference loops beside them.
#include <convnet/core/error.h>
#include <convnet/nn/layers/conv2d.h>

#include "../../kernels/gemm.h"

#include <omp.h>
#include <cmath>
#include <vector>

namespace convnet {

namespace {

// Unfolds one image (C, H, W) into columns (C·KH·KW, OH·OW); padding reads as zero.
void im2col(const Conv2dGeometry& g, const float* image, float* columns) {
    for (std::int64_t c = 0; c < g.in_channels; ++c)
        for (std::int64_t kh = 0; kh < g.kernel_height; ++kh)
            for (std::int64_t kw = 0; kw < g.kernel_width; ++kw) {
                float* row = columns + ((c * g.kernel_height + kh) * g.kernel_width + kw) * g.out_pixels();
                for (std::int64_t oh = 0; oh < g.out_height; ++oh) {
                    const std::int64_t ih = oh * g.stride_height - g.padding_height + kh * g.dilation_height;
                    float* out_row = row + oh * g.out_width;
                    if (ih < 0 || ih >= g.in_height) {
                        for (std::int64_t ow = 0; ow < g.out_width; ++ow) out_row[ow] = 0.0f;
                        continue;
                    }
                    const float* in_row = image + (c * g.in_height + ih) * g.in_width;
                    for (std::int64_t ow = 0; ow < g.out_width; ++ow) {
                        const std::int64_t iw = ow * g.stride_width - g.padding_width + kw * g.dilation_width;
                        out_row[ow] = (iw >= 0 && iw < g.in_width) ? in_row[iw] : 0.0f;
                    }
                }
            }
}

// The adjoint of im2col: adds each column entry back onto the pixel it was read from.
void col2im_add(const Conv2dGeometry& g, const float* columns, float* image) {
    for (std::int64_t c = 0; c < g.in_channels; ++c)
        for (std::int64_t kh = 0; kh < g.kernel_height; ++kh)
            for (std::int64_t kw = 0; kw < g.kernel_width; ++kw) {
                const float* row = columns + ((c * g.kernel_height + kh) * g.kernel_width + kw) * g.out_pixels();
                for (std::int64_t oh = 0; oh < g.out_height; ++oh) {
                    const std::int64_t ih = oh * g.stride_height - g.padding_height + kh * g.dilation_height;
                    if (ih < 0 || ih >= g.in_height) continue;
                    float* in_row = image + (c * g.in_height + ih) * g.in_width;
                    const float* col_row = row + oh * g.out_width;
                    for (std::int64_t ow = 0; ow < g.out_width; ++ow) {
                        const std::int64_t iw = ow * g.stride_width - g.padding_width + kw * g.dilation_width;
                        if (iw >= 0 && iw < g.in_width) in_row[iw] += col_row[ow];
                    }
                }
            }
}

// Images [first, last) of a batch split evenly over the threads of a parallel region.
void thread_range(std::int64_t count, std::int64_t& first, std::int64_t& last) {
    const std::int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    first = count * thread / threads;
    last = count * (thread + 1) / threads;
}

}  // namespace

Conv2d::Conv2d(const Conv2dOptions& options) : options_(options) {
    if (options.groups < 1 || options.in_channels % options.groups != 0)
        throw Error("conv2d: in_channels (" + std::to_string(options.in_channels) + ") must be divisible by groups (" +
                    std::to_string(options.groups) + ")");
    if (options.out_channels % options.groups != 0)
        throw Error("conv2d: out_channels (" + std::to_string(options.out_channels) + ") must be divisible by groups (" +
                    std::to_string(options.groups) + ")");
    weight_ =
        declare("weight", Shape{options.out_channels, options.in_channels / options.groups, options.kernel_height, options.kernel_width});
    if (options.bias) bias_ = declare("bias", Shape{options.out_channels});
}

std::vector<Attribute> Conv2d::attributes() const {
    const Conv2dOptions& o = options_;
    return {{"in_channels", o.in_channels, ""},
            {"out_channels", o.out_channels, "out"},
            {"kernel_size", std::pair{o.kernel_height, o.kernel_width}, "kernel"},
            {"stride", std::pair{o.stride_height, o.stride_width}, "stride", o.stride_height == 1 && o.stride_width == 1},
            {"padding", std::pair{o.padding_height, o.padding_width}, "pad", o.padding_height == 0 && o.padding_width == 0},
            {"dilation", std::pair{o.dilation_height, o.dilation_width}, "dilation", o.dilation_height == 1 && o.dilation_width == 1},
            {"groups", o.groups, "groups", o.groups == 1},
            {"bias", o.bias, "bias", o.bias}};
}

Shape Conv2d::output_shape(const Shape& input) const {
    if (input.rank() != 4) throw Error("conv2d expects an input (N, C, H, W), got " + input.to_string());
    if (input[1] != options_.in_channels)
        throw Error("conv2d: input has " + std::to_string(input[1]) + " channels, the layer expects " +
                    std::to_string(options_.in_channels));
    const auto [output_height, output_width] = options_.output_size("conv2d", input[2], input[3]);
    return Shape{input[0], options_.out_channels, output_height, output_width};
}

std::int64_t Conv2d::multiply_adds(const Shape& input) const {
    const Shape output = output_shape(input.with_batch(1));
    const std::string what = "conv2d multiply-adds";
    return checked_multiply(checked_multiply(output.element_count(), options_.in_channels / options_.groups, what),
                            checked_multiply(options_.kernel_height, options_.kernel_width, what), what);
}

void Conv2d::initialize(Random& random) {
    initialize_uniform(random, options_.in_channels / options_.groups * options_.kernel_height * options_.kernel_width, weight(), bias());
}

void Conv2d::forward(const Tensor& input, Tensor& output) const {  // (N, C, H, W) -> (N, O, OH, OW)
    output.resize(output_shape(input.shape()));
    const Conv2dGeometry g = Conv2dGeometry::of(options_, options_.groups, input.shape(), output.shape());
    const float* weight = param(weight_).value;
    const float* bias = bias_ >= 0 ? param(bias_).value : nullptr;
    // Each thread's im2col buffer, allocated here: an exception must not leave a parallel region.
    const int threads = omp_get_max_threads();
    const std::int64_t column_size = checked_multiply(g.patch_size(), g.out_pixels(), "conv2d im2col buffer");
    std::vector<float> all_columns(static_cast<std::size_t>(checked_multiply(threads, column_size, "conv2d im2col buffers")));
#pragma omp parallel num_threads(threads)
    {
        float* columns = all_columns.data() + omp_get_thread_num() * column_size;
        std::int64_t first = 0, last = 0;
        thread_range(g.batch, first, last);
        for (std::int64_t n = first; n < last; ++n) {
            float* out = output.data() + n * g.out_image();
            im2col(g, input.data() + n * g.in_image(), columns);
            for (std::int64_t group = 0; group < g.groups; ++group)
                kernels::gemm(false, false, g.group_out_channels(), g.out_pixels(), g.group_patch_size(), 1.0f,
                              weight + group * g.group_out_channels() * g.group_patch_size(), g.group_patch_size(),
                              columns + group * g.group_patch_size() * g.out_pixels(), g.out_pixels(), 0.0f,
                              out + group * g.group_out_channels() * g.out_pixels(), g.out_pixels());
            if (bias != nullptr)
                for (std::int64_t o = 0; o < g.out_channels; ++o)
                    for (std::int64_t p = 0; p < g.out_pixels(); ++p) out[o * g.out_pixels() + p] += bias[o];
        }
    }
}

void Conv2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) {
    const Conv2dGeometry g = Conv2dGeometry::of(options_, options_.groups, input.shape(), output.shape());
    const std::int64_t weight_size = g.out_channels * g.group_patch_size();
    if (grad_input != nullptr) {
        grad_input->resize(input.shape());
        grad_input->fill(0.0f);
    }
    const int threads = omp_get_max_threads();
    // One partial weight gradient per thread, summed in thread order: repeatable for a thread count.
    std::vector<float> partial_weight_grads(static_cast<std::size_t>(threads * weight_size), 0.0f);
    const std::int64_t column_size = checked_multiply(g.patch_size(), g.out_pixels(), "conv2d im2col buffer");
    std::vector<float> all_columns(static_cast<std::size_t>(checked_multiply(threads, column_size, "conv2d im2col buffers")));
    const float* weight = param(weight_).value;
#pragma omp parallel num_threads(threads)
    {
        float* columns = all_columns.data() + omp_get_thread_num() * column_size;
        float* weight_grad = partial_weight_grads.data() + omp_get_thread_num() * weight_size;
        std::int64_t first = 0, last = 0;
        thread_range(g.batch, first, last);
        for (std::int64_t n = first; n < last; ++n) {
            const float* grad_out = grad_output.data() + n * g.out_image();
            im2col(g, input.data() + n * g.in_image(), columns);
            for (std::int64_t group = 0; group < g.groups; ++group) {
                const float* group_grad_out = grad_out + group * g.group_out_channels() * g.out_pixels();
                float* group_columns = columns + group * g.group_patch_size() * g.out_pixels();
                const std::int64_t weight_offset = group * g.group_out_channels() * g.group_patch_size();
                kernels::gemm(false, true, g.group_out_channels(), g.group_patch_size(), g.out_pixels(), 1.0f, group_grad_out,
                              g.out_pixels(), group_columns, g.out_pixels(), 1.0f, weight_grad + weight_offset, g.group_patch_size());
                // Overwrites this group's columns with their gradient: the weight GEMM above was
                // their last reader, and the other groups' rows are untouched.
                if (grad_input != nullptr)
                    kernels::gemm(true, false, g.group_patch_size(), g.out_pixels(), g.group_out_channels(), 1.0f, weight + weight_offset,
                                  g.group_patch_size(), group_grad_out, g.out_pixels(), 0.0f, group_columns, g.out_pixels());
            }
            if (grad_input != nullptr) col2im_add(g, columns, grad_input->data() + n * g.in_image());
        }
    }
    float* weight_grad = param(weight_).grad;
    for (std::int64_t i = 0; i < weight_size; ++i) {
        float sum = 0.0f;
        for (int t = 0; t < threads; ++t) sum += partial_weight_grads[static_cast<std::size_t>(t * weight_size + i)];
        weight_grad[i] = sum;
    }
    if (bias_ >= 0) {
        float* bias_grad = param(bias_).grad;
#pragma omp parallel for
        for (std::int64_t o = 0; o < g.out_channels; ++o) {
            double sum = 0.0;
            for (std::int64_t n = 0; n < g.batch; ++n) {
                const float* plane = grad_output.data() + n * g.out_image() + o * g.out_pixels();
                for (std::int64_t p = 0; p < g.out_pixels(); ++p) sum += plane[p];
            }
            bias_grad[o] = static_cast<float>(sum);
        }
    }
}

namespace {
// Calls tap(output_index, input_index, weight_index) for every pair of an output value and a
// kernel position that reads the input (padding contributes nothing), output by output in NCHW
// order and, within one output, channel, row, column: the definition of the convolution.
template <typename Tap>
void for_each_tap(const Conv2dGeometry& g, const Tap& tap) {
    for (std::int64_t n = 0; n < g.batch; ++n)
        for (std::int64_t o = 0; o < g.out_channels; ++o) {
            const std::int64_t first_channel = o / g.group_out_channels() * g.group_in_channels();
            for (std::int64_t oh = 0; oh < g.out_height; ++oh)
                for (std::int64_t ow = 0; ow < g.out_width; ++ow) {
                    const std::int64_t out_index = ((n * g.out_channels + o) * g.out_height + oh) * g.out_width + ow;
                    for (std::int64_t c = 0; c < g.group_in_channels(); ++c)  // c: within the group
                        for (std::int64_t kh = 0; kh < g.kernel_height; ++kh)
                            for (std::int64_t kw = 0; kw < g.kernel_width; ++kw) {
                                const std::int64_t ih = oh * g.stride_height - g.padding_height + kh * g.dilation_height;
                                const std::int64_t iw = ow * g.stride_width - g.padding_width + kw * g.dilation_width;
                                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                                tap(out_index, ((n * g.in_channels + first_channel + c) * g.in_height + ih) * g.in_width + iw,
                                    ((o * g.group_in_channels() + c) * g.kernel_height + kh) * g.kernel_width + kw);
                            }
                }
        }
}

// Copies double sums into float values.
void store(const std::vector<double>& sums, float* values) {
    for (std::size_t i = 0; i < sums.size(); ++i) values[i] = static_cast<float>(sums[i]);
}
}  // namespace

void Conv2d::forward_reference(const Tensor& input, Tensor& output) const {
    output.resize(output_shape(input.shape()));
    const Conv2dGeometry g = Conv2dGeometry::of(options_, options_.groups, input.shape(), output.shape());
    const float* weight = param(weight_).value;
    std::vector<double> sums(static_cast<std::size_t>(output.size()), 0.0);
    if (bias_ >= 0)
        for (std::size_t i = 0; i < sums.size(); ++i)
            sums[i] = param(bias_).value[static_cast<std::int64_t>(i) / g.out_pixels() % g.out_channels];
    for_each_tap(g, [&](std::int64_t out, std::int64_t in, std::int64_t w) {
        sums[static_cast<std::size_t>(out)] += double(input[in]) * weight[w];
    });
    store(sums, output.data());
}

void Conv2d::backward_reference(const Tensor& input, const Tensor& grad_output, Tensor* grad_input) {
    const Conv2dGeometry g = Conv2dGeometry::of(options_, options_.groups, input.shape(), grad_output.shape());
    const float* weight = param(weight_).value;
    std::vector<double> weight_sum(static_cast<std::size_t>(g.out_channels * g.group_patch_size()), 0.0);
    std::vector<double> input_sum(static_cast<std::size_t>(input.size()), 0.0);
    for_each_tap(g, [&](std::int64_t out, std::int64_t in, std::int64_t w) {
        const double grad = grad_output[out];
        weight_sum[static_cast<std::size_t>(w)] += grad * input[in];
        input_sum[static_cast<std::size_t>(in)] += grad * weight[w];
    });
    store(weight_sum, param(weight_).grad);
    if (bias_ >= 0) {
        std::vector<double> bias_sum(static_cast<std::size_t>(g.out_channels), 0.0);
        for (std::int64_t i = 0; i < grad_output.size(); ++i)
            bias_sum[static_cast<std::size_t>(i / g.out_pixels() % g.out_channels)] += grad_output[i];
        store(bias_sum, param(bias_).grad);
    }
    if (grad_input != nullptr) {
        grad_input->resize(input.shape());
        store(input_sum, grad_input->data());
    }
}

}  // namespace convnet
