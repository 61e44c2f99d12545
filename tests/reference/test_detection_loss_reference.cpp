// Agreement with torch 1.13: detection_loss (include/convnet/nn/detection_loss.h) against the same loss
// written again in torch on the cases scripts/make_reference.py writes (its DETECTION_LOSS_CASES):
// the value, every element of d(loss)/d(head), and the counts (assigned cells, correct, D).
// Tolerances as the cross-entropy cases' (docs/REFERENCE_TESTS.md, "The loss").
#include "npy.h"

#include <convnet/nn/detection_loss.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace convnet::testing::detection_loss_reference {
namespace {

// The loss computes in double and rounds only the gradient to float32, as softmax_cross_entropy:
// the loss is held to |a − b| / max(|b|, 1), each gradient element to |a − b| / max(|b|, 1e-3·max|b|).
constexpr double kDetectionLossTolerance = 1e-6;
constexpr double kDetectionLossGradientFloor = 1e-3;

std::filesystem::path detection_loss_reference_dir() {
    if (const char* dir = std::getenv("CONVNET_REFERENCE_DIR")) return dir;
    return std::filesystem::path(CONVNET_BINARY_DIR) / "reference";
}

// detection_losses.txt: '#' comments, then "NAME N×C×GH×GW objects=M assigned=P box_weight=…
// objectness_weight=… class_weight=…" a case.
struct DetectionLossCase {
    std::string name;
    std::vector<std::int64_t> shape;  // the head: (N, 5 + K, GH, GW)
    DetectionLossOptions options;
    std::string unknown;  // options this test does not know (failed in the test, not while listing)
};

struct DetectionLossIndex {
    std::vector<DetectionLossCase> cases;
    bool found = false;  // detection_losses.txt exists
};

DetectionLossIndex read_detection_loss_index() {
    DetectionLossIndex index;
    std::ifstream stream(detection_loss_reference_dir() / "detection_losses.txt");
    index.found = static_cast<bool>(stream);
    for (std::string line; std::getline(stream, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        DetectionLossCase c;
        std::string shape;
        words >> c.name >> shape;
        for (std::size_t start = 0;;) {
            const std::size_t separator = shape.find('x', start);
            c.shape.push_back(std::stoll(shape.substr(start, separator - start)));
            if (separator == std::string::npos) break;
            start = separator + 1;
        }
        for (std::string word; words >> word;) {
            const std::size_t equals = word.find('=');
            const std::string key = word.substr(0, equals), value = word.substr(equals + 1);
            if (key == "box_weight") c.options.box_weight = std::stod(value);
            else if (key == "objectness_weight") c.options.objectness_weight = std::stod(value);
            else if (key == "class_weight") c.options.class_weight = std::stod(value);
            else if (key != "objects" && key != "assigned") c.unknown += (c.unknown.empty() ? "" : " ") + word;
        }
        index.cases.push_back(c);
    }
    return index;
}

std::vector<DetectionLossCase> detection_loss_cases() { return read_detection_loss_index().cases; }

std::string detection_shape_text(const std::vector<std::int64_t>& dims) {
    std::string text;
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i) text += 'x';
        text += std::to_string(dims[i]);
    }
    return text;
}

void PrintTo(const DetectionLossCase& c, std::ostream* out) {
    *out << c.name << ": head " << detection_shape_text(c.shape) << ", gains box " << c.options.box_weight << " objectness "
         << c.options.objectness_weight << " class " << c.options.class_weight;
}

// The worst errors over the cases, printed at the end of the run.
std::map<std::string, double>& worst_detection_loss_errors() {
    static std::map<std::string, double> worst;
    return worst;
}

class DetectionLossErrorReport : public ::testing::Environment {
public:
    void TearDown() override {
        if (worst_detection_loss_errors().empty()) return;
        std::cout << "[ reference ] detection-loss cases, worst error seen (tolerance " << kDetectionLossTolerance << "):\n";
        for (const auto& [key, error] : worst_detection_loss_errors())
            std::cout << "[ reference ]   " << std::setw(52) << std::left << key << error << "\n";
    }
};
[[maybe_unused]] ::testing::Environment* const kDetectionLossReport = ::testing::AddGlobalTestEnvironment(new DetectionLossErrorReport);

TEST(ReferenceCases, DetectionLossCasesExist) {
    const DetectionLossIndex index = read_detection_loss_index();
    ASSERT_TRUE(index.found) << detection_loss_reference_dir() / "detection_losses.txt"
                             << " is missing: the build runs scripts/make_reference.py (needs python3-torch); see docs/REFERENCE_TESTS.md";
    EXPECT_FALSE(index.cases.empty()) << (detection_loss_reference_dir() / "detection_losses.txt").string() << " lists no case";
}

class DetectionLossReference : public ::testing::TestWithParam<DetectionLossCase> {};

TEST_P(DetectionLossReference, MatchesTorch) {
    const DetectionLossCase& c = GetParam();
    const std::filesystem::path folder = detection_loss_reference_dir() / "detection_losses" / c.name;
    std::ostringstream trace;
    PrintTo(c, &trace);
    SCOPED_TRACE(trace.str());
    ASSERT_EQ(c.unknown, "") << "detection_losses.txt options this test does not read";

    const NpyArray head_values = read_npy(folder / "head.npy");
    ASSERT_EQ(detection_shape_text(head_values.shape), detection_shape_text(c.shape)) << "head.npy";
    Tensor head{Shape(head_values.shape)};
    for (std::int64_t i = 0; i < head_values.size(); ++i) head[i] = static_cast<float>(head_values.values[static_cast<std::size_t>(i)]);
    const NpyArray corner_values = read_npy(folder / "objects.npy"), label_values = read_npy(folder / "labels.npy"),
                   offset_values = read_npy(folder / "offsets.npy");
    const std::size_t object_count = label_values.values.size();
    ASSERT_EQ(corner_values.values.size(), 4 * object_count) << "objects.npy " << corner_values.shape_text();
    std::vector<ObjectBox> objects(object_count);
    for (std::size_t o = 0; o < object_count; ++o) {
        const double* corners = corner_values.values.data() + 4 * o;
        objects[o].box = {static_cast<float>(corners[0]), static_cast<float>(corners[1]), static_cast<float>(corners[2]),
                          static_cast<float>(corners[3])};
        objects[o].label = static_cast<int>(label_values.values[o]);
    }
    std::vector<std::int64_t> offsets;
    for (const double offset : offset_values.values) offsets.push_back(static_cast<std::int64_t>(offset));

    Tensor grad_head;
    const LossResult result = detection_loss(head, objects, offsets, &grad_head, c.options);

    const double expected_loss = read_npy(folder / "loss.npy").values.at(0);
    const double loss_error = std::abs(result.loss - expected_loss) / std::max(std::abs(expected_loss), 1.0);
    double& worst_loss = worst_detection_loss_errors()["loss |a - b| / max(|b|, 1)"];
    worst_loss = std::max(worst_loss, std::isnan(loss_error) ? INFINITY : loss_error);
    EXPECT_LE(loss_error, kDetectionLossTolerance) << std::setprecision(17) << "loss: ours " << result.loss << " torch " << expected_loss;

    const NpyArray counts = read_npy(folder / "counts.npy");  // assigned cells, those whose largest class score is right, D
    ASSERT_EQ(counts.size(), 3);
    EXPECT_EQ(result.counted, static_cast<std::int64_t>(counts.values[0])) << "cells assigned an object";
    EXPECT_EQ(result.correct, static_cast<std::int64_t>(counts.values[1])) << "assigned cells whose largest class score is the object's class";
    EXPECT_EQ(result.denominator, counts.values[2]) << "D = max(assigned, 1)";

    const NpyArray expected = read_npy(folder / "grad_head.npy");
    ASSERT_EQ(detection_shape_text(grad_head.shape().dims()), detection_shape_text(expected.shape)) << "grad_head: our shape vs torch's";
    double scale = 0.0;
    for (const double value : expected.values) scale = std::max(scale, std::abs(value));
    double max_relative = 0.0, max_absolute = 0.0;
    std::int64_t worst = 0;
    for (std::int64_t i = 0; i < expected.size(); ++i) {
        const double reference = expected.values[static_cast<std::size_t>(i)];
        const double difference = std::abs(double(grad_head[i]) - reference);
        const double relative = difference / std::max(std::abs(reference), kDetectionLossGradientFloor * scale);
        if (!(relative <= max_relative)) worst = i;  // also catches NaN
        max_relative = std::isnan(relative) ? INFINITY : std::max(max_relative, relative);
        max_absolute = std::isnan(difference) ? INFINITY : std::max(max_absolute, difference);
    }
    double& worst_relative = worst_detection_loss_errors()["grad_head |a - b| / max(|b|, 1e-3 max|b|)"];
    worst_relative = std::max(worst_relative, max_relative);
    double& worst_absolute = worst_detection_loss_errors()["grad_head |a - b|"];
    worst_absolute = std::max(worst_absolute, max_absolute);
    if (max_relative > kDetectionLossTolerance) {
        // The element's place in (N, C, GH, GW): which image, channel (0-3 box, 4 objectness, 5+ classes) and cell.
        const auto place = [&](std::int64_t i) {
            const std::int64_t width = c.shape[3], height = c.shape[2], channels = c.shape[1];
            std::ostringstream text;
            text << "[" << i << "] (n " << i / (channels * height * width) << ", channel " << i / (height * width) % channels << ", cell "
                 << i / width % height << "," << i % width << ")";
            return text.str();
        };
        std::ostringstream values;
        values << std::setprecision(10);
        for (std::int64_t i = 0; i < std::min<std::int64_t>(expected.size(), 6); ++i)
            values << "  " << place(i) << " ours " << grad_head[i] << " torch " << expected.values[static_cast<std::size_t>(i)] << "\n";
        values << "  worst " << place(worst) << " ours " << grad_head[worst] << " torch " << expected.values[static_cast<std::size_t>(worst)]
               << "\n";
        ADD_FAILURE() << "grad_head: max error " << max_relative << " > " << kDetectionLossTolerance << ", max |difference| " << max_absolute
                      << " over " << expected.size() << " values\n"
                      << values.str();
    }
}

INSTANTIATE_TEST_SUITE_P(DetectionLosses, DetectionLossReference, ::testing::ValuesIn(detection_loss_cases()),
                         [](const ::testing::TestParamInfo<DetectionLossCase>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DetectionLossReference);

}  // namespace
}  // namespace convnet::testing::detection_loss_reference
