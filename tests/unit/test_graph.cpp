// Model files that name their inputs (from=): planning, the errors for every way a graph can be
// wrong, the model writer's round trip, and backward through branches and joins checked by
// finite differences on a whole network.
#include "test_support.h"

#include <convnet/nn/network.h>
#include <convnet/inspect/summary.h>
#include <convnet/train/trainer.h>

#include <gtest/gtest.h>

#include <cmath>

namespace convnet {
namespace {

using testing::expect_error;

// A residual block (conv-bn-relu-conv-bn, add the block's input, relu) and a concatenation skip,
// small enough for finite differences.
const char* const kResidualModel =
    "input 2x6x6\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "relu name=stem\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "batchnorm2d\n"
    "relu\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "batchnorm2d\n"
    "add from=bn2,stem name=block\n"
    "relu\n"
    "concat from=relu2,input\n"
    "avgpool2d kernel=2\n"
    "flatten\n"
    "linear out=3\n";

std::vector<LayerPlan> plans_of(const std::string& text) { return plan_model(parse_model(text, "g.model")); }

TEST(Graph, FromNamesTheInputsAndShapesFollow) {
    const std::vector<LayerPlan> plans = plans_of(kResidualModel);
    ASSERT_EQ(plans.size(), 13u);
    EXPECT_EQ(plans[0].inputs, std::vector<int>{kNetworkInput});
    EXPECT_EQ(plans[2].inputs, std::vector<int>{1});  // the line above
    EXPECT_EQ(plans[7].name, "block");
    EXPECT_EQ(plans[7].inputs, (std::vector<int>{6, 1}));  // bn2, stem
    EXPECT_EQ(plans[7].output, (Shape{1, 4, 6, 6}));
    EXPECT_EQ(plans[9].inputs, (std::vector<int>{8, kNetworkInput}));
    EXPECT_EQ(plans[9].input_shapes, (std::vector<Shape>{Shape{1, 4, 6, 6}, Shape{1, 2, 6, 6}}));
    EXPECT_EQ(plans[9].output, (Shape{1, 6, 6, 6}));  // 4 + 2 channels, as torch.cat(dim=1)
    EXPECT_EQ(plans.back().output, (Shape{1, 3}));
}

TEST(Graph, EveryWayAGraphCanBeWrongIsNamed) {
    const std::string head = "input 1x8x8\nconv2d out=2 kernel=3 pad=1\nrelu\n";
    expect_error([&] { plans_of(head + "add from=relu1,nothing\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "from=nothing", "no layer of that name above this line", "it may read: input, conv1, relu1"});
    expect_error([&] { plans_of(head + "add from=relu1,conv11\nflatten\nlinear out=2\n"); }, {"g.model:4", "(did you mean conv1?)"});
    expect_error([&] { plans_of(head + "add\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "add reads 2 or more inputs; without from= it reads only the line above"});
    expect_error([] { parse_model("input 1x8x8\nrelu\nadd from=relu1, input\n", "g.model"); }, {"g.model:3", "no space after a comma"});
    // An automatic name that collides with a name= above says so.
    expect_error([] { plans_of("input 1x8x8\nconv2d out=2 kernel=1 name=conv2\nconv2d out=2 kernel=1\nconv2d out=2 kernel=1\n"); },
                 {"g.model:4", "'conv2' is used twice (first at line 2)", "automatic name"});
    expect_error([&] { plans_of(head + "add from=relu1,fc1\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "from=fc1", "defined later, at line 6", "move this line below"});
    expect_error([&] { plans_of(head + "add from=relu1,me name=me\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "from=me", "cannot read its own output"});
    expect_error([&] { plans_of(head + "add from=relu1,input\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "add: input 2 is 1x1x8x8 but input 1 is 1x2x8x8", "relu1 gives 1x2x8x8", "input gives 1x1x8x8"});
    expect_error([&] { plans_of(head + "concat from=relu1,flatten1\nflatten\nlinear out=2\n"); }, {"g.model:4", "defined later"});
    expect_error([&] { plans_of(head + "flatten name=f\nconcat from=f,relu1\nlinear out=2\n"); },
                 {"g.model:5", "concat: input 2 is 1x2x8x8 but input 1 is 1x128", "f gives 1x128", "relu1 gives 1x2x8x8"});
    expect_error([&] { plans_of(head + "add from=relu1\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "add reads 2 or more inputs", "names 1"});
    expect_error([&] { plans_of(head + "conv2d out=2 kernel=1 from=relu1,conv1\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "conv2d reads one input, from= names 2", "join them first with add or concat"});
    // conv2's output is read by nobody: relu2 reads conv1 instead.
    expect_error([&] { plans_of(head + "conv2d out=2 kernel=1\nrelu from=conv1\nflatten\nlinear out=2\n"); },
                 {"g.model:4", "output of 'conv2' is never read", "fc1"});
    expect_error([] { parse_model("input 1x8x8\nrelu name=input\n", "g.model"); }, {"g.model:2", "name=input is the network's input"});
    expect_error([] { parse_model("input 1x8x8\nrelu from=a,,b\n", "g.model"); }, {"g.model:2", "from=a,,b", "separated by commas"});
    expect_error([] { parse_model("input 1x8x8\nrelu from=a from=b\n", "g.model"); }, {"g.model:2", "from= given twice"});
    expect_error([] { plans_of("input 1x8x8\nrelu name=x\nrelu name=x\n"); }, {"g.model:3", "'x' is used twice", "line 2"});
}

TEST(Graph, FormatModelWritesFromAndParsesBack) {
    const std::vector<LayerPlan> plans = plans_of(kResidualModel);
    const std::string written = format_model(plans, Shape{2, 6, 6});
    EXPECT_NE(written.find("add from=bn2,stem name=block\n"), std::string::npos) << written;
    EXPECT_NE(written.find("concat from=relu2,input\n"), std::string::npos) << written;
    EXPECT_EQ(written.find("relu from="), std::string::npos) << written;  // lines reading the line above write no from=
    const std::vector<LayerPlan> reread = plans_of(written);
    ASSERT_EQ(reread.size(), plans.size());
    for (std::size_t i = 0; i < plans.size(); ++i) {
        EXPECT_EQ(reread[i].name, plans[i].name);
        EXPECT_EQ(reread[i].inputs, plans[i].inputs) << plans[i].name;
        EXPECT_EQ(reread[i].output, plans[i].output) << plans[i].name;
    }
    EXPECT_EQ(format_model(reread, Shape{2, 6, 6}), written);
}

// The same graph with tanh for relu: smooth everywhere, so finite differences over a whole
// network do not step across a kink.
const char* const kSmoothResidualModel =
    "input 2x6x6\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "tanh name=stem\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "batchnorm2d\n"
    "tanh\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "batchnorm2d\n"
    "add from=bn2,stem,bn2 name=block\n"
    "tanh\n"
    "concat from=tanh2,input,stem\n"
    "avgpool2d kernel=2\n"
    "flatten\n"
    "linear out=3\n";

// Backward through the graph: an output read by several layers (stem: by conv2, the add and the
// concat; bn2 twice by the add) gets the sum of their gradients, which the finite differences of
// the whole network's loss see.
TEST(Graph, BackwardThroughBranchesMatchesFiniteDifferences) {
    Network network(parse_model(kSmoothResidualModel, "g.model"));
    network.set_backend("reference");
    network.initialize(5);
    Random random(11);
    Tensor images(Shape{3, 2, 6, 6}), weights(Shape{3, 3});
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = random.uniform(-1.0f, 1.0f);
    for (std::int64_t i = 0; i < weights.size(); ++i) weights[i] = random.uniform(-1.0f, 1.0f);
    auto loss = [&] {
        const Tensor& logits = network.forward_train(images);
        double sum = 0.0;
        for (std::int64_t i = 0; i < logits.size(); ++i) sum += double(logits[i]) * weights[i];
        return sum;
    };
    loss();
    network.backward(weights);
    const std::span<float> gradients = network.gradients();
    const std::vector<float> analytic(gradients.begin(), gradients.end());
    const std::span<float> values = network.trainable_values();
    int checked = 0, failed = 0;
    for (std::size_t i = 0; i < values.size(); i += 7, ++checked) {
        const float saved = values[i];
        const double step = 1e-2;
        values[i] = saved + static_cast<float>(step);
        const double plus = loss();
        values[i] = saved - static_cast<float>(step);
        const double minus = loss();
        values[i] = saved;
        const double numeric = (plus - minus) / (2 * step);
        if (std::abs(numeric - analytic[i]) > 2e-3 + 2e-2 * std::abs(numeric))
            ADD_FAILURE() << "parameter value " << i << ": analytic " << analytic[i] << " numeric " << numeric << " (" << ++failed << ")";
    }
    EXPECT_GT(checked, 50);
    // The branch before the add really gets two gradients: zeroing the shortcut's changes them.
    EXPECT_NE(analytic[0], 0.0f);
}

TEST(Graph, EvaluationAndObserverFollowTheGraph) {
    Network network(parse_model(kResidualModel, "g.model"));
    network.initialize(2);
    Tensor images(Shape{2, 2, 6, 6});
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>((i * 37) % 11) / 11.0f;
    Tensor logits, observed;
    network.predict(images, logits);
    std::vector<std::string> names;
    network.observe(images, observed, [&](std::size_t, const LayerPlan& plan, const Tensor& output) {
        EXPECT_EQ(output.shape(), plan.output.with_batch(2)) << plan.name;
        names.push_back(plan.name);
    });
    EXPECT_EQ(names.size(), 13u);
    ASSERT_EQ(observed.shape(), logits.shape());
    // observe runs the reference layers, predict the fast path: equal up to summation order.
    for (std::int64_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(observed[i], logits[i], 1e-5f + 1e-4f * std::abs(logits[i]));
    EXPECT_EQ(network.backend(), "onednn") << network.fast_path_unavailable();  // graphs run on the fast path too
}

// A small U-Net: two steps down, one up by convtranspose2d and one by upsample2d, concat skips,
// and a per-pixel output.
const char* const kUnetModel =
    "input 1x8x8\n"
    "conv2d out=4 kernel=3 pad=1\n"
    "relu name=enc1\n"
    "maxpool2d kernel=2\n"
    "conv2d out=8 kernel=3 pad=1\n"
    "relu name=enc2\n"
    "maxpool2d kernel=2\n"
    "conv2d out=8 kernel=3 pad=1\n"
    "relu\n"
    "convtranspose2d out=8 kernel=2 stride=2\n"
    "concat from=deconv1,enc2\n"
    "conv2d out=8 kernel=3 pad=1\n"
    "relu\n"
    "upsample2d scale=2 mode=bilinear\n"
    "concat from=upsample1,enc1\n"
    "conv2d out=3 kernel=1\n";

TEST(Graph, SummaryWorksOutTransposedAndUpsampledSizes) {
    const ModelSummary summary = summarize_model(parse_model(kUnetModel, "unet.model"));
    ASSERT_EQ(summary.rows.size(), 15u);
    EXPECT_EQ(summary.rows[8].name, "deconv1");
    EXPECT_EQ(summary.rows[8].formula, "(2 − 1)·2 − 2·0 + 1·(2 − 1) + 0 + 1 = 4");
    EXPECT_EQ(summary.rows[8].trainable_parameters, 8 * 8 * 2 * 2 + 8);  // weight (in, out, 2, 2) and bias
    EXPECT_EQ(summary.rows[9].output, (Shape{1, 16, 4, 4}));
    EXPECT_EQ(summary.rows[12].name, "upsample1");
    EXPECT_EQ(summary.rows[12].formula, "4·2 = 8");
    EXPECT_EQ(summary.rows[12].multiply_adds, 8 * 8 * 8 * 4);    // bilinear: 4 per output value
    EXPECT_EQ(summary.rows.back().output, (Shape{1, 3, 8, 8}));  // one score per class per pixel
}

// A per-pixel network builds and runs; training it on image-level labels is refused, naming why.
TEST(Graph, PerPixelOutputsAreRefusedForImageLabels) {
    Network network(parse_model(kUnetModel, "unet.model"));
    network.initialize(1);
    Tensor images(Shape{2, 1, 8, 8}), logits;
    images.fill(0.5f);
    network.predict(images, logits);
    EXPECT_EQ(logits.shape(), (Shape{2, 3, 8, 8}));
    Dataset data;
    data.count = 1;
    data.height = data.width = 8;
    data.images.assign(64, 0);
    data.labels.assign(1, 0);
    expect_error([&] { evaluate(network, data, 1); }, {"unet.model", "scores per pixel", "one label per image", "globalavgpool2d"});
}

TEST(Graph, SummaryListsWhatEachLayerReads) {
    const ModelSummary summary = summarize_model(parse_model(kResidualModel, "g.model"));
    EXPECT_EQ(summary.rows[7].inputs, (std::vector<std::string>{"bn2", "stem"}));
    EXPECT_EQ(summary.rows[9].inputs, (std::vector<std::string>{"relu2", "input"}));
    const std::string text = format_summary_text(summary);
    EXPECT_NE(text.find("reads"), std::string::npos) << text;
    EXPECT_NE(text.find("bn2, stem"), std::string::npos) << text;
    EXPECT_NE(text.find("6×6×4 + 6×6×2"), std::string::npos) << text;
    // While the block runs, stem (kept for the add) is alive beside bn2's input and output:
    // the most alive at once exceeds any one input + output pair (144 + 144 floats).
    EXPECT_GE(summary.totals.forward_activation_bytes, (144 * 3) * 4);
    EXPECT_NE(format_summary_json(summary).find("\"inputs\""), std::string::npos);
}

}  // namespace
}  // namespace convnet
