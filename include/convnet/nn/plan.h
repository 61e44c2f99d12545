// Networks described by model files: the parser for the plain-text format (docs/MODEL_FORMAT.md)
// and the plan, every layer built with its shapes worked out, that a Network is built from and
// that summaries and memory checks read without allocating weights.
#pragma once

#include <convnet/core/tensor.h>
#include <convnet/nn/layer.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace convnet {

struct LayerLine {
    std::string type;                            // "conv2d"
    std::string name;                            // from name=, else empty (the network names it)
    std::vector<std::string> from;               // from=a,b: the layers it reads; empty: the line above
    std::map<std::string, std::string> options;  // the other key=value pairs
    int line = 0;                                // 1-based, in the model file
};

struct ModelSpec {
    std::string source;  // the file name, for messages
    Shape input;         // (C, H, W) from the `input` line
    std::vector<LayerLine> layers;
};

// Throws convnet::Error "FILE:LINE: what is wrong, what was expected".
ModelSpec parse_model(const std::string& text, const std::string& source);
ModelSpec read_model_file(const std::filesystem::path& path);

// One layer of a model with its shapes worked out: what `convnet summary` shows and what the
// Network is built from. Planning touches no weights (the layer's parameters are not bound).
// The index that stands for the network's input in LayerPlan::inputs (`from=input`).
inline constexpr int kNetworkInput = -1;

struct LayerPlan {
    std::unique_ptr<Layer> layer;
    std::string name;  // "conv1", or the line's name=
    int line = 0;
    Shape input, output;  // batch of one; `input` is the first input's shape
    // The layers it reads, by index into the plans, in from= order (kNetworkInput for the
    // network's input): {index − 1} for a line without from=. Always earlier than itself.
    std::vector<int> inputs;
    std::vector<Shape> input_shapes;  // batch of one, one per input
};

// No layer may give more values per image, or hold a parameter of more values, than this (2^31,
// 8 GiB of float32): beyond it a model file is refused by plan_model, naming the layer and sizes.
inline constexpr std::int64_t kMaxLayerValues = std::int64_t{1} << 31;

// Builds every layer of `spec` and works out its shapes; errors name FILE:LINE and the formula,
// and sizes past kMaxLayerValues. from= must name the network's `input` or layers above the
// line; a layer whose output nothing reads (but the last, the network's output) is refused, as
// are joins of shapes that do not fit, naming the layers and their shapes.
std::vector<LayerPlan> plan_model(const ModelSpec& spec);

// The model file of a planned network: the input line, then one line a layer with its options
// as options_text() writes them (defaults left out), from= where it reads other than the line
// above, and name= where the name is not the automatic one. parse_model of the text plans the same layers, shapes and names (the round trip
// is tested over every layer type).
std::string format_model(const std::vector<LayerPlan>& layers, const Shape& input);

}  // namespace convnet
