// Adam and SGD, written to match torch.optim's arithmetic step for step.
#include <convnet/error.h>
#include <convnet/optim.h>

#include <cmath>
#include <sstream>

namespace convnet {

Adam::Adam(const AdamOptions& options) : Optimizer(options.learning_rate), options_(options) {}

void Adam::step(std::span<float> values, std::span<const float> gradients) {
    if (first_moment_.empty()) {
        first_moment_.assign(values.size(), 0.0f);
        second_moment_.assign(values.size(), 0.0f);
    }
    ++step_count_;
    const float beta1 = static_cast<float>(options_.beta1), beta2 = static_cast<float>(options_.beta2);
    const double correction1 = 1.0 - std::pow(options_.beta1, double(step_count_));
    const double correction2 = 1.0 - std::pow(options_.beta2, double(step_count_));
    const float step_size = static_cast<float>(learning_rate_ / correction1);
    const float correction2_sqrt = static_cast<float>(std::sqrt(correction2));
    const float epsilon = static_cast<float>(options_.epsilon), decay = static_cast<float>(options_.weight_decay);
    const std::int64_t size = static_cast<std::int64_t>(values.size());
    float* m = first_moment_.data();
    float* v = second_moment_.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) {
        const float grad = gradients[i] + decay * values[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * grad;
        v[i] = beta2 * v[i] + (1.0f - beta2) * grad * grad;
        values[i] -= step_size * m[i] / (std::sqrt(v[i]) / correction2_sqrt + epsilon);
    }
}

std::string Adam::describe() const {
    std::ostringstream text;
    text << "adam lr=" << learning_rate_ << " betas=(" << options_.beta1 << ", " << options_.beta2 << ") eps=" << options_.epsilon;
    return text.str();
}

Sgd::Sgd(const SgdOptions& options) : Optimizer(options.learning_rate), options_(options) {}

void Sgd::step(std::span<float> values, std::span<const float> gradients) {
    const float rate = static_cast<float>(learning_rate_), momentum = static_cast<float>(options_.momentum);
    const float decay = static_cast<float>(options_.weight_decay);
    const std::int64_t size = static_cast<std::int64_t>(values.size());
    const bool first_step = velocity_.empty();
    if (momentum != 0.0f && first_step) velocity_.assign(values.size(), 0.0f);
    float* velocity = velocity_.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) {
        float grad = gradients[i] + decay * values[i];
        if (momentum != 0.0f) {
            velocity[i] = first_step ? grad : momentum * velocity[i] + grad;
            grad = velocity[i];
        }
        values[i] -= rate * grad;
    }
}

std::string Sgd::describe() const {
    std::ostringstream text;
    text << "sgd lr=" << learning_rate_ << " momentum=" << options_.momentum;
    return text.str();
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum) {
    if (!(learning_rate > 0.0) || !std::isfinite(learning_rate))
        throw Error("learning rate " + std::to_string(learning_rate) + ": expected a positive number");
    if (name == "adam") return std::make_unique<Adam>(AdamOptions{learning_rate});
    if (name == "sgd") return std::make_unique<Sgd>(SgdOptions{learning_rate, momentum});
    throw Error("unknown optimiser '" + name + "' (expected adam or sgd)");
}

}  // namespace convnet
