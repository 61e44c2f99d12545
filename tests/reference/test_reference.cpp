// Agreement with PyTorch: every layer on the cases scripts/make_reference.py writes (forward in
// training and evaluation mode, input and parameter gradients, running statistics), whole
// networks over a few optimiser steps, and the cross-entropy loss with class weights and
// ignore_index. What is compared and why the tolerances: docs/REFERENCE_TESTS.md.
#include "../unit/layer_harness.h"
#include "../unit/test_support.h"
#include "npy.h"

#include <convnet/nn/loss.h>
#include <convnet/train/optim.h>

#include <convnet/nn/layer_registry.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

namespace convnet::testing {
namespace {

// Max relative error allowed on every compared tensor. The reference is computed in float64
// from the same float32 inputs, so the error is our float32 rounding alone.
constexpr double kTolerance = 1e-4;
// Relative error |a − b| / max(|b|, kFloorFraction·max|b|, kAbsoluteFloor): elements near zero
// (where a relative error means nothing) are measured against the tensor's scale instead.
// 1e-2: a float32 sum of hundreds of terms has an absolute error of ~1e-6 of the tensor's scale
// (PyTorch's own float32 conv2d results fail a 1e-3 floor against float64 here, at 1.7e-4).
constexpr double kFloorFraction = 1e-2;
constexpr double kAbsoluteFloor = 1e-6;
// Our gradient where PyTorch's is zero must be rounding noise: at most this fraction of the
// network's largest gradient.
constexpr double kZeroGradientNoise = 1e-5;

std::filesystem::path reference_dir() {
    if (const char* dir = std::getenv("CONVNET_REFERENCE_DIR")) return dir;
    return std::filesystem::path(CONVNET_BINARY_DIR) / "reference";
}

std::string dims_text(const std::vector<std::int64_t>& dims) {
    std::string text;
    for (std::size_t i = 0; i < dims.size(); ++i) {
        if (i) text += 'x';
        text += std::to_string(dims[i]);
    }
    return text.empty() ? "scalar" : text;
}

struct Comparison {
    double max_relative = 0.0, max_absolute = 0.0;
    std::int64_t worst_index = 0;
};

enum class Metric {
    relative,  // |a − b| / max(|b|, kFloorFraction·max|b|, kAbsoluteFloor): layers and losses
    within,    // |a − b| / max(|b|, 1): networks, "the values agree within 1e-4"
    update,    // (|a − b| − steps·2⁻²³|b|)⁺ / max|b − initial|: networks after SGD, "the training
               // moved the tensor as PyTorch's did, to 1e-4 of the distance it moved", less the
               // rounding of float32 storage (at most an ulp, 2⁻²³|b|, per step)
};

const char* metric_text(Metric metric) {
    switch (metric) {
        case Metric::relative:
            return "relative error";
        case Metric::within:
            return "error |a - b| / max(|b|, 1)";
        case Metric::update:
            return "error (|a - b| - steps ulp(b)) / max|b - initial|";
    }
    return "";
}

// `initial` and `steps` are needed by Metric::update only.
Comparison compare(const float* actual, const NpyArray& expected, Metric metric, const NpyArray* initial = nullptr, int steps = 0) {
    double scale = 0.0;
    for (std::int64_t i = 0; i < expected.size(); ++i) {
        const double reference = metric == Metric::update ? initial->values[static_cast<std::size_t>(i)] : 0.0;
        const double change = std::abs(expected.values[static_cast<std::size_t>(i)] - reference);
        if (std::isfinite(change)) scale = std::max(scale, change);
    }
    const double floor = metric == Metric::within   ? 1.0
                         : metric == Metric::update ? std::max(scale, 1e-30)
                                                    : std::max(kFloorFraction * scale, kAbsoluteFloor);
    const bool elementwise = metric != Metric::update;
    Comparison result;
    for (std::int64_t i = 0; i < expected.size(); ++i) {
        const double expected_value = expected.values[static_cast<std::size_t>(i)];
        // NaN and infinities must be where PyTorch has them, with the same sign: nothing else.
        if (!std::isfinite(expected_value) || !std::isfinite(actual[i])) {
            const bool same = std::isnan(expected_value) ? std::isnan(actual[i]) : double(actual[i]) == expected_value;
            if (!same) {
                if (std::isfinite(result.max_relative)) result.worst_index = i;
                result.max_relative = INFINITY;
            }
            continue;
        }
        const double difference = std::abs(double(actual[i]) - expected_value);
        const double storage = metric == Metric::update ? steps * std::ldexp(std::abs(expected_value), -23) : 0.0;
        const double relative = std::max(difference - storage, 0.0) / std::max(elementwise ? std::abs(expected_value) : 0.0, floor);
        if (!(relative <= result.max_relative)) result.worst_index = i;  // also catches nan
        result.max_relative = std::isnan(relative) ? INFINITY : std::max(result.max_relative, relative);
        result.max_absolute = std::max(result.max_absolute, difference);
    }
    return result;
}

// The worst relative error per layer type and tensor across all cases, printed at the end.
std::map<std::string, double>& worst_errors() {
    static std::map<std::string, double> worst;
    return worst;
}

class WorstErrorReport : public ::testing::Environment {
public:
    void TearDown() override {
        if (worst_errors().empty()) return;
        std::cout << "[ reference ] worst relative error seen (tolerance " << kTolerance << "):\n";
        for (const auto& [key, error] : worst_errors())
            std::cout << "[ reference ]   " << std::setw(52) << std::left << key << error << "\n";
    }
};
[[maybe_unused]] ::testing::Environment* const kReport = ::testing::AddGlobalTestEnvironment(new WorstErrorReport);

// Expects `actual` (shape `actual_shape`) to match `expected` within `tolerance`; on failure
// prints the max differences and the first values of both.
void expect_close(const std::string& group, const std::string& what, const float* actual, const std::vector<std::int64_t>& actual_shape,
                  const NpyArray& expected, Metric metric = Metric::relative, const NpyArray* initial = nullptr, int steps = 0) {
    const double tolerance = kTolerance;
    ASSERT_EQ(dims_text(actual_shape), dims_text(expected.shape)) << what << ": our shape vs PyTorch's";
    const Comparison result = compare(actual, expected, metric, initial, steps);
    double& worst = worst_errors()[group + " " + what.substr(0, what.find(" step")) +
                                   (metric == Metric::within   ? " (within)"
                                    : metric == Metric::update ? " (update)"
                                                               : "")];
    worst = std::max(worst, result.max_relative);
    if (result.max_relative <= tolerance) return;
    std::ostringstream values;
    values << std::setprecision(8);
    for (std::int64_t i = 0; i < std::min<std::int64_t>(expected.size(), 6); ++i)
        values << "  [" << i << "] ours " << actual[i] << " torch " << expected.values[static_cast<std::size_t>(i)] << "\n";
    const std::int64_t w = result.worst_index;
    values << "  worst [" << w << "] ours " << actual[w] << " torch " << expected.values[static_cast<std::size_t>(w)] << "\n";
    ADD_FAILURE() << what << ": max " << metric_text(metric) << " " << result.max_relative << " > " << tolerance << ", max |difference| "
                  << result.max_absolute << " over " << expected.size() << " values\n"
                  << values.str();
}

Tensor tensor_from(const NpyArray& array) {
    Tensor tensor{Shape(array.shape)};
    for (std::int64_t i = 0; i < array.size(); ++i) tensor[i] = static_cast<float>(array.values[static_cast<std::size_t>(i)]);
    return tensor;
}

void copy_into(const NpyArray& array, const Parameter& parameter, const std::string& file) {
    ASSERT_EQ(dims_text(parameter.shape.dims()), dims_text(array.shape)) << file << ": shape of " << parameter.name;
    for (std::int64_t i = 0; i < array.size(); ++i) parameter.value[i] = static_cast<float>(array.values[static_cast<std::size_t>(i)]);
}

std::vector<std::string> index_lines(const std::string& file) {
    std::vector<std::string> lines;
    std::ifstream stream(reference_dir() / file);
    for (std::string line; std::getline(stream, line);)
        if (!line.empty() && line[0] != '#') lines.push_back(line);
    return lines;
}

// ---------------------------------------------------------------------------------------------
// One layer: cases.txt lines "NAME NxCxHxW[,NxCxHxW...] MODEL-FILE LINE" (a join has several
// inputs: input.npy, input.1.npy ...).

struct LayerCase {
    std::string name, line;
    std::vector<std::vector<std::int64_t>> inputs;  // with batch
};

std::vector<LayerCase> layer_cases() {
    std::vector<LayerCase> cases;
    for (const std::string& text : index_lines("cases.txt")) {
        std::istringstream stream(text);
        LayerCase c;
        std::string shape;
        stream >> c.name >> shape;
        std::getline(stream >> std::ws, c.line);
        c.inputs.emplace_back();
        for (std::size_t start = 0;;) {
            const std::size_t separator = shape.find_first_of("x,", start);
            c.inputs.back().push_back(std::stoll(shape.substr(start, separator - start)));
            if (separator == std::string::npos) break;
            if (shape[separator] == ',') c.inputs.emplace_back();
            start = separator + 1;
        }
        cases.push_back(c);
    }
    return cases;
}

std::string inputs_text(const LayerCase& c) {
    std::string text;
    for (const auto& dims : c.inputs) text += (text.empty() ? "" : " and ") + dims_text(dims);
    return text;
}

void PrintTo(const LayerCase& c, std::ostream* out) { *out << c.name << ": " << c.line << " on " << inputs_text(c); }

class LayerReference : public ::testing::TestWithParam<LayerCase> {};

TEST(ReferenceCases, Exist) {
    EXPECT_FALSE(layer_cases().empty()) << reference_dir() / "cases.txt"
                                        << " is missing or empty: the build runs scripts/make_reference.py (needs python3-torch); "
                                           "see docs/REFERENCE_TESTS.md";
}

TEST_P(LayerReference, MatchesPyTorch) {
    const LayerCase& c = GetParam();
    const std::filesystem::path folder = reference_dir() / "layers" / c.name;
    const std::string group = c.line.substr(0, c.line.find(' '));
    SCOPED_TRACE(c.name + ": " + c.line + " on " + inputs_text(c));
    std::vector<Shape> samples;
    for (const auto& dims : c.inputs) samples.emplace_back(std::vector<std::int64_t>(dims.begin() + 1, dims.end()));
    BoundLayer bound = make_layer(c.line, samples);
    Layer& layer = bound.layer();

    // Every tensor PyTorch has must be one of ours, and the other way round.
    std::set<std::string> ours, theirs;
    for (const Parameter& parameter : layer.parameters()) ours.insert(parameter.name);
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
        const std::string file = entry.path().filename().string();
        if (file.rfind("param.", 0) == 0) theirs.insert(file.substr(6, file.size() - 6 - 4));
    }
    ASSERT_EQ(ours, theirs) << "parameter names: ours vs PyTorch's state_dict";
    for (const Parameter& parameter : layer.parameters())
        copy_into(read_npy(folder / ("param." + parameter.name + ".npy")), parameter, folder.string());

    // input.npy, input.1.npy ...: the first input's files keep the names one-input layers use.
    const auto suffix = [](std::size_t k) {
        std::string text;  // appended, not "." + ...: GCC 12 misreports that (-Wrestrict)
        if (k > 0) text.append(".").append(std::to_string(k));
        return text;
    };
    std::vector<Tensor> inputs;
    for (std::size_t k = 0; k < c.inputs.size(); ++k) {
        inputs.push_back(tensor_from(read_npy(folder / ("input" + suffix(k) + ".npy"))));
        ASSERT_EQ(dims_text(inputs.back().shape().dims()), dims_text(c.inputs[k]));
    }
    std::vector<const Tensor*> input_views;
    for (const Tensor& input : inputs) input_views.push_back(&input);

    Tensor output;
    layer.graph_forward(input_views, output);
    expect_close(group, "output_eval", output.data(), output.shape().dims(), read_npy(folder / "output_eval.npy"));

    layer.graph_forward_train(input_views, output);
    expect_close(group, "output", output.data(), output.shape().dims(), read_npy(folder / "output.npy"));
    const Tensor grad_output = tensor_from(read_npy(folder / "grad_output.npy"));
    ASSERT_EQ(dims_text(grad_output.shape().dims()), dims_text(output.shape().dims()));
    std::vector<Tensor> grad_inputs(inputs.size());
    std::vector<Tensor*> grad_views;
    for (Tensor& grad : grad_inputs) grad_views.push_back(&grad);
    layer.graph_backward(input_views, output, grad_output, grad_views);
    for (std::size_t k = 0; k < inputs.size(); ++k)
        expect_close(group, "grad_input" + suffix(k), grad_inputs[k].data(), grad_inputs[k].shape().dims(),
                     read_npy(folder / ("grad_input" + suffix(k) + ".npy")));
    for (const Parameter& parameter : layer.parameters()) {
        if (parameter.role == ParameterRole::trainable)
            expect_close(group, "grad." + parameter.name, parameter.grad, parameter.shape.dims(),
                         read_npy(folder / ("grad." + parameter.name + ".npy")));
        else
            expect_close(group, "after." + parameter.name, parameter.value, parameter.shape.dims(),
                         read_npy(folder / ("after." + parameter.name + ".npy")));
    }
}

INSTANTIATE_TEST_SUITE_P(Layers, LayerReference, ::testing::ValuesIn(layer_cases()),
                         [](const ::testing::TestParamInfo<LayerCase>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LayerReference);

// ---------------------------------------------------------------------------------------------
// Whole networks: networks.txt lines "NAME MODEL-FILE OPTIMISER steps=S batch=B key=value ...".

struct NetworkCase {
    std::string name, model, optimizer;
    std::map<std::string, double> options;
};

std::vector<NetworkCase> network_cases() {
    std::vector<NetworkCase> cases;
    for (const std::string& text : index_lines("networks.txt")) {
        std::istringstream stream(text);
        NetworkCase c;
        stream >> c.name >> c.model >> c.optimizer;
        for (std::string word; stream >> word;) {
            const std::size_t equals = word.find('=');
            c.options[word.substr(0, equals)] = std::stod(word.substr(equals + 1));
        }
        cases.push_back(c);
    }
    return cases;
}

void PrintTo(const NetworkCase& c, std::ostream* out) { *out << c.name << ": " << c.model << " with " << c.optimizer; }

class NetworkReference : public ::testing::TestWithParam<NetworkCase> {};

// Runs the case's steps on `network` (fast path on or off) and compares everything.
void check_network_case(const NetworkCase& c, bool fast_path) {
    const std::filesystem::path folder = reference_dir() / "networks" / c.name;
    Network network(read_model_file(std::filesystem::path(CONVNET_SOURCE_DIR) / c.model));
    if (!fast_path) network.set_backend("reference");
    const std::string path = network.fast_path() ? "fast path" : "reference layers";
    SCOPED_TRACE(c.name + ": " + c.model + " with " + c.optimizer + " on the " + path);
    if (fast_path && !network.fast_path()) GTEST_SKIP() << "no fast path for " << c.model << ": " << network.fast_path_unavailable();
    const std::string group = c.name + (fast_path ? " fast" : "");
    for (const NamedParameter& entry : parameters_and_buffers(network))
        copy_into(read_npy(folder / ("initial." + entry.name + ".npy")), *entry.parameter, folder.string());

    OptimizerOptions options;
    options.name = c.optimizer;
    options.learning_rate = c.options.at("lr");
    options.momentum = c.options.count("momentum") ? c.options.at("momentum") : 0.0;
    options.nesterov = c.options.count("nesterov") && c.options.at("nesterov") != 0.0;
    if (c.options.count("weight_decay")) options.weight_decay = c.options.at("weight_decay");
    const std::unique_ptr<Optimizer> optimizer = make_optimizer(options);

    const double label_smoothing = c.options.count("label_smoothing") ? c.options.at("label_smoothing") : 0.0;
    const auto steps = static_cast<int>(c.options.at("steps"));
    const NpyArray losses = read_npy(folder / "losses.npy");
    ASSERT_EQ(losses.size(), steps);
    // A parameter whose true gradient is zero (a conv bias right before batch norm, which removes
    // any constant) gets rounding noise as its gradient. Adam normalises that noise into steps of
    // about lr in any float32 implementation (PyTorch's float32 conv1.bias ends 4e-3 away from its
    // float64 one), and the batch norm's running mean inherits the drift. The float64 reference
    // keeps these parameters still; so do we, after checking that our gradient there is noise.
    std::set<std::string> zero_gradient;
    {
        std::ifstream list(folder / "zero_gradient.txt");
        for (std::string name; list >> name;) zero_gradient.insert(name);
    }
    std::vector<const Parameter*> zero_gradient_parameters;
    for (const NamedParameter& entry : network.named_parameters())
        if (zero_gradient.count(entry.name)) zero_gradient_parameters.push_back(entry.parameter);
    ASSERT_EQ(zero_gradient_parameters.size(), zero_gradient.size()) << folder / "zero_gradient.txt"
                                                                     << " names a parameter the model lacks";

    Tensor grad_logits;
    for (int step = 0; step < steps; ++step) {
        const std::string prefix = "batch" + std::to_string(step);
        const Tensor images = tensor_from(read_npy(folder / (prefix + ".images.npy")));
        const NpyArray label_values = read_npy(folder / (prefix + ".labels.npy"));
        std::vector<std::uint8_t> labels(label_values.values.begin(), label_values.values.end());
        const Tensor& logits = network.forward_train(images);
        const LossResult loss = softmax_cross_entropy(logits, labels, &grad_logits, label_smoothing);
        const float loss_value = static_cast<float>(loss.loss);
        expect_close(group, "loss step " + std::to_string(step), &loss_value, {},
                     NpyArray{{}, {losses.values[static_cast<std::size_t>(step)]}});
        network.backward(grad_logits);
        double largest = 0.0;
        for (float gradient : network.gradients()) largest = std::max(largest, double(std::abs(gradient)));
        for (const Parameter* parameter : zero_gradient_parameters)
            for (std::int64_t i = 0; i < parameter->shape.element_count(); ++i) {
                EXPECT_LE(std::abs(parameter->grad[i]), kZeroGradientNoise * largest)
                    << parameter->name << "[" << i << "] at step " << step << ": PyTorch's gradient is zero, ours is not noise";
                parameter->grad[i] = 0.0f;
            }
        optimizer->step(network.trainable_values(), network.gradients());
    }

    for (const NamedParameter& entry : parameters_and_buffers(network)) {
        const NpyArray expected = read_npy(folder / ("final." + entry.name + ".npy"));
        // Every value agrees within 1e-4. SGD's update is linear in the gradient, so it is held
        // to more: the distance each tensor moved agrees to 1e-4 of that distance. Adam divides
        // by sqrt(v) + eps, so where a gradient is near eps float32 rounding becomes ~1e-5 of
        // the value (PyTorch's own float32 run too): no finer check holds there.
        const NpyArray initial = read_npy(folder / ("initial." + entry.name + ".npy"));
        expect_close(group, "final." + entry.name, entry.parameter->value, entry.parameter->shape.dims(), expected, Metric::within);
        if (c.optimizer == "sgd" && !zero_gradient.count(entry.name))  // those stay put: nothing to measure against
            expect_close(group, "final." + entry.name, entry.parameter->value, entry.parameter->shape.dims(), expected, Metric::update,
                         &initial, steps);
    }

    const Tensor first_images = tensor_from(read_npy(folder / "batch0.images.npy"));
    Tensor logits;
    network.predict(first_images, logits);
    // Within 1e-4, not the layers' relative measure: a logit near zero is the cancellation of a
    // long chain of sums (measured: ~1e-6 of the largest logit on the fast path, 6.7e-5 relative
    // to a 1 % floor), and after Adam the logits also inherit the parameters' differences.
    expect_close(group, "final_eval_logits", logits.data(), logits.shape().dims(), read_npy(folder / "final_eval_logits.npy"),
                 Metric::within);
}

TEST_P(NetworkReference, MatchesPyTorchAfterOptimizerSteps) { check_network_case(GetParam(), true); }

TEST_P(NetworkReference, MatchesPyTorchWithReferenceLayers) { check_network_case(GetParam(), false); }

INSTANTIATE_TEST_SUITE_P(Networks, NetworkReference, ::testing::ValuesIn(network_cases()),
                         [](const ::testing::TestParamInfo<NetworkCase>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(NetworkReference);

// ---------------------------------------------------------------------------------------------
// The loss: losses.txt lines "NAME LOGITS-SHAPE weight=0|1 ignore_index=I label_smoothing=E", each
// torch.nn.CrossEntropyLoss(weight, ignore_index, label_smoothing, reduction="mean") on logits
// (N, K) or (N, K, H, W), in float64 from the float32 logits and weights convnet is given.

// softmax_cross_entropy computes in double and rounds only the gradient to float32 (2⁻²⁴ of each
// value), so 1e-6 leaves a margin of ~16 while a wrong factor or term is off by far more. The loss
// is held to |a − b| / max(|b|, 1); each gradient element to |a − b| / max(|b|, 1e-3·max|b|): its
// own size, except elements below 1e-3 of the tensor's largest (probabilities near 0), which are
// measured against that.
constexpr double kLossTolerance = 1e-6;
constexpr double kLossGradientFloor = 1e-3;

struct LossCase {
    std::string name;
    std::vector<std::int64_t> shape;  // logits: (N, K) or (N, K, H, W)
    bool weighted = false;
    int ignore_index = -1;
    double label_smoothing = 0.0;
    std::string unknown;  // options this test does not know (failed in the test, not while listing)
};

std::vector<LossCase> loss_cases() {
    std::vector<LossCase> cases;
    for (const std::string& text : index_lines("losses.txt")) {
        std::istringstream stream(text);
        LossCase c;
        std::string shape;
        stream >> c.name >> shape;
        for (std::size_t start = 0;;) {
            const std::size_t separator = shape.find('x', start);
            c.shape.push_back(std::stoll(shape.substr(start, separator - start)));
            if (separator == std::string::npos) break;
            start = separator + 1;
        }
        for (std::string word; stream >> word;) {
            const std::size_t equals = word.find('=');
            const std::string key = word.substr(0, equals), value = word.substr(equals + 1);
            if (key == "weight") c.weighted = value == "1";
            else if (key == "ignore_index") c.ignore_index = std::stoi(value);
            else if (key == "label_smoothing") c.label_smoothing = std::stod(value);
            else c.unknown += (c.unknown.empty() ? "" : " ") + word;
        }
        cases.push_back(c);
    }
    return cases;
}

void PrintTo(const LossCase& c, std::ostream* out) {
    *out << c.name << ": logits " << dims_text(c.shape) << (c.weighted ? ", class weights" : "") << ", ignore_index " << c.ignore_index
         << ", label_smoothing " << c.label_smoothing;
}

// The worst errors over the loss cases, printed at the end (their tolerance is not the layers').
std::map<std::string, double>& worst_loss_errors() {
    static std::map<std::string, double> worst;
    return worst;
}

class LossErrorReport : public ::testing::Environment {
public:
    void TearDown() override {
        if (worst_loss_errors().empty()) return;
        std::cout << "[ reference ] loss cases, worst error seen (tolerance " << kLossTolerance << "):\n";
        for (const auto& [key, error] : worst_loss_errors())
            std::cout << "[ reference ]   " << std::setw(52) << std::left << key << error << "\n";
    }
};
[[maybe_unused]] ::testing::Environment* const kLossReport = ::testing::AddGlobalTestEnvironment(new LossErrorReport);

class LossReference : public ::testing::TestWithParam<LossCase> {};

TEST(ReferenceCases, LossCasesExist) {
    EXPECT_FALSE(loss_cases().empty()) << reference_dir() / "losses.txt"
                                       << " is missing or empty: the build runs scripts/make_reference.py (needs python3-torch); "
                                          "see docs/REFERENCE_TESTS.md";
}

TEST_P(LossReference, MatchesCrossEntropyLoss) {
    const LossCase& c = GetParam();
    const std::filesystem::path folder = reference_dir() / "losses" / c.name;
    std::ostringstream trace;
    PrintTo(c, &trace);
    SCOPED_TRACE(trace.str());
    ASSERT_EQ(c.unknown, "") << "losses.txt options this test does not read";
    const Tensor logits = tensor_from(read_npy(folder / "logits.npy"));
    ASSERT_EQ(dims_text(logits.shape().dims()), dims_text(c.shape));
    const NpyArray label_values = read_npy(folder / "labels.npy");
    const std::vector<std::uint8_t> labels(label_values.values.begin(), label_values.values.end());
    CrossEntropyOptions options;
    options.label_smoothing = c.label_smoothing;
    options.ignore_index = c.ignore_index;
    if (c.weighted)
        for (const double w : read_npy(folder / "weight.npy").values) options.weight.push_back(static_cast<float>(w));
    Tensor grad_logits;
    const LossResult result = softmax_cross_entropy(logits, labels, &grad_logits, options);

    const double expected_loss = read_npy(folder / "loss.npy").values.at(0);
    const double loss_error = std::abs(result.loss - expected_loss) / std::max(std::abs(expected_loss), 1.0);
    double& worst_loss = worst_loss_errors()["loss |a - b| / max(|b|, 1)"];
    worst_loss = std::max(worst_loss, std::isnan(loss_error) ? INFINITY : loss_error);
    EXPECT_LE(loss_error, kLossTolerance) << std::setprecision(17) << "loss: ours " << result.loss << " torch " << expected_loss;

    const NpyArray counts = read_npy(folder / "counts.npy");  // counted, correct, Σ weight[label] over the counted
    ASSERT_EQ(counts.size(), 3);
    EXPECT_EQ(result.counted, static_cast<std::int64_t>(counts.values[0])) << "targets counted (label != ignore_index)";
    EXPECT_EQ(result.correct, static_cast<std::int64_t>(counts.values[1])) << "counted targets whose largest logit is the label";
    EXPECT_NEAR(result.denominator, counts.values[2], 1e-12 * std::max(counts.values[2], 1.0)) << "Σ weight[label]";

    const NpyArray expected = read_npy(folder / "grad_logits.npy");
    ASSERT_EQ(dims_text(grad_logits.shape().dims()), dims_text(expected.shape)) << "grad_logits: our shape vs PyTorch's";
    double scale = 0.0;
    for (const double value : expected.values) scale = std::max(scale, std::abs(value));
    double max_relative = 0.0, max_absolute = 0.0;
    std::int64_t worst = 0;
    for (std::int64_t i = 0; i < expected.size(); ++i) {
        const double reference = expected.values[static_cast<std::size_t>(i)];
        const double difference = std::abs(double(grad_logits[i]) - reference);
        const double relative = difference / std::max(std::abs(reference), kLossGradientFloor * scale);
        if (!(relative <= max_relative)) worst = i;  // also catches NaN
        max_relative = std::isnan(relative) ? INFINITY : std::max(max_relative, relative);
        max_absolute = std::isnan(difference) ? INFINITY : std::max(max_absolute, difference);
    }
    double& worst_relative = worst_loss_errors()["grad_logits |a - b| / max(|b|, 1e-3 max|b|)"];
    worst_relative = std::max(worst_relative, max_relative);
    double& worst_absolute = worst_loss_errors()["grad_logits |a - b|"];
    worst_absolute = std::max(worst_absolute, max_absolute);
    if (max_relative > kLossTolerance) {
        std::ostringstream values;
        values << std::setprecision(10);
        for (std::int64_t i = 0; i < std::min<std::int64_t>(expected.size(), 6); ++i)
            values << "  [" << i << "] ours " << grad_logits[i] << " torch " << expected.values[static_cast<std::size_t>(i)] << "\n";
        values << "  worst [" << worst << "] ours " << grad_logits[worst] << " torch " << expected.values[static_cast<std::size_t>(worst)]
               << "\n";
        ADD_FAILURE() << "grad_logits: max error " << max_relative << " > " << kLossTolerance << ", max |difference| " << max_absolute
                      << " over " << expected.size() << " values\n"
                      << values.str();
    }
}

INSTANTIATE_TEST_SUITE_P(Losses, LossReference, ::testing::ValuesIn(loss_cases()),
                         [](const ::testing::TestParamInfo<LossCase>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LossReference);

// The one documented difference from torch (include/convnet/nn/loss.h): when no target counts (all
// ignored, or all of a class weighing 0) torch divides 0 by 0 and returns NaN; ours returns loss 0
// and a zero gradient. Checked here on its own, not against torch.
TEST(LossReferenceDifference, NothingCountedGivesZeroLossAndZeroGradient) {
    Tensor logits{Shape{2, 3, 2, 2}};
    for (std::int64_t i = 0; i < logits.shape().element_count(); ++i) logits[i] = 0.37f * static_cast<float>(i) - 2.0f;
    CrossEntropyOptions options;
    options.weight = {0.5f, 0.0f, 2.0f};
    options.ignore_index = 255;
    options.label_smoothing = 0.1;
    const std::vector<std::uint8_t> all_ignored(8, 255), all_weighing_zero{1, 1, 255, 1, 255, 1, 1, 1};
    for (const auto& [what, labels, counted] :
         {std::tuple{"every target ignored", all_ignored, 0}, std::tuple{"every counted target weighing 0", all_weighing_zero, 6}}) {
        SCOPED_TRACE(what);
        Tensor grad_logits{logits.shape()};
        grad_logits.fill(7.0f);  // must be overwritten
        const LossResult result = softmax_cross_entropy(logits, labels, &grad_logits, options);
        EXPECT_EQ(result.loss, 0.0);
        EXPECT_EQ(result.counted, counted);
        EXPECT_EQ(result.denominator, 0.0);
        ASSERT_EQ(grad_logits.shape().dims(), logits.shape().dims());
        for (std::int64_t i = 0; i < grad_logits.shape().element_count(); ++i)
            EXPECT_EQ(grad_logits[i], 0.0f) << "grad_logits[" << i << "]";
    }
}

// Step 4 of "Adding a layer" (docs/CONTRIBUTING.md): every registered layer type has PyTorch
// reference cases (LAYER_CASES in scripts/make_reference.py), dropout excepted.
TEST(AddingALayer, ReferenceCasesPerType) {
    std::set<std::string> covered;
    for (const LayerCase& c : layer_cases()) covered.insert(c.line.substr(0, c.line.find(' ')));
    // Exempt, with the reason: no PyTorch run can draw the same random mask.
    covered.insert("dropout");  // its mask and scaling are checked in tests/unit/test_layers.cpp
    for (const LayerType& type : layer_types())
        EXPECT_TRUE(covered.count(std::string(type.name)))
            << "layer type '" << type.name << "' has no PyTorch reference case: add \"" << type.name
            << "\": [(LINE, INPUT_SHAPE, KIND), ...] to LAYER_CASES in scripts/make_reference.py, and its torch module to make_module "
               "there";
}

}  // namespace
}  // namespace convnet::testing
