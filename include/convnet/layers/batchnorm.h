// Batch normalisation over the channel axis, as torch.nn.BatchNorm2d (input (N, C, H, W)) and
// BatchNorm1d (input (N, C)): batch statistics in training, running statistics in evaluation,
// momentum 0.1, eps 1e-5; parameters weight, bias; buffers running_mean, running_var.
#pragma once

#include <convnet/layer.h>

#include <vector>

namespace convnet {

struct BatchNormOptions {
    std::int64_t channels = 1;
    int input_rank = 4;  // 4 for BatchNorm2d, 2 for BatchNorm1d
    double momentum = 0.1;
    double epsilon = 1e-5;
};

class BatchNorm : public Layer {
public:
    explicit BatchNorm(const BatchNormOptions& options);

    std::string type() const override { return options_.input_rank == 4 ? "batchnorm2d" : "batchnorm1d"; }
    std::string options_text() const override;
    Shape output_shape(const Shape& input) const override;  // unchanged
    void forward(const Tensor& input, Tensor& output) const override;
    void forward_train(const Tensor& input, Tensor& output) override;
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    void initialize(Random& random) override;
    std::int64_t multiply_adds(const Shape& input) const override { return input.with_batch(1).element_count(); }
    const BatchNormOptions& options() const { return options_; }

private:
    // Applies y = x·scale[c] + shift[c] to every element of channel c.
    void apply(const Tensor& input, Tensor& output, const std::vector<float>& scale, const std::vector<float>& shift) const;

    BatchNormOptions options_;
    int weight_ = -1, bias_ = -1, running_mean_ = -1, running_var_ = -1;
    // The batch statistics of the last forward_train, kept for backward.
    std::vector<float> batch_mean_, batch_inverse_std_;
};

}  // namespace convnet
