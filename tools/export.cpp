// `convnet export`: trained weights and their model as an ONNX file for other runtimes.
#include "cli.h"

#include <convnet/train/task.h>

#include <convnet/io/onnx.h>

#include <algorithm>
#include <iostream>

namespace convnet::cli {

namespace {
constexpr const char* kExportHelp = R"(usage: convnet export --weights W --onnx OUT.onnx [options]

Writes the network with its weights as an ONNX model for inference (docs/ONNX.md): input
"input" (N, C, H, W) with a symbolic batch N, output "logits", the weights as initializers under
their PyTorch state_dict names, batch norm as BatchNormalization. Checked with onnx's checker,
ONNX Runtime and OpenCV's DNN module. OUT is replaced atomically, and left alone on any error.

options:
  --weights W      weights file (convnet train --save); a safetensors file holds its model,
                   whose class names and preprocessing go into the ONNX metadata_props
  --model FILE     the model file, for weights in convnet's older format
  --onnx OUT       the ONNX file to write
  --opset V        ONNX opset: 13 (default; loads in the most runtimes) or 17
  --threads T      threads to use (default: the cores not busy with other work)
  --backend NAME   onednn (the default where every layer has a primitive), onednn-only
                   (oneDNN's primitives without our own kernels) or reference
  --reference      the same as --backend reference
)";
}  // namespace

namespace {

// What the graph's output is, by the task the network's last layer serves.
std::string export_output_description(const Network& network) {
    switch (network_task(network).value_or(TaskKind::classify)) {
        case TaskKind::segment:
            return "output logits (N, classes, H, W), a score per class at every pixel: the argmax over axis 1 is the class map.";
        case TaskKind::detect:
            return "output the detection head's raw scores (N, 5 + classes, GH, GW): per grid cell tx, ty, tw, th, objectness and the "
                   "class scores, to decode and suppress as docs/DETECTION.md (\"ONNX export\") says.";
        case TaskKind::classify:
            break;
    }
    return "output logits (N, classes): apply softmax for probabilities.";
}

}  // namespace

int run_export(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"model", "weights", "onnx", "opset", "threads", "backend"}, {"help", "reference"});
    if (arguments.has("help")) {
        std::cout << kExportHelp;
        return 0;
    }
    const std::string output = arguments.required("onnx");
    OnnxOptions options;
    options.opset = static_cast<int>(arguments.integer("opset", kDefaultOnnxOpset, 1, 100));
    const std::span<const int> opsets = onnx_opsets();
    if (std::find(opsets.begin(), opsets.end(), options.opset) == opsets.end())
        throw UsageError("option --opset " + std::to_string(options.opset) + ": expected 13 (the default) or 17");
    check_output_file("onnx", output);
    apply_threads(arguments);
    WeightsMetadata stored;
    const std::unique_ptr<Network> network = load_trained_network(arguments, &stored);
    // What the weights file knows about the input travels into the ONNX file's metadata_props.
    options.metadata = encode_weights_metadata(*network, stored);
    options.metadata.erase("format");  // "pt" describes the safetensors tensors, not this file
    const Preprocessing& preprocessing = stored.preprocessing;
    std::string normalize;
    for (std::size_t c = 0; c < preprocessing.mean.size(); ++c)
        normalize += (c ? ", " : "") + std::to_string(preprocessing.mean[c]) + "/" + std::to_string(preprocessing.std[c]);
    options.doc_string = "input (N, C, H, W) float32: pixel values / 255 (/ 65535 for 16-bit PNG), resized by " +
                         std::string(resize_policy_name(preprocessing.resize)) + " with an antialiased bilinear filter" +
                         (normalize.empty() ? std::string("") : ", then (x - mean) / std per channel (mean/std: " + normalize + ")") +
                         "; " + export_output_description(*network) + " metadata_props \"classes\" names the classes.";
    save_onnx(*network, output, options);
    std::cout << "wrote " << output << " (ONNX opset " << options.opset << ", " << network->layer_count() << " layers)\n";
    return 0;
}

}  // namespace convnet::cli
