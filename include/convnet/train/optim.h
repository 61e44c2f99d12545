// Optimisers with PyTorch's exact update rules (torch.optim.SGD, Adam, AdamW), over the network's
// contiguous block of trainable values (one loop, no per-parameter bookkeeping); and the per-epoch
// learning-rate schedules of torch.optim.lr_scheduler (StepLR, CosineAnnealingLR).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// Adam keeps two values per trainable value: exp_avg and exp_avg_sq.
inline constexpr int kAdamStateValuesPerParameter = 2;

// What an optimiser carries from step to step, under torch.optim's names, for checkpoints: Adam's
// `step`, `exp_avg` and `exp_avg_sq`; SGD's `momentum_buffer`. Each buffer holds one value per
// trainable value, in the network's arena order (torch keeps one per parameter; split a buffer at
// the parameters' offsets to get those). A buffer is absent until the first step creates it.
struct OptimizerState {
    std::int64_t step = 0;
    std::map<std::string, std::vector<float>> buffers;
};

struct OptimizerOptions;

class Optimizer {
public:
    virtual ~Optimizer() = default;
    virtual OptimizerState state() const = 0;
    // Continues from `state` as if its steps had been taken here. Throws convnet::Error naming a
    // buffer this optimiser does not have, or buffers of different lengths.
    virtual void load_state(const OptimizerState& state) = 0;
    // One update of `values` from `gradients` (same length on every call).
    virtual void step(std::span<float> values, std::span<const float> gradients) = 0;
    virtual std::string describe() const = 0;
    // The settings make_optimizer would build this optimiser from (name "adam", "adamw" or
    // "sgd"), with the current learning rate: what a checkpoint records, as torch's param_groups.
    virtual OptimizerOptions options() const = 0;
    // Values of state kept per trainable value once stepping: 2 for Adam (exp_avg, exp_avg_sq),
    // 1 for SGD with momentum (momentum_buffer), 0 without. For the memory estimates of nn/costs.h.
    virtual int state_values_per_parameter() const = 0;
    double learning_rate() const { return learning_rate_; }
    // Takes effect at the next step; the moments and velocities are kept (as a torch scheduler).
    void set_learning_rate(double rate) { learning_rate_ = rate; }

protected:
    explicit Optimizer(double learning_rate) : learning_rate_(learning_rate) {}
    double learning_rate_;
};

struct AdamOptions {
    double learning_rate = 1e-3;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    // Adam: L2, added to the gradient before the moments (torch.optim.Adam, default 0).
    // AdamW: decoupled, values *= 1 − lr·weight_decay before the update (torch.optim.AdamW, 0.01).
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // true: AdamW
};

// torch.optim.Adam, or torch.optim.AdamW with decoupled_weight_decay (amsgrad is not offered).
class Adam : public Optimizer {
public:
    explicit Adam(const AdamOptions& options);
    void step(std::span<float> values, std::span<const float> gradients) override;
    std::string describe() const override;
    OptimizerOptions options() const override;
    int state_values_per_parameter() const override { return kAdamStateValuesPerParameter; }
    OptimizerState state() const override;
    void load_state(const OptimizerState& state) override;

private:
    AdamOptions options_;
    std::int64_t step_count_ = 0;
    std::vector<float> first_moment_, second_moment_;
};

struct SGDOptions {
    double learning_rate = 0.01;
    double momentum = 0.9;
    double weight_decay = 0.0;  // L2 added to the gradient, as torch.optim.SGD
    double dampening = 0.0;     // velocity = momentum·velocity + (1 − dampening)·gradient
    bool nesterov = false;      // step along gradient + momentum·velocity; needs momentum > 0, dampening 0
};

// torch.optim.SGD: the velocity starts at the first gradient (no dampening on that step).
class SGD : public Optimizer {
public:
    explicit SGD(const SGDOptions& options);
    void step(std::span<float> values, std::span<const float> gradients) override;
    std::string describe() const override;
    OptimizerOptions options() const override;
    int state_values_per_parameter() const override { return options_.momentum > 0.0 ? 1 : 0; }
    OptimizerState state() const override;
    void load_state(const OptimizerState& state) override;

private:
    SGDOptions options_;
    std::vector<float> velocity_;  // empty until the first step
    std::int64_t step_count_ = 0;
};

// The ranges `convnet train` takes --lr, --momentum and --weight-decay in, and a checkpoint's
// fields are held to (its values came from there): past them a run is a mistake, though torch.optim
// would take it (a rate of 1e-50 is 0 in float32, a weight decay of 1e30 makes Adam's moments
// infinite; either trains nothing, silently).
struct OptionRange {
    double low, high;
    bool contains(double value) const { return value >= low && value <= high; }
};
constexpr OptionRange kLearningRateRange{1e-12, 100.0}, kMomentumRange{0.0, 0.999999}, kWeightDecayRange{0.0, 1.0};

// Everything make_optimizer needs, as CLI flags would give it.
struct OptimizerOptions {
    std::string name = "adam";  // "adam", "adamw" or "sgd"
    double learning_rate = 1e-3;
    double momentum = 0.9;                              // sgd only
    bool nesterov = false;                              // sgd only
    std::optional<double> weight_decay;                 // unset: 0 for adam and sgd, 0.01 for adamw (PyTorch's defaults)
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam and adamw only
    double dampening = 0.0;                             // sgd only
};

// Checks every option (a positive learning rate, momentum in [0, 1), dampening in [0, 1], weight
// decay ≥ 0, betas in [0, 1) and eps ≥ 0 as torch.optim.Adam checks them, Nesterov only with
// momentum; and each factor within float32's range, which the step computes in) and throws
// convnet::Error naming the option; throws on an unknown name.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options);
// The same with the other options at their defaults: "adam", "adamw" or "sgd".
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, double learning_rate, double momentum);

// A learning rate per epoch, computed in closed form from the base rate (so it can be asked for
// any epoch, e.g. when training resumes). The trainer calls
//   optimizer.set_learning_rate(schedule.rate(base_rate, epoch))
// before epoch `epoch` (0-based), which is what calling scheduler.step() after every epoch does.
// One schedule is per step instead: one_cycle, which the trainer applies before every step from
// rate_at_step (the run's length is its planned epochs' steps).
struct LearningRateSchedule {
    enum class Kind { constant, step, cosine, one_cycle };
    Kind kind = Kind::constant;
    std::int64_t step_size = 1;  // step: multiply by gamma every step_size epochs (torch StepLR)
    double gamma = 0.1;
    std::int64_t t_max = 1;  // cosine: eta_min + (base − eta_min)(1 + cos(π·epoch/t_max))/2
    double eta_min = 0.0;    // (torch CosineAnnealingLR; past t_max it rises again, as torch's)
    // one_cycle, as torch OneCycleLR(max_lr=base, pct_start, div_factor=25, final_div_factor=1e4,
    // anneal_strategy='cos', cycle_momentum=False, three_phase=False): from base/25 up to base
    // over the first pct_start of the steps, then down to base/25/1e4, each half a cosine.
    double pct_start = 0.3;

    bool per_step() const { return kind == Kind::one_cycle; }
    // Throws convnet::Error for a per-step schedule (use rate_at_step).
    double rate(double base_rate, std::int64_t epoch) const;
    // The rate before step `step` (0-based) of `total_steps`; an epoch schedule's rate of the
    // epoch holding that step, given `steps_per_epoch`. Throws for step outside [0, total_steps).
    double rate_at_step(double base_rate, std::int64_t step, std::int64_t total_steps, std::int64_t steps_per_epoch) const;
    // "constant", "step step_size=10 gamma=0.1", "cosine t_max=20 eta_min=0", "one_cycle pct_start=0.3"
    std::string describe() const;
};

LearningRateSchedule constant_schedule();
LearningRateSchedule step_schedule(std::int64_t step_size, double gamma = 0.1);
LearningRateSchedule cosine_schedule(std::int64_t t_max, double eta_min = 0.0);
// Throws convnet::Error unless 0 < pct_start < 1.
LearningRateSchedule one_cycle_schedule(double pct_start = 0.3);
// Parses a CLI value: "constant", "step:STEP_SIZE[:GAMMA]", "cosine:T_MAX[:ETA_MIN]" or
// "onecycle[:PCT_START]" (e.g. "step:10:0.5", "cosine:20", "onecycle:0.25"); throws
// convnet::Error with the expected forms.
LearningRateSchedule parse_schedule(const std::string& text);

// The spellings before torch.optim.SGD's, kept for one release.
using Sgd [[deprecated("renamed SGD, as torch.optim.SGD")]] = SGD;
using SgdOptions [[deprecated("renamed SGDOptions")]] = SGDOptions;

}  // namespace convnet
