// Batch normalisation over the channel axis, as torch.nn.BatchNorm2d (input (N, C, H, W)) and
// BatchNorm1d (input (N, C)): batch statistics in training, running statistics in evaluation,
// momentum 0.1, eps 1e-5; parameters weight, bias; buffers running_mean, running_var.
#pragma once

#include <convnet/core/distributed.h>
#include <convnet/nn/layer.h>

#include <utility>
#include <vector>

namespace convnet {

struct BatchNormOptions {
    std::int64_t channels = 1;
    int input_rank = 4;  // 4 for BatchNorm2d, 2 for BatchNorm1d
    double momentum = 0.1;
    double eps = 1e-5;
};

class BatchNorm : public Layer {
public:
    explicit BatchNorm(const BatchNormOptions& options);

    std::string type() const override { return options_.input_rank == 4 ? "batchnorm2d" : "batchnorm1d"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override;  // unchanged
    void forward(const Tensor& input, Tensor& output) const override;
    void forward_train(const Tensor& input, Tensor& output) override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    void initialize(Random& random) override;
    std::int64_t multiply_adds(const Shape& input) const override { return input.with_batch(1).element_count(); }
    // 2 where an image gives one value per channel ((N, C) or (N, C, 1, 1)), else 1.
    std::int64_t minimum_training_batch(const Shape& input) const override;
    const BatchNormOptions& options() const { return options_; }
    std::vector<IntegerBuffer> integer_buffers() override { return {{"num_batches_tracked", &num_batches_tracked_}}; }

    // The parameters by name (PyTorch's): gamma and beta, and the running statistics.
    Parameter& weight() { return param(weight_); }
    Parameter& bias() { return param(bias_); }
    Parameter& running_mean() { return param(running_mean_); }
    Parameter& running_var() { return param(running_var_); }
    const Parameter& weight() const { return param(weight_); }
    const Parameter& bias() const { return param(bias_); }
    const Parameter& running_mean() const { return param(running_mean_); }
    const Parameter& running_var() const { return param(running_var_); }

    // Evaluation's y = scale·x + shift for `channel`: scale = weight/√(running_var + eps),
    // shift = bias − running_mean·scale. The one definition; the fast path folds it into the
    // convolution before it.
    std::pair<double, double> evaluation_scale_shift(std::int64_t channel) const;
    std::int64_t num_batches_tracked() const { return num_batches_tracked_; }

    // PyTorch's update after a training batch whose channel `channel` had this mean and biased
    // variance over `count` values: running = (1 − momentum)·running + momentum·batch, with the
    // unbiased variance (count / (count − 1)). The one definition, used by the fast path too.
    void update_running_statistics(std::int64_t channel, double mean, double biased_variance, std::int64_t count);
    // Counts a training batch, as torch.nn.BatchNorm2d's num_batches_tracked.
    void record_batch() { ++num_batches_tracked_; }

    // Synchronised batch norm (as torch.nn.SyncBatchNorm): training's batch statistics over the
    // batches of every rank of `communicator` (each rank's forward_train and backward then make
    // collective calls); null: this process's batch alone. The parameter gradients stay each
    // rank's own part, to be summed with the rest of the gradients.
    void set_communicator(Communicator* communicator) { communicator_ = communicator; }
    Communicator* communicator() const { return communicator_; }

    // Global per-channel statistics from each rank's own (count values per channel, their mean
    // and biased variance, in place): what every rank then normalises with. One all-reduce.
    // `count` becomes the global count.
    void synchronise_statistics(std::vector<double>& mean, std::vector<double>& variance, std::int64_t& count) const;
    // The sums backward's input gradient needs over every rank's batch: `sums` holds this rank's
    // Σdy per channel, then Σdy·x̂ per channel; one all-reduce makes them global, in place.
    void synchronise_gradient_sums(std::span<double> sums) const { communicator_->all_reduce_sum(sums); }

private:
    // Applies y = x·scale[c] + shift[c] to every element of channel c.
    void apply(const Tensor& input, Tensor& output, const std::vector<float>& scale, const std::vector<float>& shift) const;

    BatchNormOptions options_;
    int weight_ = -1, bias_ = -1, running_mean_ = -1, running_var_ = -1;
    std::int64_t num_batches_tracked_ = 0;
    Communicator* communicator_ = nullptr;
    // The batch statistics of the last forward_train, kept for backward.
    std::vector<float> batch_mean_, batch_inverse_std_;
    std::int64_t batch_count_ = 0;  // values per channel they were taken over, every rank's when synchronised
};

}  // namespace convnet
