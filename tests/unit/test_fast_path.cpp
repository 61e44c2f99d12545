// The oneDNN fast path against the reference layers: the same weights and batch must give the
// same logits, gradients and running statistics in training, and the same logits in evaluation.
#include "layer_harness.h"
#include "test_support.h"

#include "../../src/engine/onednn/fusion.h"
#include "../../src/engine/onednn/onednn.h"
#include "../../src/kernels/batch_norm_relu_max_pool.h"
#include "../../src/kernels/conv_weight_grad.h"

#include <convnet/nn/executor.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <cmath>

namespace convnet::testing {
namespace {

// max |a − b| over max |b|: the error relative to the tensor's scale. Element-wise ratios are
// meaningless here: the two paths sum in different orders, and a gradient that is zero in exact
// arithmetic (a convolution bias followed by batch norm) is pure rounding noise in both.
// `floor` bounds the scale from below: for gradients, a small share of the largest gradient in
// the whole network, so that noise-only tensors are judged against the network's scale.
double max_relative_error(const float* a, const float* b, std::int64_t count, double floor = 1e-6) {
    double largest = 0.0, worst = 0.0;
    for (std::int64_t i = 0; i < count; ++i) {
        largest = std::max(largest, double(std::abs(b[i])));
        worst = std::max(worst, std::abs(double(a[i]) - b[i]));
    }
    return worst / std::max(largest, floor);
}

double largest_gradient(const Network& network) {
    double largest = 0.0;
    for (const NamedParameter& entry : network.named_parameters())
        if (entry.parameter->role == ParameterRole::trainable)
            for (std::int64_t i = 0; i < entry.parameter->shape.element_count(); ++i)
                largest = std::max(largest, double(std::abs(entry.parameter->grad[i])));
    return largest;
}

struct FastPathCase {
    const char* model;
    std::int64_t batch;
};

class FastPath : public ::testing::TestWithParam<FastPathCase> {};

// Two training steps and an evaluation on both backends, from the same weights and batch.
void expect_agreement(const ModelSpec& spec, std::int64_t batch) {
    Network fast(spec), reference(spec);
    ASSERT_TRUE(fast.fast_path()) << fast.fast_path_unavailable();
    reference.set_backend("reference");
    fast.initialize(5);
    reference.initialize(5);

    Random random(9);
    std::vector<std::int64_t> dims{batch};
    dims.insert(dims.end(), spec.input.dims().begin(), spec.input.dims().end());
    Tensor input{Shape(dims)};
    fill_input(input, InputKind::smooth, random);
    // One label per image, or per pixel for a network ending in (N, classes, H, W).
    const Shape& output = fast.layer_plan(fast.layer_count() - 1).output;
    std::vector<std::uint8_t> labels(static_cast<std::size_t>(batch * output.element_count() / output[1]));
    for (auto& label : labels) label = static_cast<std::uint8_t>(random.below(static_cast<std::uint64_t>(fast.output_features())));

    for (int step = 0; step < 2; ++step) {  // the second step runs on the plans built by the first
        const Tensor& fast_logits = fast.forward_train(input);
        const Tensor& reference_logits = reference.forward_train(input);
        EXPECT_LT(max_relative_error(fast_logits.data(), reference_logits.data(), fast_logits.size()), 1e-4) << "training logits";
        Tensor fast_grad, reference_grad;
        softmax_cross_entropy(fast_logits, labels, &fast_grad);
        softmax_cross_entropy(reference_logits, labels, &reference_grad);
        fast.backward(fast_grad);
        reference.backward(reference_grad);
        const auto fast_parameters = parameters_and_buffers(fast), reference_parameters = parameters_and_buffers(reference);
        const double gradient_floor = 1e-3 * largest_gradient(reference);
        for (std::size_t i = 0; i < fast_parameters.size(); ++i) {
            const Parameter& a = *fast_parameters[i].parameter;
            const Parameter& b = *reference_parameters[i].parameter;
            const std::int64_t count = a.shape.element_count();
            if (a.role == ParameterRole::trainable)
                EXPECT_LT(max_relative_error(a.grad, b.grad, count, gradient_floor), 1e-4) << "gradient of " << fast_parameters[i].name;
            else EXPECT_LT(max_relative_error(a.value, b.value, count), 1e-4) << fast_parameters[i].name;
        }
    }
    Tensor fast_logits, reference_logits;
    fast.predict(input, fast_logits);
    reference.predict(input, reference_logits);
    EXPECT_LT(max_relative_error(fast_logits.data(), reference_logits.data(), fast_logits.size()), 1e-4) << "evaluation logits";
}

TEST_P(FastPath, AgreesWithReferenceLayers) { expect_agreement(parse_model(GetParam().model, "case.model"), GetParam().batch); }

// The model files that the fast path serves, as shipped (convnet1 without its conv biases is the
// first case above: before batch norm their gradient is rounding noise on both paths).
TEST(FastPath, ShippedModelsAgreeWithReferenceLayers) {
    // (models/detect-digits.model is left out: its six batch norms over 96x96 maps make the two
    // paths' summation orders differ by up to 2e-3 in a few weight gradients; the head itself is
    // checked on small networks below.)
    for (const char* model : {"lenet5.model", "resnet-fmnist.model", "unet-small.model"}) {
        SCOPED_TRACE(model);
        expect_agreement(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/" + model), 8);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Models, FastPath,
    ::testing::Values(
        // convnet1 with the convolution biases off: before batch norm their gradient is zero in
        // exact arithmetic, so both paths return rounding noise there and nothing to compare.
        FastPathCase{"input 1x28x28\nconv2d out=16 kernel=5 pad=2 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
                     "conv2d out=32 kernel=5 pad=2 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=10\n",
                     8},
        FastPathCase{
            "input 3x13x11\nconv2d out=8 kernel=3x2 stride=2x1 pad=1x0 dilation=1x2\nrelu\nbatchnorm2d\n"
            "maxpool2d kernel=3 stride=2 pad=1\nconv2d out=5 kernel=1 bias=false\nflatten\nlinear out=7\nrelu\nlinear out=4 bias=false\n",
            5},
        FastPathCase{"input 2x9x9\nconv2d out=4 kernel=3\nmaxpool2d kernel=2\nflatten\nlinear out=3\n", 3},
        // batch norm → relu → 2×2 max pool (one stage in training) over odd planes, whose last row
        // or column no window reads, and channel counts that leave a block part-filled
        FastPathCase{"input 2x11x13\nconv2d out=12 kernel=3 pad=1 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
                     "conv2d out=20 kernel=3 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=5\n",
                     5},
        // LeNet-5's pieces: tanh and average pooling; and the other activations, batchnorm1d,
        // average pooling that leaves padding out of the count, and a window that drops a column.
        FastPathCase{"input 1x28x28\nconv2d out=6 kernel=5 pad=2\ntanh\navgpool2d kernel=2\nconv2d out=16 kernel=5\ntanh\n"
                     "avgpool2d kernel=2\nflatten\nlinear out=120\ntanh\nlinear out=84\ntanh\nlinear out=10\n",
                     4},
        FastPathCase{
            "input 3x10x9\nconv2d out=6 kernel=3 stride=2\nleakyrelu slope=0.1\navgpool2d kernel=3 stride=1 pad=1 count_pad=false\n"
            "sigmoid\nflatten\nlinear out=12 bias=false\nbatchnorm1d\nrelu\nlinear out=5\n",
            6},
        // grouped and depthwise convolutions
        FastPathCase{"input 4x11x10\nconv2d out=6 kernel=3 groups=2 pad=1\nrelu\nconv2d out=6 kernel=3x1 groups=6 stride=2\n"
                     "flatten\nlinear out=3\n",
                     3},
        // dropout on features: both paths draw the same masks from the layer's generator
        FastPathCase{"input 2x8x8\nconv2d out=4 kernel=3\nrelu\nflatten\nlinear out=16\ndropout p=0.3\nrelu\nlinear out=5\n", 6},
        // flatten with a stage of its own (dropout between it and the linear; and read twice)
        FastPathCase{"input 3x6x6\nconv2d out=16 kernel=3 pad=1 bias=false\nbatchnorm2d\nrelu\nglobalavgpool2d\nflatten\ndropout "
                     "p=0.2\nlinear out=4\n",
                     5},
        FastPathCase{"input 2x5x5\nconv2d out=3 kernel=3\nflatten name=features\nlinear out=6 from=features\nconcat from=fc1,features\n"
                     "linear out=4\n",
                     3},
        // Graphs: a residual block whose shortcut is read by a convolution and the add (two
        // gradients summed), with batch norm fused with relu only where nothing else reads it.
        FastPathCase{"input 3x10x10\nconv2d out=16 kernel=3 pad=1 bias=false\nbatchnorm2d\nrelu name=stem\n"
                     "conv2d out=16 kernel=3 pad=1 bias=false\nbatchnorm2d\nrelu\nconv2d out=16 kernel=3 pad=1 bias=false\nbatchnorm2d\n"
                     "add from=bn3,stem\nrelu\nconv2d out=8 kernel=1 stride=2 bias=false\nbatchnorm2d name=shortcut\n"
                     "conv2d out=8 kernel=3 stride=2 pad=1 from=relu2 bias=false\nbatchnorm2d\nadd from=bn4,shortcut\n"
                     "relu\nglobalavgpool2d\nflatten\nlinear out=4\n",
                     4},
        // A small U-Net on the way up: a transposed convolution, both upsampling modes, concat
        // skips (one with the network's input), an add reading one output twice.
        FastPathCase{"input 2x8x8\nconv2d out=4 kernel=3 pad=1\nrelu name=enc1\nmaxpool2d kernel=2\nconv2d out=8 kernel=3 pad=1\n"
                     "relu name=enc2\nmaxpool2d kernel=2\nconv2d out=8 kernel=3 pad=1\nrelu\n"
                     "convtranspose2d out=8 kernel=3 stride=2 pad=1 output_pad=1\nconcat from=deconv1,enc2\n"
                     "upsample2d scale=2 mode=bilinear\nconcat from=upsample1,enc1\nupsample2d scale=1x2 from=input\n"
                     "maxpool2d kernel=1x2\nconcat from=concat2,pool3\nadd from=concat3,concat3\nconv2d out=3 kernel=3 pad=1\n"
                     "flatten\nlinear out=5\n",
                     3},
        // Batch norm first: no stage wants its input gradient, which oneDNN writes anyway (the
        // fuzzer's find: a training step wrote it through a null handle).
        FastPathCase{"input 2x4x4\nbatchnorm2d\nflatten\nlinear out=3\n", 4},
        FastPathCase{"input 1x3x3\nflatten\nbatchnorm1d\nrelu\nlinear out=2\n", 4},
        // a detection head after pooled feature maps, and one with a 3x3 kernel
        FastPathCase{"input 2x8x8\nconv2d out=4 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\ndetect classes=3\n", 4},
        FastPathCase{"input 1x8x8\nconv2d out=6 kernel=3 pad=1\nrelu\ndetect classes=2 kernel=3\n", 3}));

// With our own kernels (the default, asked for explicitly) and without them, the fast path's
// gradients agree with the reference layers': convolutions with 1, 3, 6 and 8 input channels (the
// most our kernel takes), with and without bias, with 4 to 32 outputs.
TEST(FastPath, OwnKernelsAgreeWithReferenceLayers) {
    if (!kernels::conv_weight_grad_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    for (const auto own_kernels : {engine::onednn::OwnKernels::where_they_apply, engine::onednn::OwnKernels::never})
        for (const char* model :
             {"input 1x28x28\nconv2d out=16 kernel=5 pad=2 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
              "conv2d out=32 kernel=5 pad=2 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=10\n",
              "input 3x10x9\nconv2d out=6 kernel=3 stride=2\nrelu\nconv2d out=4 kernel=3 pad=1\nflatten\nlinear out=5\n",
              // speedrun-91's first two convolutions (a bias before batch norm has a gradient of
              // rounding noise, so only the second has one)
              "input 1x12x12\nconv2d out=8 kernel=3 pad=1 bias=false\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
              "conv2d out=16 kernel=3 pad=1\nrelu\nflatten\nlinear out=10\n"}) {
            SCOPED_TRACE(std::string(model) + (own_kernels == engine::onednn::OwnKernels::never ? "without" : "with") + " own kernels");
            const ModelSpec spec = parse_model(model, "case.model");
            Network fast(spec), reference(spec);
            reference.set_backend("reference");
            fast.initialize(5);
            reference.initialize(5);
            std::string why_not;
            const auto executor = engine::onednn::OnednnExecutor::create(fast.layer_plans(), why_not, own_kernels);
            ASSERT_NE(executor, nullptr) << why_not;
            Random random(9);
            std::vector<std::int64_t> dims{6};
            dims.insert(dims.end(), spec.input.dims().begin(), spec.input.dims().end());
            Tensor input{Shape(dims)};
            fill_input(input, InputKind::smooth, random);
            std::vector<std::uint8_t> labels(6);
            for (auto& label : labels) label = static_cast<std::uint8_t>(random.below(static_cast<std::uint64_t>(fast.output_features())));
            Tensor fast_grad, reference_grad;
            softmax_cross_entropy(executor->forward_train(input), labels, &fast_grad);
            softmax_cross_entropy(reference.forward_train(input), labels, &reference_grad);
            executor->backward(fast_grad);
            reference.backward(reference_grad);
            const auto fast_parameters = parameters_and_buffers(fast), reference_parameters = parameters_and_buffers(reference);
            const double gradient_floor = 1e-3 * largest_gradient(reference);
            for (std::size_t i = 0; i < fast_parameters.size(); ++i) {
                const Parameter& a = *fast_parameters[i].parameter;
                if (a.role != ParameterRole::trainable) continue;
                EXPECT_LT(max_relative_error(a.grad, reference_parameters[i].parameter->grad, a.shape.element_count(), gradient_floor),
                          1e-4)
                    << "gradient of " << fast_parameters[i].name;
            }
        }
}

// Which layers become the fused batch norm → relu → max pool stage: in training only, with our
// kernels allowed, where each layer is read by the next alone and the window is 2×2 with stride 2.
TEST(FastPath, PlansTheFusedPoolingStageWhereItApplies) {
    if (!kernels::batch_norm_relu_max_pool_available()) GTEST_SKIP() << "no AVX2 and FMA on this CPU";
    const auto fused_layers = [](const char* model, bool training, engine::onednn::OwnKernels own_kernels) {
        const Network network(parse_model(model, "case.model"));
        std::string why_not;
        const auto recipes = engine::onednn::plan_stages(network.layer_plans(), training, own_kernels, why_not);
        EXPECT_TRUE(recipes.has_value()) << why_not;
        std::vector<std::size_t> firsts;  // the batch norm of each fused stage
        for (const auto& recipe : recipes.value_or(std::vector<engine::onednn::StageRecipe>{}))
            if (recipe.fuse_max_pool) {
                EXPECT_EQ(recipe.last, recipe.first + 2) << model;
                firsts.push_back(recipe.first);
            }
        return firsts;
    };
    using engine::onednn::OwnKernels;
    using Layers = std::vector<std::size_t>;
    const char* two_blocks =
        "input 1x12x12\nconv2d out=8 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
        "conv2d out=16 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=10\n";
    EXPECT_EQ(fused_layers(two_blocks, true, OwnKernels::where_they_apply), (Layers{1, 5}));
    EXPECT_EQ(fused_layers(two_blocks, false, OwnKernels::where_they_apply), Layers{});  // evaluation folds the norm instead
    EXPECT_EQ(fused_layers(two_blocks, true, OwnKernels::never), Layers{});
    // Windows other than 2×2 with stride 2.
    EXPECT_EQ(fused_layers("input 1x12x12\nconv2d out=8 kernel=3\nbatchnorm2d\nrelu\nmaxpool2d kernel=3 stride=2\nflatten\nlinear out=2\n",
                           true, OwnKernels::where_they_apply),
              Layers{});
    EXPECT_EQ(fused_layers("input 1x12x12\nconv2d out=8 kernel=3\nbatchnorm2d\nrelu\nmaxpool2d kernel=2 stride=1\nflatten\nlinear out=2\n",
                           true, OwnKernels::where_they_apply),
              Layers{});
    EXPECT_EQ(fused_layers("input 1x12x12\nconv2d out=8 kernel=3\nbatchnorm2d\nrelu\navgpool2d kernel=2\nflatten\nlinear out=2\n", true,
                           OwnKernels::where_they_apply),
              Layers{});
    // The relu's output read by a second layer: the pool may not swallow it.
    EXPECT_EQ(fused_layers("input 1x12x12\nconv2d out=8 kernel=3\nbatchnorm2d\nrelu name=r\nmaxpool2d kernel=2\n"
                           "conv2d out=8 kernel=3 pad=1 from=r\nmaxpool2d kernel=2\nadd from=pool1,pool2\nflatten\nlinear out=2\n",
                           true, OwnKernels::where_they_apply),
              Layers{});
}

// Evaluation keeps the weights in the primitives' layouts between calls; a change of parameters
// (an optimiser step, a load, a write announced by parameters_changed) must reach it.
TEST(FastPath, EvaluationSeesChangedWeights) {
    Network network(parse_model("input 1x6x6\nconv2d out=2 kernel=3\nrelu\nflatten\nlinear out=2\n", "m.model"));
    ASSERT_TRUE(network.fast_path());
    network.initialize(1);
    Tensor input(Shape{1, 1, 6, 6}), before, after;
    input.fill(1.0f);
    network.predict(input, before);
    network.named_parameters()[0].parameter->value[0] += 1.0f;  // conv1.weight
    network.parameters_changed();
    network.predict(input, after);
    EXPECT_NE(before[0], after[0]);
    Network reference(parse_model("input 1x6x6\nconv2d out=2 kernel=3\nrelu\nflatten\nlinear out=2\n", "m.model"));
    reference.set_backend("reference");
    reference.initialize(1);
    reference.named_parameters()[0].parameter->value[0] += 1.0f;
    Tensor expected;
    reference.predict(input, expected);
    EXPECT_NEAR(after[0], expected[0], 1e-5f);
    EXPECT_NEAR(after[1], expected[1], 1e-5f);
}

TEST(FastPath, ModelsWithoutPrimitivesUseTheReferenceLayers) {
    Network network(parse_model("input 1x8x8\nconv2d out=2 kernel=3\ndropout p=0.5\nflatten\nlinear out=3\n", "m.model"));
    EXPECT_FALSE(network.fast_path());
    EXPECT_NE(network.fast_path_unavailable().find("dropout"), std::string::npos) << network.fast_path_unavailable();
}

// Step 5 of "Adding a layer" (docs/CONTRIBUTING.md): every registered layer type has a stated
// fast-path decision in the engine's one table, and the table holds no other type.
TEST(AddingALayer, FastPathRowPerType) {
    for (const LayerType& type : layer_types()) {
        const engine::onednn::FastPathDecision* decision = engine::onednn::fast_path_decision(type.name);
        EXPECT_NE(decision, nullptr) << "layer type '" << type.name << "' has no fast-path decision: add a row {\"" << type.name
                                     << "\", FastPathRole::none, \"WHY NOT\", nullptr} (or its role and the factory of the stage that "
                                     << "serves it) to kFastPathTable in src/engine/onednn/stage_table.cpp";
        if (decision != nullptr) {
            EXPECT_FALSE(decision->how.empty()) << type.name << ": say what serves it, or why nothing does, in its kFastPathTable row";
        }
    }
    for (const engine::onednn::FastPathDecision& decision : engine::onednn::fast_path_table())
        EXPECT_NE(find_layer_type(decision.type), nullptr)
            << "kFastPathTable (src/engine/onednn/stage_table.cpp) has a row for '" << decision.type
            << "', which no row of src/nn/layer_registry.cpp names: remove it or correct its name";
    EXPECT_EQ(engine::onednn::fast_path_decision("no such layer"), nullptr);
}

// The backend table: the network takes the first backend that runs every layer, and can be told
// which to use by name.
TEST(Backends, TheNetworkChoosesAndSwitchesByName) {
    ASSERT_GE(backends().size(), 2u);
    EXPECT_EQ(backends().back().name, "reference");
    Network network(parse_model("input 1x8x8\nconv2d out=2 kernel=3\nrelu\nflatten\nlinear out=3\n", "m.model"));
    EXPECT_EQ(network.backend(), "onednn");
    EXPECT_TRUE(network.fast_path());
    network.set_backend("reference");
    EXPECT_FALSE(network.fast_path());
    EXPECT_EQ(network.backend(), "reference");
    network.set_backend("onednn");
    EXPECT_TRUE(network.fast_path());
    // onednn-only: chosen by name alone, the fast path without our kernels.
    network.set_backend("onednn-only");
    EXPECT_TRUE(network.fast_path());
    EXPECT_EQ(network.backend(), "onednn-only");
    expect_error([&] { network.set_backend("cudnn"); }, {"backend 'cudnn'", "onednn, onednn-only, reference"});

    Network pooled(parse_model("input 1x8x8\nl2pool2d kernel=2\nflatten\nlinear out=3\n", "p.model"));
    EXPECT_EQ(pooled.backend(), "reference");
    EXPECT_NE(pooled.fast_path_unavailable().find("l2pool2d: no oneDNN primitive"), std::string::npos) << pooled.fast_path_unavailable();
    expect_error([&] { pooled.set_backend("onednn"); }, {"p.model: the onednn backend cannot run this model", "l2pool2d"});
}

}  // namespace
}  // namespace convnet::testing
