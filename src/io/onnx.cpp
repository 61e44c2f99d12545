// ONNX export: one table from layer type to the nodes it becomes, written with the onnx.proto
// classes of Debian's libonnx-dev (libonnx_proto over libprotobuf). docs/ONNX.md gives the op
// mapping and why some layers take portable forms.
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/io/onnx.h>
#include <convnet/io/weights.h>
#include <convnet/nn/layers/gausspool2d.h>

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <climits>
#include <map>

namespace convnet {

namespace {

constexpr std::array kOpsets{13, 17};
constexpr const char* kInputName = "input";
constexpr const char* kOutputName = "logits";

// --- A layer's options, read from its attributes (PyTorch's keywords) by name and type.

// The layer's attribute `name` (PyTorch's keyword) as a Value; throws naming the layer when it has
// none of that type (a layer class and its exporter disagreeing).
template <typename Value>
Value attribute_of(const LayerPlan& plan, const std::string& name) {
    const std::vector<Attribute> attributes = plan.layer->attributes();
    const Attribute* found = find_attribute(attributes, name);
    if (found == nullptr || !std::holds_alternative<Value>(found->value))
        throw Error("ONNX export: layer " + plan.name + " (" + plan.layer->type() + ") has no attribute " + name + " of the type expected");
    return std::get<Value>(found->value);
}

using Pair = std::pair<std::int64_t, std::int64_t>;

// --- Writing nodes, attributes and initializers into the graph.

void set_int(onnx::NodeProto& node, const std::string& name, std::int64_t value) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::INT);
    attribute.set_i(value);
}

void set_float(onnx::NodeProto& node, const std::string& name, double value) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::FLOAT);
    attribute.set_f(static_cast<float>(value));
}

void set_string(onnx::NodeProto& node, const std::string& name, const std::string& value) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::STRING);
    attribute.set_s(value);
}

void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<std::int64_t>& values) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::INTS);
    for (std::int64_t value : values) attribute.add_ints(value);
}

// The graph being written, and the names of the network's parameters (their state_dict keys).
class GraphWriter {
public:
    GraphWriter(onnx::GraphProto& graph, const Network& network) : graph_(graph) {
        for (const NamedParameter& named : network.named_parameters()) names_[named.parameter] = named.name;
        for (const NamedParameter& named : network.named_buffers()) names_[named.parameter] = named.name;
    }

    onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                          const std::string& name) {
        onnx::NodeProto& node = *graph_.add_node();
        node.set_op_type(op);
        node.set_name(name);
        for (const std::string& input : inputs) node.add_input(input);
        node.add_output(output);
        return node;
    }

    // The initializer holding the layer's parameter `name` ("weight"), under its state_dict key;
    // "" when the layer has no such parameter (a convolution with bias=false).
    std::string parameter(const LayerPlan& plan, const std::string& name) {
        for (const Parameter& parameter : plan.layer->parameters()) {
            if (parameter.name != name) continue;
            const std::string& key = names_.at(&parameter);
            floats(key, parameter.shape.dims(), parameter.value, parameter.shape.element_count());
            return key;
        }
        return "";
    }

    // A float32 initializer of `dims`; returns its name.
    std::string floats(const std::string& name, const std::vector<std::int64_t>& dims, const float* values, std::int64_t count) {
        onnx::TensorProto& tensor = *graph_.add_initializer();
        tensor.set_name(name);
        tensor.set_data_type(onnx::TensorProto::FLOAT);
        for (std::int64_t dim : dims) tensor.add_dims(dim);
        tensor.set_raw_data(std::string(reinterpret_cast<const char*>(values), static_cast<std::size_t>(count) * sizeof(float)));
        return name;
    }

    // An int64 initializer of one axis (ONNX's pads and axes inputs); returns its name.
    std::string integers(const std::string& name, const std::vector<std::int64_t>& values) {
        onnx::TensorProto& tensor = *graph_.add_initializer();
        tensor.set_name(name);
        tensor.set_data_type(onnx::TensorProto::INT64);
        tensor.add_dims(static_cast<std::int64_t>(values.size()));
        for (std::int64_t value : values) tensor.add_int64_data(value);
        return name;
    }

private:
    onnx::GraphProto& graph_;
    std::map<const Parameter*, std::string> names_;
};

// What one layer's export is given: its plan, the tensors it reads (from= order), the tensor it
// must write, and the graph.
struct LayerExport {
    const LayerPlan& plan;
    std::vector<std::string> inputs;
    std::string output;
    GraphWriter& graph;

    const std::string& input() const { return inputs.front(); }
    // An intermediate tensor (and node) name inside the layer: "l2pool1/square".
    std::string step(const std::string& what) const { return plan.name + "/" + what; }
    // A node of `op` reading the layer's input(s) and writing its output, named after the layer.
    onnx::NodeProto& single(const std::string& op) const { return graph.node(op, inputs, output, plan.name); }
};

// kernel_shape, strides, pads (begin and end alike) and, for convolutions, dilations.
void set_window(onnx::NodeProto& node, const LayerPlan& plan, bool dilated) {
    const Pair kernel = attribute_of<Pair>(plan, "kernel_size");
    const Pair stride = attribute_of<Pair>(plan, "stride");
    const Pair padding = attribute_of<Pair>(plan, "padding");
    set_ints(node, "kernel_shape", {kernel.first, kernel.second});
    set_ints(node, "strides", {stride.first, stride.second});
    set_ints(node, "pads", {padding.first, padding.second, padding.first, padding.second});
    if (dilated) {
        const Pair dilation = attribute_of<Pair>(plan, "dilation");
        set_ints(node, "dilations", {dilation.first, dilation.second});
    }
}

std::vector<std::string> with_bias(std::vector<std::string> inputs, const std::string& bias) {
    if (!bias.empty()) inputs.push_back(bias);
    return inputs;
}

void export_conv2d(const LayerExport& layer) {
    const std::string weight = layer.graph.parameter(layer.plan, "weight");
    const std::string bias = layer.graph.parameter(layer.plan, "bias");
    onnx::NodeProto& node = layer.graph.node("Conv", with_bias({layer.input(), weight}, bias), layer.output, layer.plan.name);
    set_window(node, layer.plan, true);
    set_int(node, "group", attribute_of<std::int64_t>(layer.plan, "groups"));
}

void export_convtranspose2d(const LayerExport& layer) {
    const std::string weight = layer.graph.parameter(layer.plan, "weight");
    const std::string bias = layer.graph.parameter(layer.plan, "bias");
    onnx::NodeProto& node = layer.graph.node("ConvTranspose", with_bias({layer.input(), weight}, bias), layer.output, layer.plan.name);
    set_window(node, layer.plan, true);
    const Pair output_padding = attribute_of<Pair>(layer.plan, "output_padding");
    set_ints(node, "output_padding", {output_padding.first, output_padding.second});
    set_int(node, "group", attribute_of<std::int64_t>(layer.plan, "groups"));
}

void export_linear(const LayerExport& layer) {
    const std::string weight = layer.graph.parameter(layer.plan, "weight");
    const std::string bias = layer.graph.parameter(layer.plan, "bias");
    onnx::NodeProto& node = layer.graph.node("Gemm", with_bias({layer.input(), weight}, bias), layer.output, layer.plan.name);
    set_int(node, "transB", 1);  // weight is (out, in), as torch.nn.Linear
}

void export_batchnorm(const LayerExport& layer) {
    GraphWriter& graph = layer.graph;
    const LayerPlan& plan = layer.plan;
    onnx::NodeProto& node = graph.node("BatchNormalization",
                                       {layer.input(), graph.parameter(plan, "weight"), graph.parameter(plan, "bias"),
                                        graph.parameter(plan, "running_mean"), graph.parameter(plan, "running_var")},
                                       layer.output, plan.name);
    set_float(node, "epsilon", attribute_of<double>(plan, "eps"));
    // ONNX weighs the running value by momentum, PyTorch the batch's (as torch.onnx writes it).
    set_float(node, "momentum", 1.0 - attribute_of<double>(plan, "momentum"));
}

void export_maxpool2d(const LayerExport& layer) { set_window(layer.single("MaxPool"), layer.plan, false); }

// Without padding, AveragePool. Padding counted in the divisor (PyTorch's default) becomes an
// explicit zero Pad before an unpadded AveragePool: OpenCV 4.6 computes count_include_pad=1 wrongly.
void export_avgpool2d(const LayerExport& layer) {
    const Pair padding = attribute_of<Pair>(layer.plan, "padding");
    const bool count_include_pad = attribute_of<bool>(layer.plan, "count_include_pad");
    if (padding == Pair{0, 0} || !count_include_pad) {
        onnx::NodeProto& node = layer.single("AveragePool");
        set_window(node, layer.plan, false);
        set_int(node, "count_include_pad", 0);
        return;
    }
    const std::string pads =
        layer.graph.integers(layer.plan.name + ".pads", {0, 0, padding.first, padding.second, 0, 0, padding.first, padding.second});
    layer.graph.node("Pad", {layer.input(), pads}, layer.step("pad"), layer.step("pad"));
    onnx::NodeProto& node = layer.graph.node("AveragePool", {layer.step("pad")}, layer.output, layer.plan.name);
    const Pair kernel = attribute_of<Pair>(layer.plan, "kernel_size");
    const Pair stride = attribute_of<Pair>(layer.plan, "stride");
    set_ints(node, "kernel_shape", {kernel.first, kernel.second});
    set_ints(node, "strides", {stride.first, stride.second});
}

// A depthwise convolution of the layer's input channels with one fixed kh×kw window:
// the portable form of pooling with weights (OpenCV 4.6 cannot load LpPool).
void depthwise_window(const LayerExport& layer, const std::string& input, const std::vector<float>& window) {
    const std::int64_t channels = layer.plan.input[1];
    const Pair kernel = attribute_of<Pair>(layer.plan, "kernel_size");
    std::vector<float> weights;
    weights.reserve(static_cast<std::size_t>(channels) * window.size());
    for (std::int64_t c = 0; c < channels; ++c) weights.insert(weights.end(), window.begin(), window.end());
    const std::string weight = layer.graph.floats(layer.plan.name + ".window", {channels, 1, kernel.first, kernel.second}, weights.data(),
                                                  static_cast<std::int64_t>(weights.size()));
    const bool last_step = input == layer.input();
    const std::string output = last_step ? layer.output : layer.step("sum");
    onnx::NodeProto& node = layer.graph.node("Conv", {input, weight}, output, last_step ? layer.plan.name : output);
    set_window(node, layer.plan, false);
    set_int(node, "group", channels);
}

// sqrt(Σ x²) over each window: Mul, a depthwise Conv with a window of ones (zero padding adds
// nothing, as in convnet's definition), Sqrt.
void export_l2pool2d(const LayerExport& layer) {
    const Pair kernel = attribute_of<Pair>(layer.plan, "kernel_size");
    layer.graph.node("Mul", {layer.input(), layer.input()}, layer.step("square"), layer.step("square"));
    depthwise_window(layer, layer.step("square"), std::vector<float>(static_cast<std::size_t>(kernel.first * kernel.second), 1.0f));
    layer.graph.node("Sqrt", {layer.step("sum")}, layer.output, layer.plan.name);
}

// The layer's own normalised Gaussian weights as a depthwise Conv (padding reads zero and keeps
// its weight, as the layer defines it).
void export_gausspool2d(const LayerExport& layer) {
    depthwise_window(layer, layer.input(), dynamic_cast<const GaussPool2d&>(*layer.plan.layer).weights());
}

void export_upsample2d(const LayerExport& layer) {
    const Pair scale = attribute_of<Pair>(layer.plan, "scale_factor");
    const bool bilinear = attribute_of<std::string>(layer.plan, "mode") == "bilinear";
    if (attribute_of<bool>(layer.plan, "align_corners")) throw Error("ONNX export: " + layer.plan.name + ": align_corners=True");
    const std::array<float, 4> scales{1.0f, 1.0f, static_cast<float>(scale.first), static_cast<float>(scale.second)};
    const std::string scales_name = layer.graph.floats(layer.plan.name + ".scales", {4}, scales.data(), 4);
    onnx::NodeProto& node = layer.graph.node("Resize", {layer.input(), "", scales_name}, layer.output, layer.plan.name);
    if (bilinear) {
        // torch's align_corners=False: source (o + 0.5)/s − 0.5, clamped at the edges.
        set_string(node, "mode", "linear");
        set_string(node, "coordinate_transformation_mode", "pytorch_half_pixel");
    } else {
        // torch's nearest: source floor(o / s).
        set_string(node, "mode", "nearest");
        set_string(node, "coordinate_transformation_mode", "asymmetric");
        set_string(node, "nearest_mode", "floor");
    }
}

void export_softmax(const LayerExport& layer) { set_int(layer.single("Softmax"), "axis", 1); }
void export_flatten(const LayerExport& layer) { set_int(layer.single("Flatten"), "axis", 1); }
void export_concat(const LayerExport& layer) { set_int(layer.single("Concat"), "axis", 1); }
void export_add(const LayerExport& layer) { layer.single(layer.inputs.size() == 2 ? "Add" : "Sum"); }
void export_leakyrelu(const LayerExport& layer) {
    set_float(layer.single("LeakyRelu"), "alpha", attribute_of<double>(layer.plan, "negative_slope"));
}

struct Exporter {
    std::string_view type;
    void (*write)(const LayerExport&);
};

// Every layer type of the layer table (checked by tests/unit/test_onnx.cpp).
const std::array kExporters{
    Exporter{"conv2d", export_conv2d},
    Exporter{"detect", export_conv2d},  // the raw head: decoding and NMS are the caller's (docs/DETECTION.md)
    Exporter{"convtranspose2d", export_convtranspose2d},
    Exporter{"batchnorm2d", export_batchnorm},
    Exporter{"batchnorm1d", export_batchnorm},
    Exporter{"relu", [](const LayerExport& layer) { layer.single("Relu"); }},
    Exporter{"sigmoid", [](const LayerExport& layer) { layer.single("Sigmoid"); }},
    Exporter{"tanh", [](const LayerExport& layer) { layer.single("Tanh"); }},
    Exporter{"leakyrelu", export_leakyrelu},
    Exporter{"softmax", export_softmax},
    Exporter{"maxpool2d", export_maxpool2d},
    Exporter{"avgpool2d", export_avgpool2d},
    Exporter{"l2pool2d", export_l2pool2d},
    Exporter{"gausspool2d", export_gausspool2d},
    Exporter{"globalavgpool2d", [](const LayerExport& layer) { layer.single("GlobalAveragePool"); }},
    Exporter{"dropout", [](const LayerExport& layer) { layer.single("Identity"); }},  // evaluation: the identity
    Exporter{"flatten", export_flatten},
    Exporter{"linear", export_linear},
    Exporter{"upsample2d", export_upsample2d},
    Exporter{"add", export_add},
    Exporter{"concat", export_concat},
};

const Exporter* find_exporter(std::string_view type) {
    for (const Exporter& exporter : kExporters)
        if (exporter.type == type) return &exporter;
    return nullptr;
}

void set_tensor_type(onnx::ValueInfoProto& value, const std::string& name, const Shape& batch_of_one) {
    value.set_name(name);
    onnx::TypeProto::Tensor& tensor = *value.mutable_type()->mutable_tensor_type();
    tensor.set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto& shape = *tensor.mutable_shape();
    shape.add_dim()->set_dim_param("N");
    for (std::size_t axis = 1; axis < batch_of_one.dims().size(); ++axis) shape.add_dim()->set_dim_value(batch_of_one.dims()[axis]);
}

}  // namespace

std::span<const int> onnx_opsets() { return kOpsets; }

bool onnx_exports(std::string_view layer_type) { return find_exporter(layer_type) != nullptr; }

std::string format_onnx(const Network& network, const OnnxOptions& options) {
    if (std::find(kOpsets.begin(), kOpsets.end(), options.opset) == kOpsets.end())
        throw Error("ONNX export: opset " + std::to_string(options.opset) + " is not supported; choose 13 (the default) or 17");
    const std::vector<LayerPlan>& plans = network.layer_plans();

    onnx::ModelProto model;
    model.set_ir_version(options.opset >= 17 ? 8 : 7);  // the IR version each opset came with (ONNX 1.8, 1.12)
    model.set_producer_name("convnet");
    model.set_producer_version(CONVNET_VERSION);
    model.add_opset_import()->set_version(options.opset);  // the default domain, ai.onnx
    if (!options.doc_string.empty()) model.set_doc_string(options.doc_string);
    for (const auto& [key, value] : options.metadata) {
        onnx::StringStringEntryProto& entry = *model.add_metadata_props();
        entry.set_key(key);
        entry.set_value(value);
    }
    onnx::GraphProto& graph = *model.mutable_graph();
    graph.set_name(std::filesystem::path(network.source()).stem().string());
    graph.set_doc_string("convnet model " + network.source() + ", evaluation mode");
    set_tensor_type(*graph.add_input(), kInputName, plans.front().input);
    set_tensor_type(*graph.add_output(), kOutputName, plans.back().output);

    // Each layer's output tensor is named after the layer; the last one's is the graph output.
    // A layer named "logits" before the last one gets "logits:layer" (layer names hold no colon).
    std::vector<std::string> tensors;
    for (std::size_t i = 0; i < plans.size(); ++i)
        tensors.push_back(i + 1 == plans.size() ? kOutputName : plans[i].name == kOutputName ? plans[i].name + ":layer" : plans[i].name);

    GraphWriter writer(graph, network);
    for (std::size_t i = 0; i < plans.size(); ++i) {
        const LayerPlan& plan = plans[i];
        const Exporter* exporter = find_exporter(plan.layer->type());
        if (exporter == nullptr)
            throw Error("ONNX export: layer " + plan.name + " (" + network.source() + ":" + std::to_string(plan.line) + "): type " +
                        plan.layer->type() + " has no ONNX form");
        LayerExport layer{plan, {}, tensors[i], writer};
        for (int input : plan.inputs)
            layer.inputs.push_back(input == kNetworkInput ? kInputName : tensors[static_cast<std::size_t>(input)]);
        exporter->write(layer);
    }

    const std::size_t size = model.ByteSizeLong();
    if (size > static_cast<std::size_t>(INT_MAX))
        throw Error("ONNX export: the model would take " + std::to_string(size) +
                    " bytes, past protobuf's 2 GiB limit on one message (external data is not written)");
    return model.SerializeAsString();
}

void save_onnx(const Network& network, const std::filesystem::path& path, const OnnxOptions& options) {
    write_file_atomically(path, format_onnx(network, options));
}

}  // namespace convnet
