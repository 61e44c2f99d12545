// SGD, Adam and AdamW, written to match torch.optim's arithmetic step for step (torch 1.13's
// single-tensor path, in float32 with the scalar factors computed in double as Python does); and
// the closed forms of StepLR and CosineAnnealingLR.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/train/optim.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <numbers>
#include <sstream>
#include <string_view>

namespace convnet {

Adam::Adam(const AdamOptions& options) : Optimizer(options.learning_rate), options_(options) {}

void Adam::step(std::span<float> values, std::span<const float> gradients) {
    if (gradients.size() != values.size())
        throw Error("adam: " + std::to_string(gradients.size()) + " gradients for " + std::to_string(values.size()) + " values");
    if (first_moment_.empty()) {
        first_moment_.assign(values.size(), 0.0f);
        second_moment_.assign(values.size(), 0.0f);
    }
    if (first_moment_.size() != values.size())
        throw Error("adam: the parameter count changed from " + std::to_string(first_moment_.size()) + " to " +
                    std::to_string(values.size()));
    ++step_count_;
    const float beta1 = static_cast<float>(options_.beta1), beta2 = static_cast<float>(options_.beta2);
    const float one_minus_beta1 = static_cast<float>(1.0 - options_.beta1), one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
    const double correction1 = 1.0 - std::pow(options_.beta1, double(step_count_));
    const double correction2 = 1.0 - std::pow(options_.beta2, double(step_count_));
    const float step_size = static_cast<float>(learning_rate_ / correction1);
    const float correction2_sqrt = static_cast<float>(std::sqrt(correction2));
    const float epsilon = static_cast<float>(options_.eps);
    // Adam folds the decay into the gradient (L2); AdamW shrinks the values first, apart from the
    // moments, so that the decay is not rescaled by the adaptive denominator.
    const float l2_decay = options_.decoupled_weight_decay ? 0.0f : static_cast<float>(options_.weight_decay);
    const float shrink = options_.decoupled_weight_decay ? static_cast<float>(1.0 - learning_rate_ * options_.weight_decay) : 1.0f;
    const std::int64_t size = static_cast<std::int64_t>(values.size());
    float* m = first_moment_.data();
    float* v = second_moment_.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) {
        const float grad = gradients[i] + l2_decay * values[i];
        const float value = values[i] * shrink;
        m[i] = beta1 * m[i] + one_minus_beta1 * grad;
        v[i] = beta2 * v[i] + one_minus_beta2 * (grad * grad);
        values[i] = value - step_size * (m[i] / (std::sqrt(v[i]) / correction2_sqrt + epsilon));
    }
}

std::string Adam::describe() const {
    std::ostringstream text;
    text << (options_.decoupled_weight_decay ? "adamw" : "adam") << " lr=" << learning_rate_ << " betas=(" << options_.beta1 << ", "
         << options_.beta2 << ") eps=" << options_.eps << " weight_decay=" << options_.weight_decay;
    return text.str();
}

OptimizerOptions Adam::options() const {
    OptimizerOptions options;
    options.name = options_.decoupled_weight_decay ? "adamw" : "adam";
    options.learning_rate = learning_rate_;
    options.weight_decay = options_.weight_decay;
    options.beta1 = options_.beta1;
    options.beta2 = options_.beta2;
    options.eps = options_.eps;
    return options;
}

SGD::SGD(const SGDOptions& options) : Optimizer(options.learning_rate), options_(options) {
    if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0))
        throw Error("sgd: Nesterov momentum requires a momentum > 0 and zero dampening (as torch.optim.SGD)");
}

namespace {

// The buffers of `state` this optimiser knows, checked for names and lengths.
void check_state_buffers(const char* optimizer, const OptimizerState& state, std::initializer_list<const char*> known) {
    std::size_t length = 0;
    for (const auto& [name, values] : state.buffers) {
        // std::find, not a lambda: clang before 16 cannot capture a structured binding.
        if (std::find(known.begin(), known.end(), std::string_view(name)) == known.end())
            throw Error(std::string(optimizer) + " state: no buffer '" + name + "' here");
        if (length != 0 && values.size() != length)
            throw Error(std::string(optimizer) + " state: buffers of " + std::to_string(length) + " and " + std::to_string(values.size()) +
                        " values");
        length = values.size();
    }
    if (state.step < 0) throw Error(std::string(optimizer) + " state: step " + std::to_string(state.step));
}

std::vector<float> buffer_or_empty(const OptimizerState& state, const char* name) {
    const auto found = state.buffers.find(name);
    return found == state.buffers.end() ? std::vector<float>() : found->second;
}

}  // namespace

OptimizerState Adam::state() const {
    OptimizerState state;
    state.step = step_count_;
    if (!first_moment_.empty()) state.buffers = {{"exp_avg", first_moment_}, {"exp_avg_sq", second_moment_}};
    return state;
}

void Adam::load_state(const OptimizerState& state) {
    check_state_buffers("adam", state, {"exp_avg", "exp_avg_sq"});
    std::vector<float> first = buffer_or_empty(state, "exp_avg"), second = buffer_or_empty(state, "exp_avg_sq");
    if (first.size() != second.size()) throw Error("adam state: exp_avg and exp_avg_sq come together");
    step_count_ = state.step;
    first_moment_ = std::move(first);
    second_moment_ = std::move(second);
}

OptimizerOptions SGD::options() const {
    OptimizerOptions options;
    options.name = "sgd";
    options.learning_rate = learning_rate_;
    options.momentum = options_.momentum;
    options.nesterov = options_.nesterov;
    options.weight_decay = options_.weight_decay;
    options.dampening = options_.dampening;
    return options;
}

OptimizerState SGD::state() const {
    OptimizerState state;
    state.step = step_count_;
    if (!velocity_.empty()) state.buffers = {{"momentum_buffer", velocity_}};
    return state;
}

void SGD::load_state(const OptimizerState& state) {
    check_state_buffers("sgd", state, {"momentum_buffer"});
    step_count_ = state.step;
    velocity_ = buffer_or_empty(state, "momentum_buffer");
}

void SGD::step(std::span<float> values, std::span<const float> gradients) {
    if (gradients.size() != values.size())
        throw Error("sgd: " + std::to_string(gradients.size()) + " gradients for " + std::to_string(values.size()) + " values");
    const float rate = static_cast<float>(learning_rate_), momentum = static_cast<float>(options_.momentum);
    const float decay = static_cast<float>(options_.weight_decay);
    const float undamped = static_cast<float>(1.0 - options_.dampening);
    const bool nesterov = options_.nesterov;
    const std::int64_t size = static_cast<std::int64_t>(values.size());
    ++step_count_;
    const bool first_step = velocity_.empty();
    if (momentum != 0.0f && first_step) velocity_.assign(values.size(), 0.0f);
    if (momentum != 0.0f && velocity_.size() != values.size())
        throw Error("sgd: the parameter count changed from " + std::to_string(velocity_.size()) + " to " + std::to_string(values.size()));
    float* velocity = velocity_.data();
#pragma omp parallel for simd
    for (std::int64_t i = 0; i < size; ++i) {
        float grad = gradients[i] + decay * values[i];
        if (momentum != 0.0f) {
            // PyTorch starts the velocity at the first (undamped) gradient, not at zero.
            velocity[i] = first_step ? grad : momentum * velocity[i] + undamped * grad;
            grad = nesterov ? grad + momentum * velocity[i] : velocity[i];
        }
        values[i] -= rate * grad;
    }
}

std::string SGD::describe() const {
    std::ostringstream text;
    text << "sgd lr=" << learning_rate_ << " momentum=" << options_.momentum << (options_.nesterov ? " nesterov" : "")
         << " weight_decay=" << options_.weight_decay;
    if (options_.dampening != 0.0) text << " dampening=" << options_.dampening;
    return text.str();
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options) {
    // The step computes in float32: a factor past its range would become infinite (and its
    // conversion is undefined behaviour), so each must be one float holds.
    const auto in_float_range = [](double value) { return std::isfinite(value) && std::abs(value) <= double(FLT_MAX); };
    if (!(options.learning_rate > 0.0) || !in_float_range(options.learning_rate))
        throw Error("learning rate " + number_text(options.learning_rate) + ": expected a positive number float32 holds (e.g. 0.001)");
    const double weight_decay = options.weight_decay.value_or(options.name == "adamw" ? 0.01 : 0.0);
    if (!(weight_decay >= 0.0) || !in_float_range(weight_decay))
        throw Error("weight decay " + number_text(weight_decay) + ": expected a number ≥ 0 float32 holds (e.g. 1e-4)");
    if (options.name == "sgd") {
        if (!(options.momentum >= 0.0 && options.momentum < 1.0))
            throw Error("momentum " + number_text(options.momentum) + ": expected a number in [0, 1) (e.g. 0.9)");
        if (!(options.dampening >= 0.0 && options.dampening <= 1.0))
            throw Error("dampening " + number_text(options.dampening) + ": expected a number in [0, 1]");
        if (options.nesterov && options.momentum == 0.0) throw Error("Nesterov momentum needs a momentum > 0 (e.g. 0.9)");
        SGDOptions sgd;
        sgd.learning_rate = options.learning_rate;
        sgd.momentum = options.momentum;
        sgd.weight_decay = weight_decay;
        sgd.nesterov = options.nesterov;
        sgd.dampening = options.dampening;
        return std::make_unique<SGD>(sgd);
    }
    if (options.nesterov) throw Error("Nesterov momentum is an option of sgd, not of " + options.name);
    if (options.name == "adam" || options.name == "adamw") {
        // As torch.optim.Adam's checks.
        for (const double beta : {options.beta1, options.beta2})
            if (!(beta >= 0.0 && beta < 1.0))
                throw Error("betas (" + number_text(options.beta1) + ", " + number_text(options.beta2) +
                            "): expected each in [0, 1) (e.g. 0.9, 0.999)");
        if (!(options.eps >= 0.0) || !in_float_range(options.eps))
            throw Error("epsilon " + number_text(options.eps) + ": expected a number ≥ 0 float32 holds (e.g. 1e-8)");
        AdamOptions adam;
        adam.learning_rate = options.learning_rate;
        adam.weight_decay = weight_decay;
        adam.decoupled_weight_decay = options.name == "adamw";
        adam.beta1 = options.beta1;
        adam.beta2 = options.beta2;
        adam.eps = options.eps;
        return std::make_unique<Adam>(adam);
    }
    throw Error("unknown optimiser '" + options.name + "' (expected adam, adamw or sgd)");
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum) {
    OptimizerOptions options;
    options.name = name;
    options.learning_rate = learning_rate;
    options.momentum = momentum;
    return make_optimizer(options);
}

double LearningRateSchedule::rate(double base_rate, std::int64_t epoch) const {
    if (epoch < 0) throw Error("learning-rate schedule: epoch " + std::to_string(epoch) + ", expected ≥ 0");
    switch (kind) {
        case Kind::constant:
            return base_rate;
        case Kind::step:
            return base_rate * std::pow(gamma, double(epoch / step_size));
        case Kind::cosine:
            return eta_min + (base_rate - eta_min) * (1.0 + std::cos(std::numbers::pi * double(epoch) / double(t_max))) / 2.0;
        case Kind::one_cycle:
            throw Error("learning-rate schedule one_cycle changes every step: ask rate_at_step");
    }
    return base_rate;
}

double LearningRateSchedule::rate_at_step(double base_rate, std::int64_t step, std::int64_t total_steps,
                                          std::int64_t steps_per_epoch) const {
    if (step < 0 || step >= total_steps)
        throw Error("learning-rate schedule: step " + std::to_string(step) + " of " + std::to_string(total_steps) + ", expected 0 to " +
                    std::to_string(total_steps - 1));
    if (kind != Kind::one_cycle) return rate(base_rate, step / std::max<std::int64_t>(steps_per_epoch, 1));
    // torch.optim.lr_scheduler.OneCycleLR's two phases, ending at steps pct_start·total − 1 and total − 1.
    const auto anneal = [](double start, double end, double fraction) {
        return end + (start - end) / 2.0 * (1.0 + std::cos(std::numbers::pi * fraction));
    };
    const double initial = base_rate / 25.0, final_rate = initial / 1e4;
    const double warm_end = pct_start * double(total_steps) - 1.0, last = double(total_steps) - 1.0;
    if (double(step) <= warm_end) return anneal(initial, base_rate, warm_end > 0.0 ? double(step) / warm_end : 1.0);
    return anneal(base_rate, final_rate, (double(step) - warm_end) / std::max(last - warm_end, 1e-300));
}

std::string LearningRateSchedule::describe() const {
    std::ostringstream text;
    switch (kind) {
        case Kind::constant:
            text << "constant";
            break;
        case Kind::step:
            text << "step step_size=" << step_size << " gamma=" << gamma;
            break;
        case Kind::cosine:
            text << "cosine t_max=" << t_max << " eta_min=" << eta_min;
            break;
        case Kind::one_cycle:
            text << "one_cycle pct_start=" << pct_start;
            break;
    }
    return text.str();
}

LearningRateSchedule constant_schedule() { return {}; }

LearningRateSchedule step_schedule(std::int64_t step_size, double gamma) {
    if (step_size < 1) throw Error("step schedule: step_size " + std::to_string(step_size) + ", expected ≥ 1 (epochs)");
    if (!(gamma > 0.0) || !std::isfinite(gamma))
        throw Error("step schedule: gamma " + std::to_string(gamma) + ", expected a positive number");
    LearningRateSchedule schedule;
    schedule.kind = LearningRateSchedule::Kind::step;
    schedule.step_size = step_size;
    schedule.gamma = gamma;
    return schedule;
}

LearningRateSchedule cosine_schedule(std::int64_t t_max, double eta_min) {
    if (t_max < 1) throw Error("cosine schedule: t_max " + std::to_string(t_max) + ", expected ≥ 1 (epochs)");
    if (!(eta_min >= 0.0) || !std::isfinite(eta_min)) throw Error("cosine schedule: eta_min " + std::to_string(eta_min) + ", expected ≥ 0");
    LearningRateSchedule schedule;
    schedule.kind = LearningRateSchedule::Kind::cosine;
    schedule.t_max = t_max;
    schedule.eta_min = eta_min;
    return schedule;
}

LearningRateSchedule one_cycle_schedule(double pct_start) {
    if (!(pct_start > 0.0 && pct_start < 1.0))
        throw Error("one-cycle schedule: pct_start " + number_text(pct_start) + ", expected a fraction between 0 and 1");
    LearningRateSchedule schedule;
    schedule.kind = LearningRateSchedule::Kind::one_cycle;
    schedule.pct_start = pct_start;
    return schedule;
}

LearningRateSchedule parse_schedule(const std::string& text) {
    std::vector<std::string> parts;
    for (std::size_t start = 0;;) {
        const std::size_t colon = text.find(':', start);
        parts.push_back(text.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    const std::string expected =
        "expected constant, step:STEP_SIZE[:GAMMA], cosine:T_MAX[:ETA_MIN] or onecycle[:PCT_START] (e.g. step:10:0.5, cosine:20, "
        "onecycle:0.25)";
    const auto integer = [&](const std::string& part) {
        std::int64_t value = 0;
        const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (error != std::errc() || end != part.data() + part.size())
            throw Error("schedule '" + text + "': '" + part + "' is not an integer; " + expected);
        return value;
    };
    const auto real = [&](const std::string& part) {
        double value = 0.0;
        const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (error != std::errc() || end != part.data() + part.size())
            throw Error("schedule '" + text + "': '" + part + "' is not a number; " + expected);
        return value;
    };
    if (parts[0] == "constant" && parts.size() == 1) return constant_schedule();
    if (parts[0] == "step" && (parts.size() == 2 || parts.size() == 3))
        return step_schedule(integer(parts[1]), parts.size() == 3 ? real(parts[2]) : 0.1);
    if (parts[0] == "cosine" && (parts.size() == 2 || parts.size() == 3))
        return cosine_schedule(integer(parts[1]), parts.size() == 3 ? real(parts[2]) : 0.0);
    if (parts[0] == "onecycle" && parts.size() <= 2) return one_cycle_schedule(parts.size() == 2 ? real(parts[1]) : 0.3);
    throw Error("schedule '" + text + "': " + expected);
}

}  // namespace convnet
