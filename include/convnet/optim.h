// Optimisers with PyTorch's exact update rules, over the network's contiguous block of
// trainable values (one loop, no per-parameter bookkeeping).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace convnet {

class Optimizer {
public:
    virtual ~Optimizer() = default;
    // One update of `values` from `gradients` (same length on every call).
    virtual void step(std::span<float> values, std::span<const float> gradients) = 0;
    virtual std::string describe() const = 0;
    double learning_rate() const { return learning_rate_; }
    void set_learning_rate(double rate) { learning_rate_ = rate; }

protected:
    explicit Optimizer(double learning_rate) : learning_rate_(learning_rate) {}
    double learning_rate_;
};

struct AdamOptions {
    double learning_rate = 1e-3;
    double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
    double weight_decay = 0.0;  // L2 added to the gradient, as torch.optim.Adam
};

class Adam : public Optimizer {
public:
    explicit Adam(const AdamOptions& options);
    void step(std::span<float> values, std::span<const float> gradients) override;
    std::string describe() const override;

private:
    AdamOptions options_;
    std::int64_t step_count_ = 0;
    std::vector<float> first_moment_, second_moment_;
};

struct SgdOptions {
    double learning_rate = 0.01;
    double momentum = 0.9;
    double weight_decay = 0.0;
};

class Sgd : public Optimizer {
public:
    explicit Sgd(const SgdOptions& options);
    void step(std::span<float> values, std::span<const float> gradients) override;
    std::string describe() const override;

private:
    SgdOptions options_;
    std::vector<float> velocity_;  // empty until the first step: PyTorch starts it at the gradient
};

// "adam" or "sgd" with a learning rate (and momentum for SGD); throws on any other name.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum);

}  // namespace convnet
