// ONNX export of a network for inference (docs/ONNX.md): the model as an ONNX graph whose
// initializers are the network's state under its PyTorch names. Not an importer.
#pragma once

#include <convnet/nn/network.h>

#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>

namespace convnet {

// The ONNX opsets an export can target: 13 (the default: what the widest range of runtimes load,
// OpenCV 4.6's DNN module among them) and 17.
std::span<const int> onnx_opsets();
inline constexpr int kDefaultOnnxOpset = 13;

struct OnnxOptions {
    int opset = kDefaultOnnxOpset;  // one of onnx_opsets(); IR version 7 for 13, 8 for 17
    // The model's metadata_props (string to string), e.g. the weights file's "classes" and
    // "preprocessing" (io.h), so that a runtime's user prepares pixels as training did.
    std::map<std::string, std::string> metadata;
    std::string doc_string;  // the model's description (ModelProto.doc_string)
};

// The network in evaluation mode as a serialized onnx.ModelProto:
//   - graph input "input" (N, C, H, W) float32 with the batch dimension symbolic ("N"), graph
//     output "logits" (N, ...), the last layer's output shape;
//   - one or more nodes per layer, in model order, named after the layer ("conv1", "bn1"), each
//     layer's output tensor under the layer's name (the last one's under "logits"); joins (add,
//     concat) read the tensors their from= names;
//   - every parameter and running statistic as an initializer under its state_dict name
//     ("conv1.weight", "bn1.running_var"); num_batches_tracked, which inference never reads, is
//     left out; fixed tensors an op needs (pads, scales, a pooling window) are initializers
//     named "LAYER.pads", "LAYER.scales", "LAYER.window";
//   - batch norm as BatchNormalization (not folded into the convolution), dropout as Identity;
//     pooling forms that some runtimes compute wrongly or cannot load are written in portable
//     equivalents (average pooling that counts padding: Pad then AveragePool; L2 pooling: Mul,
//     a depthwise Conv with a window of ones, Sqrt; Gaussian pooling: a depthwise Conv).
// docs/ONNX.md lists the operators of every layer type. Throws convnet::Error naming the opset
// when it is not one of onnx_opsets(), naming the layer when its type has no export (none today:
// every type of the layer table exports), and giving the size when the model would pass
// protobuf's 2 GiB limit on one message.
std::string format_onnx(const Network& network, const OnnxOptions& options = {});

// format_onnx written atomically to `path` (write_file_atomically): on any error nothing is
// written and an older file at `path` is left as it was. Throws convnet::Error as format_onnx
// does, and naming the file when it cannot be written.
void save_onnx(const Network& network, const std::filesystem::path& path, const OnnxOptions& options = {});

// Whether format_onnx can export a layer of this type (the model-file name, "conv2d").
bool onnx_exports(std::string_view layer_type);

}  // namespace convnet
