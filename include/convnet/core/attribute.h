// A layer's options as data: each under PyTorch's keyword, with its typed value and the key a model
// file writes it under. Layer::options_text(), the summary, format_model and any later writer
// (ONNX, a report) derive from Layer::attributes() instead of asking each layer class.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace convnet {

// bool, an integer, a real, a (height, width) pair such as kernel_size, or a word such as mode.
using AttributeValue = std::variant<bool, std::int64_t, double, std::pair<std::int64_t, std::int64_t>, std::string>;

struct Attribute {
    std::string name;  // PyTorch's keyword: "in_channels", "kernel_size", "negative_slope", "eps"
    AttributeValue value;
    // The model-file key ("out", "kernel", "slope"); empty when a file never writes it because it
    // follows from the input (in_channels, num_features) or is fixed (softmax's dim).
    std::string key;
    bool is_default = false;  // the value a model file gets when it leaves the key out
};

// A value as a model-file line writes it: "true", "3", "3x5" (height x width, "3" when equal),
// reals in the shortest text that reads back to the same double ("0.1", "1e-05"), words as
// they are ("bilinear").
std::string attribute_text(const AttributeValue& value);

// "key=value" for every attribute with a key and a value other than its default, space
// separated, in the order given: what follows the type name on a model-file line.
std::string options_text(const std::vector<Attribute>& attributes);

// The attribute named `name` (PyTorch's keyword); null when there is none. The pointer is into
// `attributes`, so a temporary list (`find_attribute(layer.attributes(), ...)`) is refused: the
// pointer would dangle at the end of the statement.
const Attribute* find_attribute(const std::vector<Attribute>& attributes, const std::string& name);
const Attribute* find_attribute(std::vector<Attribute>&& attributes, const std::string& name) = delete;

}  // namespace convnet
