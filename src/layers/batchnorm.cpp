// BatchNorm: per-channel statistics in double (repeatable, parallel over channels), forward in
// both modes and the backward of the training-mode normalisation.
#include <convnet/error.h>
#include <convnet/layers/batchnorm.h>

#include <cmath>
#include <sstream>

namespace convnet {

namespace {
// Elements per channel per image: H·W for 2-D, 1 for 1-D.
std::int64_t plane_size(const Shape& shape) { return shape.element_count() / (shape[0] * shape[1]); }
}  // namespace

BatchNorm::BatchNorm(const BatchNormOptions& options) : options_(options) {
    weight_ = declare("weight", Shape{options.channels});
    bias_ = declare("bias", Shape{options.channels});
    running_mean_ = declare("running_mean", Shape{options.channels}, ParameterRole::buffer);
    running_var_ = declare("running_var", Shape{options.channels}, ParameterRole::buffer);
}

std::vector<Attribute> BatchNorm::attributes() const {
    return {{"num_features", options_.channels, ""},
            {"eps", options_.epsilon, "eps", options_.epsilon == 1e-5},
            {"momentum", options_.momentum, "momentum", options_.momentum == 0.1}};
}

Shape BatchNorm::output_shape(const Shape& input) const {
    if (input.rank() != options_.input_rank)
        throw Error(type() + " expects an input of rank " + std::to_string(options_.input_rank) + ", got " + input.to_string() +
                    (options_.input_rank == 4 ? " (use batchnorm1d after linear)" : ""));
    if (input[1] != options_.channels)
        throw Error(type() + ": input has " + std::to_string(input[1]) + " channels, the layer expects " +
                    std::to_string(options_.channels));
    return input;
}

void BatchNorm::initialize(Random&) {
    for (std::int64_t c = 0; c < options_.channels; ++c) {
        param(weight_).value[c] = 1.0f;
        param(bias_).value[c] = 0.0f;
        param(running_mean_).value[c] = 0.0f;
        param(running_var_).value[c] = 1.0f;
    }
    num_batches_tracked_ = 0;
}

void BatchNorm::apply(const Tensor& input, Tensor& output, const std::vector<float>& scale, const std::vector<float>& shift) const {
    output.resize(input.shape());
    const std::int64_t batch = input.shape()[0], channels = options_.channels, plane = plane_size(input.shape());
#pragma omp parallel for collapse(2)
    for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t c = 0; c < channels; ++c) {
            const float* in = input.data() + (n * channels + c) * plane;
            float* out = output.data() + (n * channels + c) * plane;
            const float a = scale[static_cast<std::size_t>(c)], b = shift[static_cast<std::size_t>(c)];
            for (std::int64_t p = 0; p < plane; ++p) out[p] = in[p] * a + b;
        }
}

void BatchNorm::forward(const Tensor& input, Tensor& output) const {
    output_shape(input.shape());
    const auto channels = static_cast<std::size_t>(options_.channels);
    std::vector<float> scale(channels), shift(channels);
    for (std::size_t c = 0; c < channels; ++c) {
        const auto [channel_scale, channel_shift] = evaluation_scale_shift(static_cast<std::int64_t>(c));
        scale[c] = static_cast<float>(channel_scale);
        shift[c] = static_cast<float>(channel_shift);
    }
    apply(input, output, scale, shift);
}

std::pair<double, double> BatchNorm::evaluation_scale_shift(std::int64_t channel) const {
    const double scale = param(weight_).value[channel] / std::sqrt(double(param(running_var_).value[channel]) + options_.epsilon);
    return {scale, param(bias_).value[channel] - param(running_mean_).value[channel] * scale};
}

void BatchNorm::forward_train(const Tensor& input, Tensor& output) {
    output_shape(input.shape());
    const std::int64_t batch = input.shape()[0], channels = options_.channels, plane = plane_size(input.shape());
    const std::int64_t count = batch * plane;
    if (count < 2) throw Error(type() + ": training needs more than one value per channel, got input " + input.shape().to_string());
    batch_mean_.assign(static_cast<std::size_t>(channels), 0.0f);
    batch_inverse_std_.assign(static_cast<std::size_t>(channels), 0.0f);
    std::vector<float> scale(static_cast<std::size_t>(channels)), shift(static_cast<std::size_t>(channels));
#pragma omp parallel for
    for (std::int64_t c = 0; c < channels; ++c) {
        double sum = 0.0, sum_squares = 0.0;
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) sum += in[p];
        }
        const double mean = sum / double(count);
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) sum_squares += (in[p] - mean) * (in[p] - mean);
        }
        const double variance = sum_squares / double(count);  // biased: what normalises the batch
        const double inverse_std = 1.0 / std::sqrt(variance + options_.epsilon);
        const auto i = static_cast<std::size_t>(c);
        batch_mean_[i] = static_cast<float>(mean);
        batch_inverse_std_[i] = static_cast<float>(inverse_std);
        scale[i] = static_cast<float>(param(weight_).value[c] * inverse_std);
        shift[i] = static_cast<float>(param(bias_).value[c] - mean * scale[i]);
        update_running_statistics(c, mean, variance, count);
    }
    record_batch();
    apply(input, output, scale, shift);
}

void BatchNorm::update_running_statistics(std::int64_t channel, double mean, double biased_variance, std::int64_t count) {
    const double momentum = options_.momentum;
    float& running_mean = param(running_mean_).value[channel];
    float& running_var = param(running_var_).value[channel];
    running_mean = static_cast<float>((1.0 - momentum) * running_mean + momentum * mean);
    running_var = static_cast<float>((1.0 - momentum) * running_var + momentum * biased_variance * double(count) / double(count - 1));
}

void BatchNorm::backward(const Tensor& input, const Tensor&, const Tensor& grad_output, Tensor* grad_input) {
    const std::int64_t batch = input.shape()[0], channels = options_.channels, plane = plane_size(input.shape());
    const double count = double(batch * plane);
    if (grad_input != nullptr) grad_input->resize(input.shape());
#pragma omp parallel for
    for (std::int64_t c = 0; c < channels; ++c) {
        const double mean = batch_mean_[static_cast<std::size_t>(c)];
        const double inverse_std = batch_inverse_std_[static_cast<std::size_t>(c)];
        double grad_sum = 0.0, grad_dot_normalized = 0.0;
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            const float* grad = grad_output.data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) {
                grad_sum += grad[p];
                grad_dot_normalized += grad[p] * (in[p] - mean) * inverse_std;
            }
        }
        param(weight_).grad[c] = static_cast<float>(grad_dot_normalized);
        param(bias_).grad[c] = static_cast<float>(grad_sum);
        if (grad_input == nullptr) continue;
        // dx = w·istd/M · (M·dy − Σdy − x̂·Σ(dy·x̂))
        const double factor = param(weight_).value[c] * inverse_std / count;
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            const float* grad = grad_output.data() + (n * channels + c) * plane;
            float* out = grad_input->data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) {
                const double normalized = (in[p] - mean) * inverse_std;
                out[p] = static_cast<float>(factor * (count * grad[p] - grad_sum - normalized * grad_dot_normalized));
            }
        }
    }
}

}  // namespace convnet
