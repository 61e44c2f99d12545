// The table of layer types: the model-file name of each, a line on what it does, and how to
// build it from its options. Adding a layer adds one row here (src/nn/layer_registry.cpp).
#pragma once

#include <convnet/nn/layer.h>

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace convnet {

// The key=value options of one model-file line, with where they came from for messages.
class LayerOptions {
public:
    LayerOptions(std::string type, std::map<std::string, std::string> values, std::string location);

    // An integer option, at least `minimum`; `fallback` when absent (required when it is empty).
    std::int64_t integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t minimum);
    // A size given as "5" (both axes) or "3x5" (height x width).
    std::pair<std::int64_t, std::int64_t> pair(const std::string& key, std::optional<std::pair<std::int64_t, std::int64_t>> fallback,
                                               std::int64_t minimum);
    double real(const std::string& key, double fallback, double minimum, double maximum);
    bool boolean(const std::string& key, bool fallback);
    // One of `allowed` (the first is the default when the key is absent).
    std::string choice(const std::string& key, const std::vector<std::string>& allowed);
    // Whether the line gives `key` (an option the layer takes, for the list unknown keys are shown).
    bool has(const std::string& key) const;

    // "models/convnet1.model:3: conv2d: " + message, thrown as convnet::Error.
    [[noreturn]] void fail(const std::string& message) const;
    // Fails on any option no read asked for (a typo such as "strid=2").
    void check_all_used() const;
    const std::string& location() const { return location_; }
    // The shapes of every input the line reads (batch of one), in from= order: a join's factory
    // needs them all; the others read the first, which create() is also given.
    void set_input_shapes(std::vector<Shape> shapes) { input_shapes_ = std::move(shapes); }
    const std::vector<Shape>& input_shapes() const { return input_shapes_; }

private:
    const std::string* lookup(const std::string& key);
    std::string type_;
    std::map<std::string, std::string> values_;
    std::map<std::string, bool> used_;
    mutable std::vector<std::string> asked_;  // every key a read asked for, in order: the options the layer takes
    std::string location_;
    std::vector<Shape> input_shapes_;
};

// A row of the layer table. What the other tables key by type (the fast path's, the ONNX
// exporter's) and what the rest of the library asks of a type is read from here or from the
// Layer itself, never from a comparison with a type name.
struct LayerType {
    std::string_view name;         // as written in model files: "conv2d"
    std::string_view file;         // its file pair, include/convnet/nn/layers/FILE.h and src/nn/layers/FILE.cpp: "batchnorm"
    std::string_view name_prefix;  // of its automatic names: "conv" names conv1, conv2 ... (plan_model, format_model)
    std::string_view description;  // one line for --help and README
    // Builds the layer for an input of this shape (batch of 1); reads and checks its options.
    std::unique_ptr<Layer> (*create)(LayerOptions& options, const Shape& input);
};

std::span<const LayerType> layer_types();
// The row of a model-file name; null for a name the table does not hold.
const LayerType* find_layer_type(std::string_view name);

}  // namespace convnet
