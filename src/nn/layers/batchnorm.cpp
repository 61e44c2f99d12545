// BatchNorm: per-channel statistics in double (repeatable, parallel over channels), forward in
// both modes and the backward of the training-mode normalisation.
#include <convnet/core/error.h>
#include <convnet/nn/layers/batchnorm.h>

#include <algorithm>
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
            {"eps", options_.eps, "eps", options_.eps == 1e-5},
            {"momentum", options_.momentum, "momentum", options_.momentum == 0.1}};
}

std::int64_t BatchNorm::minimum_training_batch(const Shape& input) const { return input.with_batch(1).element_count() == input[1] ? 2 : 1; }

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
    const double scale = param(weight_).value[channel] / std::sqrt(double(param(running_var_).value[channel]) + options_.eps);
    return {scale, param(bias_).value[channel] - param(running_mean_).value[channel] * scale};
}

void BatchNorm::forward_train(const Tensor& input, Tensor& output) {
    output_shape(input.shape());
    const std::int64_t batch = input.shape()[0], channels = options_.channels, plane = plane_size(input.shape());
    std::int64_t count = batch * plane;
    const auto size = static_cast<std::size_t>(channels);
    // Two passes in double: the mean, then the squared deviations from it (Welford's accuracy
    // without its serial dependence).
    std::vector<double> mean(size), variance(size);
#pragma omp parallel for
    for (std::int64_t c = 0; c < channels; ++c) {
        double sum = 0.0, sum_squares = 0.0;
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) sum += in[p];
        }
        const double channel_mean = sum / double(count);
        for (std::int64_t n = 0; n < batch; ++n) {
            const float* in = input.data() + (n * channels + c) * plane;
            for (std::int64_t p = 0; p < plane; ++p) sum_squares += (in[p] - channel_mean) * (in[p] - channel_mean);
        }
        mean[static_cast<std::size_t>(c)] = channel_mean;
        variance[static_cast<std::size_t>(c)] = sum_squares / double(count);  // biased: what normalises the batch
    }
    if (communicator_ != nullptr) synchronise_statistics(mean, variance, count);
    if (count < 2) throw Error(type() + ": training needs more than one value per channel, got input " + input.shape().to_string());
    batch_mean_.assign(size, 0.0f);
    batch_inverse_std_.assign(size, 0.0f);
    batch_count_ = count;
    std::vector<float> scale(size), shift(size);
    for (std::size_t c = 0; c < size; ++c) {
        const double inverse_std = 1.0 / std::sqrt(variance[c] + options_.eps);
        batch_mean_[c] = static_cast<float>(mean[c]);
        batch_inverse_std_[c] = static_cast<float>(inverse_std);
        scale[c] = static_cast<float>(param(weight_).value[c] * inverse_std);
        shift[c] = static_cast<float>(param(bias_).value[c] - mean[c] * scale[c]);
        update_running_statistics(static_cast<std::int64_t>(c), mean[c], variance[c], count);
    }
    record_batch();
    apply(input, output, scale, shift);
}

void BatchNorm::synchronise_statistics(std::vector<double>& mean, std::vector<double>& variance, std::int64_t& count) const {
    // Sums over the ranks of count, count·mean and count·(variance + mean²) (the second moment);
    // the global variance is then E[x²] − mean², in double.
    const std::size_t channels = mean.size();
    std::vector<double> sums(2 * channels + 1);
    for (std::size_t c = 0; c < channels; ++c) {
        sums[c] = double(count) * mean[c];
        sums[channels + c] = double(count) * (variance[c] + mean[c] * mean[c]);
    }
    sums[2 * channels] = double(count);
    communicator_->all_reduce_sum(sums);
    count = static_cast<std::int64_t>(sums[2 * channels]);
    for (std::size_t c = 0; c < channels; ++c) {
        mean[c] = sums[c] / double(count);
        variance[c] = std::max(0.0, sums[channels + c] / double(count) - mean[c] * mean[c]);
    }
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
    const double count = double(batch_count_);
    if (grad_input != nullptr) grad_input->resize(input.shape());
    const auto size = static_cast<std::size_t>(channels);
    // Σdy and Σdy·x̂ per channel: the parameter gradients, and (over every rank's batch when
    // synchronised) what the input gradient subtracts.
    std::vector<double> sums(2 * size);
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
        sums[static_cast<std::size_t>(c)] = grad_sum;
        sums[size + static_cast<std::size_t>(c)] = grad_dot_normalized;
    }
    if (grad_input == nullptr) return;
    if (communicator_ != nullptr) synchronise_gradient_sums(sums);
#pragma omp parallel for
    for (std::int64_t c = 0; c < channels; ++c) {
        const double mean = batch_mean_[static_cast<std::size_t>(c)];
        const double inverse_std = batch_inverse_std_[static_cast<std::size_t>(c)];
        const double grad_sum = sums[static_cast<std::size_t>(c)], grad_dot_normalized = sums[size + static_cast<std::size_t>(c)];
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
