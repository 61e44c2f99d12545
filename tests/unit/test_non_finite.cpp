// NaN and infinities show where PyTorch shows them. A field report: one NaN bias (the weights of
// tests/cases/nan_through_relu.*) makes PyTorch's logits NaN for any image, while convnet printed
// clean probabilities on both backends (ReLU mapped NaN to 0, max pooling skipped it). The
// per-layer agreement with torch on inputs holding NaN and ±inf is in the reference cases
// (*_nonfinite); here, the whole network on both backends, the weights file, and argmax.
#include <convnet/io/weights.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/core/random.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace convnet {
namespace {

const std::string kCases = std::string(CONVNET_SOURCE_DIR) + "/tests/cases/";

TEST(NonFinite, ANanBiasMakesEveryLogitNanOnBothBackends) {
    Network network(read_model_file(kCases + "nan_through_relu.model"));
    const std::vector<std::string> report = load_weights(network, kCases + "nan_through_relu.weights");
    ASSERT_EQ(report.size(), 1u);
    EXPECT_EQ(report[0], "conv1.bias: 1 NaN, 0 infinite of 2 values");
    Tensor images(Shape{3, 1, 28, 28});
    Random random(4);
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = random.uniform(0.0f, 1.0f);
    for (bool fast : {true, false}) {
        if (!fast) network.set_backend("reference");
        Tensor logits;
        network.predict(images, logits);
        ASSERT_EQ(logits.size(), 30);
        for (std::int64_t i = 0; i < logits.size(); ++i)
            EXPECT_TRUE(std::isnan(logits[i])) << (fast ? "fast" : "reference") << " [" << i << "]";
        const std::vector<std::uint8_t> labels{0, 1, 2};
        Tensor grad;
        const LossResult loss = softmax_cross_entropy(logits, labels, &grad);
        EXPECT_TRUE(std::isnan(loss.loss));
        EXPECT_EQ(loss.correct, 1);  // torch.argmax of an all-NaN row is 0: only label 0 counts as right
    }
}

// A negative running variance: its square root is NaN in PyTorch and in the reference batch norm;
// oneDNN's gave a finite answer until such parameters were kept off the fast path.
TEST(NonFinite, ANegativeRunningVarianceGivesNanOnBothBackends) {
    Network network(read_model_file(std::string(CONVNET_SOURCE_DIR) + "/models/convnet1.model"));
    network.initialize(2);
    for (const NamedParameter& entry : network.named_buffers())
        if (entry.name == "bn1.running_var") entry.parameter->value[0] = -1.0f;
    network.parameters_changed();
    Tensor images(Shape{2, 1, 28, 28});
    images.fill(0.5f);
    for (bool fast : {true, false}) {
        if (!fast) network.set_backend("reference");
        Tensor logits;
        network.predict(images, logits);
        for (std::int64_t i = 0; i < logits.size(); ++i)
            EXPECT_TRUE(std::isnan(logits[i])) << (fast ? "fast" : "reference") << " [" << i << "]";
    }
    const std::filesystem::path path = std::filesystem::temp_directory_path() / "convnet_negative_variance.bin";
    save_weights(network, path);
    const std::vector<std::string> report = load_weights(network, path);
    std::filesystem::remove(path);
    ASSERT_EQ(report.size(), 1u);
    EXPECT_EQ(report[0], "bn1.running_var: 1 negative of 16 values (a variance cannot be negative)");
}

TEST(NonFinite, ArgmaxRanksNanFirstAsTorchDoes) {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const float plain[] = {0.1f, 0.7f, 0.7f, 0.2f};
    EXPECT_EQ(argmax(plain, 4), 1);  // the first maximum
    const float with_nan[] = {0.1f, 0.9f, nan, nan};
    EXPECT_EQ(argmax(with_nan, 4), 2);
    const float with_inf[] = {-inf, 3.0f, inf};
    EXPECT_EQ(argmax(with_inf, 3), 2);
    const float nan_first[] = {nan, inf};
    EXPECT_EQ(argmax(nan_first, 2), 0);
}

TEST(NonFinite, FiniteWeightsReportNothing) {
    Network network(read_model_file(kCases + "nan_through_relu.model"));
    network.initialize(1);
    const std::filesystem::path path = std::filesystem::temp_directory_path() / "convnet_non_finite_clean.bin";
    save_weights(network, path);
    EXPECT_TRUE(load_weights(network, path).empty());
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace convnet
