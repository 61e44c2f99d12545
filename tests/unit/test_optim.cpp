// The optimisers' update rules and the learning-rate schedules against values printed by
// torch.optim 1.13 (float64) for three steps on a four-element vector; and make_optimizer's checks.
// The whole-network agreement over real gradients is in tests/reference/test_reference.cpp.
#include <convnet/core/error.h>
#include "test_support.h"

#include <convnet/train/optim.h>
#include <convnet/core/random.h>

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <sstream>

namespace convnet {
namespace {

using Values = std::array<float, 4>;

// The same start and gradients as the torch snippet:
//   p = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
//   for g in GRADIENTS: p.grad = torch.tensor(g, dtype=torch.float64); optimizer.step()
constexpr Values kStart{0.5f, -1.0f, 2.0f, 0.0f};
constexpr std::array<Values, 3> kGradients{{{0.1f, -0.2f, 0.3f, 0.0f}, {-0.05f, 0.4f, 0.3f, 1e-3f}, {0.2f, 0.0f, -0.1f, -2.0f}}};

// The optimiser runs in float32 on values of order 1: a few ulps after three steps.
constexpr double kTolerance = 2e-6;

void expect_steps(Optimizer& optimizer, const std::array<std::array<double, 4>, 3>& expected) {
    Values values = kStart;
    for (std::size_t step = 0; step < kGradients.size(); ++step) {
        optimizer.step(values, kGradients[step]);
        double worst = 0.0;
        std::ostringstream text;
        for (std::size_t i = 0; i < values.size(); ++i) {
            worst = std::max(worst, std::abs(double(values[i]) - expected[step][i]));
            text << "  [" << i << "] ours " << values[i] << " torch " << expected[step][i] << "\n";
        }
        EXPECT_LE(worst, kTolerance) << optimizer.describe() << ", after step " << step + 1 << ": max |difference| " << worst << "\n"
                                     << text.str();
    }
}

TEST(SGD, WithoutMomentumStepsAlongTheGradient) {
    SGD sgd(SGDOptions{0.1, 0.0});
    expect_steps(sgd, {{{0.49, -0.98, 1.97, 0}, {0.495, -1.02, 1.94, -0.0001}, {0.475, -1.02, 1.95, 0.1999}}});
}

TEST(SGD, MomentumStartsTheVelocityAtTheFirstGradient) {
    SGD sgd(SGDOptions{0.1, 0.9});
    expect_steps(sgd, {{{0.49, -0.98, 1.97, 0}, {0.486, -1.002, 1.913, -0.0001}, {0.4624, -1.0218, 1.8717, 0.19981}}});
}

TEST(SGD, DampeningAndWeightDecayAsTorch) {
    SGDOptions options{0.1, 0.8, 0.01};
    options.dampening = 0.3;
    SGD sgd(options);
    expect_steps(sgd, {{{0.4895, -0.979, 1.968, 0},
                        {0.48425735, -0.9895147, 1.9200224, -7e-05},
                        {0.4657242499, -0.9972337997, 1.887296304, 0.139874049}}});
}

TEST(SGD, NesterovWithWeightDecayAsTorch) {
    OptimizerOptions options;
    options.name = "sgd";
    options.learning_rate = 0.1;
    options.momentum = 0.9;
    options.nesterov = true;
    options.weight_decay = 0.05;
    const auto sgd = make_optimizer(options);
    expect_steps(*sgd, {{{0.47625, -0.9525, 1.924, 0},
                         {0.471100625, -0.99920125, 1.816322, -0.00019},
                         {0.4216338566, -1.000026213, 1.756814741, 0.379730805}}});
}

TEST(Adam, BiasCorrectedStepsAsTorch) {
    const auto adam = make_optimizer("adam", 0.01, 0.0);
    expect_steps(*adam, {{{0.490000001, -0.9900000005, 1.99, 0},
                          {0.4873366309, -0.9936610357, 1.980000001, -0.007441263027},
                          {0.4807555154, -0.9964910264, 1.973943021, -0.001056002546}}});
}

TEST(Adam, WeightDecayIsAddedToTheGradient) {
    OptimizerOptions options;
    options.name = "adam";
    options.learning_rate = 0.01;
    options.weight_decay = 0.1;
    const auto adam = make_optimizer(options);
    expect_steps(*adam, {{{0.4900000007, -0.9900000003, 1.99, 0},
                          {0.4833492006, -0.9905429538, 1.980000527, -0.007441263027},
                          {0.4752235506, -0.9895005501, 1.971465865, -0.001056001477}}});
}

TEST(AdamW, DefaultDecayIsDecoupledAndOnePercent) {
    OptimizerOptions options;
    options.name = "adamw";
    options.learning_rate = 0.01;
    const auto adamw = make_optimizer(options);
    EXPECT_NE(adamw->describe().find("weight_decay=0.01"), std::string::npos) << adamw->describe();
    expect_steps(*adamw, {{{0.489950001, -0.9899000005, 1.9898, 0},
                           {0.4872376359, -0.9934620457, 1.979601021, -0.007441263027},
                           {0.4806077967, -0.9961926902, 1.973346081, -0.00105525842}}});
}

TEST(AdamW, BetasEpsilonAndDecayAsTorch) {
    AdamOptions options;
    options.learning_rate = 0.01;
    options.beta1 = 0.8;
    options.beta2 = 0.99;
    options.eps = 1e-6;
    options.weight_decay = 0.5;
    options.decoupled_weight_decay = true;
    Adam adamw(options);
    expect_steps(adamw, {{{0.4875001, -0.98500005, 1.980000033, 0},
                          {0.4829512558, -0.9842850647, 1.960100066, -0.007826035563},
                          {0.4736167674, -0.9824143245, 1.944881395, -0.0007266318195}}});
}

TEST(Optimizer, LearningRateChangesTakeEffectAtTheNextStep) {
    const auto sgd = make_optimizer("sgd", 0.1, 0.0);
    Values values = kStart;
    sgd->step(values, kGradients[0]);
    sgd->set_learning_rate(0.01);
    EXPECT_DOUBLE_EQ(sgd->learning_rate(), 0.01);
    sgd->step(values, kGradients[1]);
    EXPECT_NEAR(values[1], -1.0 + 0.1 * 0.2 - 0.01 * 0.4, 1e-7);
}

TEST(MakeOptimizer, RefusesBadOptionsByName) {
    const auto message = [](const OptimizerOptions& options) {
        try {
            make_optimizer(options);
        } catch (const Error& error) {
            return std::string(error.what());
        }
        return std::string("no error");
    };
    OptimizerOptions options;
    options.name = "rmsprop";
    EXPECT_NE(message(options).find("expected adam, adamw or sgd"), std::string::npos) << message(options);
    options = {};
    options.learning_rate = -1.0;
    EXPECT_NE(message(options).find("learning rate"), std::string::npos) << message(options);
    options = {};
    options.weight_decay = -0.1;
    EXPECT_NE(message(options).find("weight decay"), std::string::npos) << message(options);
    options = {};
    options.name = "sgd";
    options.momentum = 0.0;
    options.nesterov = true;
    EXPECT_NE(message(options).find("Nesterov"), std::string::npos) << message(options);
    options = {};
    options.name = "adam";
    options.nesterov = true;
    EXPECT_NE(message(options).find("Nesterov"), std::string::npos) << message(options);
    options = {};
    options.name = "sgd";
    options.momentum = 1.5;
    EXPECT_NE(message(options).find("momentum"), std::string::npos) << message(options);
    // A checkpoint's fields come here too (a hand-edited one had lr 1e300, which the float32 step
    // turned into infinity); the value is shown as written, not as 301 digits.
    options = {};
    options.learning_rate = 1e300;
    EXPECT_EQ(message(options), "learning rate 1e+300: expected a positive number float32 holds (e.g. 0.001)");
    options = {};
    options.weight_decay = 1e39;
    EXPECT_NE(message(options).find("weight decay 1e+39"), std::string::npos) << message(options);
    options = {};
    options.beta2 = 1.0;  // as torch.optim.Adam: "Invalid beta parameter at index 1"
    EXPECT_EQ(message(options), "betas (0.9, 1): expected each in [0, 1) (e.g. 0.9, 0.999)");
    options = {};
    options.name = "adamw";
    options.beta1 = -0.1;
    EXPECT_NE(message(options).find("betas (-0.1, 0.999)"), std::string::npos) << message(options);
    options = {};
    options.eps = -1e-8;
    EXPECT_NE(message(options).find("epsilon -1e-08"), std::string::npos) << message(options);
    options = {};
    options.name = "sgd";
    options.dampening = 2.0;
    EXPECT_NE(message(options).find("dampening 2"), std::string::npos) << message(options);
    // The edges that are allowed.
    options = {};
    options.beta1 = 0.0;
    options.eps = 0.0;
    options.learning_rate = 3e38;
    EXPECT_EQ(message(options), "no error");
}

TEST(MakeOptimizer, DefaultWeightDecayIsPyTorchs) {
    EXPECT_TRUE(make_optimizer("adam", 1e-3, 0.9)->describe().ends_with("weight_decay=0")) << make_optimizer("adam", 1e-3, 0.9)->describe();
    EXPECT_TRUE(make_optimizer("sgd", 1e-2, 0.9)->describe().ends_with("weight_decay=0")) << make_optimizer("sgd", 1e-2, 0.9)->describe();
    EXPECT_TRUE(make_optimizer("adamw", 1e-3, 0.9)->describe().ends_with("weight_decay=0.01"))
        << make_optimizer("adamw", 1e-3, 0.9)->describe();
}

// Learning rates for epochs 0, 1, ... from torch.optim.lr_scheduler with lr=0.1, read before each
// epoch and followed by scheduler.step().
TEST(LearningRateSchedule, StepAsTorchStepLR) {
    const LearningRateSchedule schedule = step_schedule(3, 0.5);
    const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025};
    for (int epoch = 0; epoch < 8; ++epoch) EXPECT_NEAR(schedule.rate(0.1, epoch), expected[epoch], 1e-15) << "epoch " << epoch;
}

TEST(LearningRateSchedule, CosineAsTorchCosineAnnealingLR) {
    const LearningRateSchedule schedule = cosine_schedule(5, 0.001);
    const double expected[] = {0.1,   0.0905463412216, 0.0657963412216, 0.0352036587784, 0.0104536587784,
                               0.001, 0.0104536587784, 0.0352036587784, 0.0657963412216, 0.0905463412216,
                               0.1,   0.0905463412216};
    for (int epoch = 0; epoch < 12; ++epoch) EXPECT_NEAR(schedule.rate(0.1, epoch), expected[epoch], 1e-12) << "epoch " << epoch;
}

// Per step: torch.optim.lr_scheduler.OneCycleLR(max_lr=0.1, total_steps=10, pct_start=0.25,
// cycle_momentum=False), the rate read before each optimizer.step(); an epoch schedule asked per
// step gives its epoch's rate.
TEST(LearningRateSchedule, OneCycleAsTorchOneCycleLR) {
    const LearningRateSchedule schedule = one_cycle_schedule(0.25);
    EXPECT_TRUE(schedule.per_step());
    const double expected[] = {0.004,
                               0.076,
                               0.0989073844071701,
                               0.0904508879153485,
                               0.0750001,
                               0.05522660225769,
                               0.0345494120846515,
                               0.0165438035081784,
                               0.00432310982696148,
                               4e-07};
    for (int step = 0; step < 10; ++step) EXPECT_NEAR(schedule.rate_at_step(0.1, step, 10, 5), expected[step], 1e-13) << "step " << step;
    testing::expect_error([&] { schedule.rate(0.1, 0); }, {"one_cycle changes every step"});
    testing::expect_error([&] { schedule.rate_at_step(0.1, 10, 10, 5); }, {"step 10 of 10"});
    EXPECT_EQ(step_schedule(1, 0.5).rate_at_step(0.1, 7, 10, 5), 0.05);  // epoch 1
    EXPECT_EQ(parse_schedule("onecycle").pct_start, 0.3);
    EXPECT_EQ(parse_schedule("onecycle:0.25").describe(), "one_cycle pct_start=0.25");
    for (const char* bad : {"onecycle:0", "onecycle:1", "onecycle:x", "onecycle:0.2:3"}) EXPECT_THROW(parse_schedule(bad), Error) << bad;
}

TEST(LearningRateSchedule, ConstantKeepsTheBaseRate) {
    EXPECT_EQ(constant_schedule().rate(0.25, 100), 0.25);
    EXPECT_EQ(LearningRateSchedule{}.describe(), "constant");
}

TEST(LearningRateSchedule, ParsesCliForms) {
    EXPECT_EQ(parse_schedule("constant").kind, LearningRateSchedule::Kind::constant);
    const LearningRateSchedule step = parse_schedule("step:10:0.5");
    EXPECT_EQ(step.kind, LearningRateSchedule::Kind::step);
    EXPECT_EQ(step.step_size, 10);
    EXPECT_EQ(step.gamma, 0.5);
    EXPECT_EQ(parse_schedule("step:4").gamma, 0.1);
    const LearningRateSchedule cosine = parse_schedule("cosine:20");
    EXPECT_EQ(cosine.kind, LearningRateSchedule::Kind::cosine);
    EXPECT_EQ(cosine.t_max, 20);
    EXPECT_EQ(cosine.eta_min, 0.0);
    EXPECT_EQ(parse_schedule("cosine:20:1e-5").eta_min, 1e-5);
    for (const char* bad : {"", "linear", "step", "step:0", "step:x", "cosine:10:-1", "step:3:0.5:1", "constant:1"})
        EXPECT_THROW(parse_schedule(bad), Error) << "'" << bad << "'";
}

// The state of training by name: an optimiser given another's state continues bit for bit as the
// other would, and a generator given another's state draws the same numbers.
TEST(OptimizerState, AdamAndSgdContinueFromAnotherOnesState) {
    const std::vector<float> gradients_a{0.5f, -1.0f, 2.0f, 0.25f}, gradients_b{-0.3f, 0.7f, 0.1f, -2.0f};
    auto run = [&](Optimizer& first, Optimizer& second) {
        std::vector<float> a{1.0f, 2.0f, -3.0f, 0.5f};
        for (int i = 0; i < 3; ++i) first.step(a, i % 2 ? gradients_b : gradients_a);
        std::vector<float> b = a;
        second.load_state(first.state());
        for (int i = 0; i < 2; ++i) {
            first.step(a, i % 2 ? gradients_a : gradients_b);
            second.step(b, i % 2 ? gradients_a : gradients_b);
        }
        EXPECT_EQ(a, b);
    };
    Adam adam(AdamOptions{}), adam_resumed(AdamOptions{});
    run(adam, adam_resumed);
    const OptimizerState adam_state = adam.state();
    EXPECT_EQ(adam_state.step, 5);
    ASSERT_EQ(adam_state.buffers.size(), 2u);
    EXPECT_EQ(adam_state.buffers.at("exp_avg").size(), 4u);
    EXPECT_EQ(adam_state.buffers.at("exp_avg_sq").size(), 4u);
    SGDOptions momentum;
    momentum.momentum = 0.9;
    SGD sgd(momentum), sgd_resumed(momentum);
    run(sgd, sgd_resumed);
    EXPECT_EQ(sgd.state().buffers.count("momentum_buffer"), 1u);
    EXPECT_TRUE(SGD(momentum).state().buffers.empty());  // created by the first step, as torch's
    testing::expect_error([&] { adam_resumed.load_state(sgd.state()); }, {"adam state: no buffer 'momentum_buffer'"});
}

TEST(OptimizerState, GeneratorsRestoreTheirState) {
    Random random(42);
    random.next();
    Random copy(0);
    copy.set_state(random.state());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(copy.next(), random.next());
}

}  // namespace
}  // namespace convnet
