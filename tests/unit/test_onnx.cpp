// ONNX export: the graph's structure (names, symbolic batch, initializers under the state-dict
// names, batch norm unfolded, the portable pooling forms, joins wired by from=) and bad input
// refused with nothing written; AddingALayer.OnnxRowPerType checks that every layer type has an
// exporter. scripts/check_onnx.py runs the exports.
#include "test_support.h"

#include <convnet/core/files.h>
#include <convnet/io/onnx.h>
#include <convnet/io/weights.h>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

namespace convnet {
namespace {

using testing::expect_error;

std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::filesystem::path source(const std::string& relative) { return std::filesystem::path(CONVNET_SOURCE_DIR) / relative; }

std::unique_ptr<Network> network_of(const std::string& model) {
    auto network = std::make_unique<Network>(read_model_file(source(model)));
    network->initialize(3);
    return network;
}

onnx::ModelProto parse(const std::string& bytes) {
    onnx::ModelProto model;
    EXPECT_TRUE(model.ParseFromString(bytes));
    return model;
}

std::multiset<std::string> op_types(const onnx::GraphProto& graph) {
    std::multiset<std::string> ops;
    for (const onnx::NodeProto& node : graph.node()) ops.insert(node.op_type());
    return ops;
}

const onnx::NodeProto* node_named(const onnx::GraphProto& graph, const std::string& name) {
    for (const onnx::NodeProto& node : graph.node())
        if (node.name() == name) return &node;
    return nullptr;
}

OnnxOptions with_opset(int opset) {
    OnnxOptions options;
    options.opset = opset;
    return options;
}

TEST(Onnx, NamesShapesAndOpset) {
    const auto network = network_of("models/convnet1.model");
    for (int opset : onnx_opsets()) {
        const onnx::ModelProto model = parse(format_onnx(*network, with_opset(opset)));
        ASSERT_EQ(model.opset_import_size(), 1);
        EXPECT_EQ(model.opset_import(0).domain(), "");
        EXPECT_EQ(model.opset_import(0).version(), opset);
        EXPECT_EQ(model.ir_version(), opset == 13 ? 7 : 8);
        EXPECT_EQ(model.producer_name(), "convnet");
        const onnx::GraphProto& graph = model.graph();
        ASSERT_EQ(graph.input_size(), 1);
        EXPECT_EQ(graph.input(0).name(), "input");
        const onnx::TensorShapeProto& input = graph.input(0).type().tensor_type().shape();
        ASSERT_EQ(input.dim_size(), 4);
        EXPECT_EQ(input.dim(0).dim_param(), "N");
        EXPECT_EQ(input.dim(1).dim_value(), 1);
        EXPECT_EQ(input.dim(3).dim_value(), 28);
        ASSERT_EQ(graph.output_size(), 1);
        EXPECT_EQ(graph.output(0).name(), "logits");
        const onnx::TensorShapeProto& output = graph.output(0).type().tensor_type().shape();
        ASSERT_EQ(output.dim_size(), 2);
        EXPECT_EQ(output.dim(0).dim_param(), "N");
        EXPECT_EQ(output.dim(1).dim_value(), 10);
        EXPECT_EQ(op_types(graph), (std::multiset<std::string>{"Conv", "BatchNormalization", "Relu", "MaxPool", "Conv",
                                                               "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"}));
    }
}

TEST(Onnx, InitializersAreTheStateDictUnderItsNames) {
    const auto network = network_of("models/resnet-fmnist.model");
    const onnx::ModelProto model = parse(format_onnx(*network));
    std::map<std::string, const onnx::TensorProto*> initializers;
    for (const onnx::TensorProto& tensor : model.graph().initializer()) initializers[tensor.name()] = &tensor;
    std::size_t floats = 0;
    for (const StateTensor& entry : network->state_dict()) {
        if (entry.dtype == StateTensor::DType::i64) {  // num_batches_tracked: not read by inference
            EXPECT_EQ(initializers.count(entry.name), 0u) << entry.name;
            continue;
        }
        ++floats;
        ASSERT_EQ(initializers.count(entry.name), 1u) << entry.name;
        const onnx::TensorProto& tensor = *initializers[entry.name];
        EXPECT_EQ(tensor.data_type(), onnx::TensorProto::FLOAT);
        EXPECT_EQ(std::vector<std::int64_t>(tensor.dims().begin(), tensor.dims().end()), entry.shape.dims()) << entry.name;
        ASSERT_EQ(tensor.raw_data().size(), entry.values.size() * sizeof(float)) << entry.name;
        EXPECT_EQ(std::memcmp(tensor.raw_data().data(), entry.values.data(), tensor.raw_data().size()), 0) << entry.name;
    }
    EXPECT_EQ(initializers.size(), floats);  // nothing else: resnet-fmnist needs no fixed tensors
    // Batch norm unfolded, reading its four tensors by name.
    const onnx::NodeProto* bn = node_named(model.graph(), "bn1");
    ASSERT_NE(bn, nullptr);
    EXPECT_EQ(bn->op_type(), "BatchNormalization");
    EXPECT_EQ(std::vector<std::string>(bn->input().begin(), bn->input().end()),
              (std::vector<std::string>{"conv1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}));
}

TEST(Onnx, JoinsReadTheLayersTheirFromNames) {
    const auto network = network_of("models/unet-small.model");
    const onnx::ModelProto model = parse(format_onnx(*network));
    const onnx::NodeProto* concat = node_named(model.graph(), "concat1");
    ASSERT_NE(concat, nullptr);
    EXPECT_EQ(concat->op_type(), "Concat");
    EXPECT_EQ(std::vector<std::string>(concat->input().begin(), concat->input().end()), (std::vector<std::string>{"deconv1", "enc2"}));
    const onnx::NodeProto* up = node_named(model.graph(), "upsample1");
    ASSERT_NE(up, nullptr);
    EXPECT_EQ(up->op_type(), "Resize");
    // The last layer writes the graph output.
    EXPECT_EQ(model.graph().node(model.graph().node_size() - 1).output(0), "logits");

    const auto resnet = network_of("tests/reference/resnet-basic.model");
    const onnx::ModelProto residual = parse(format_onnx(*resnet));
    const onnx::NodeProto* add = node_named(residual.graph(), "add1");
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(add->op_type(), "Add");
    EXPECT_EQ(std::vector<std::string>(add->input().begin(), add->input().end()), (std::vector<std::string>{"bn3", "stem"}));
}

TEST(Onnx, PortableFormsForPooling) {
    const auto network = network_of(testing::kAllLayersModel);
    const onnx::ModelProto model = parse(format_onnx(*network));
    const std::multiset<std::string> ops = op_types(model.graph());
    EXPECT_EQ(ops.count("LpPool"), 0u);  // OpenCV 4.6 cannot load it
    EXPECT_EQ(ops.count("Sum"), 1u);     // the three-way add
    EXPECT_EQ(ops.count("Identity"), 1u);
    // count_include_pad with padding: an explicit Pad, then an unpadded AveragePool.
    const onnx::NodeProto* pad = node_named(model.graph(), "avg_counted/pad");
    ASSERT_NE(pad, nullptr);
    EXPECT_EQ(pad->op_type(), "Pad");
    const onnx::NodeProto* counted = node_named(model.graph(), "avg_counted");
    ASSERT_NE(counted, nullptr);
    EXPECT_EQ(counted->input(0), "avg_counted/pad");
    for (const onnx::AttributeProto& attribute : counted->attribute()) EXPECT_NE(attribute.name(), "pads");
    // L2 pooling: square, depthwise sum, square root.
    EXPECT_EQ(node_named(model.graph(), "l2/square")->op_type(), "Mul");
    EXPECT_EQ(node_named(model.graph(), "l2/sum")->op_type(), "Conv");
    EXPECT_EQ(node_named(model.graph(), "l2")->op_type(), "Sqrt");
    EXPECT_EQ(node_named(model.graph(), "gauss")->op_type(), "Conv");
}

class OnnxFile : public testing::TemporaryFolderTest {};

TEST_F(OnnxFile, WrittenAtomicallyAndNothingOnError) {
    const auto network = network_of("models/lenet5.model");
    const std::filesystem::path path = directory_ / "lenet5.onnx";
    save_onnx(*network, path);
    EXPECT_EQ(parse(read_bytes(path)).graph().output(0).name(), "logits");

    write_file_atomically(path, "older");
    expect_error([&] { save_onnx(*network, path, with_opset(15)); }, {"opset 15", "13", "17"});
    EXPECT_EQ(read_bytes(path), "older");
    expect_error([&] { save_onnx(*network, directory_ / "missing" / "x.onnx"); }, {"missing"});
    EXPECT_FALSE(std::filesystem::exists(directory_ / "missing"));
}

}  // namespace
}  // namespace convnet
