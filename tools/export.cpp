// `convnet export`: trained weights and their model as an ONNX file for other runtimes.
#include "cli.h"

#include <convnet/onnx.h>

#include <algorithm>
#include <iostream>

namespace convnet::cli {

namespace {
constexpr const char* kExportHelp = R"(usage: convnet export --model FILE --weights W --onnx OUT.onnx [options]

Writes the network with its weights as an ONNX model for inference (docs/ONNX.md): input
"input" (N, C, H, W) with a symbolic batch N, output "logits", the weights as initializers under
their PyTorch state_dict names, batch norm as BatchNormalization. Checked with onnx's checker,
ONNX Runtime and OpenCV's DNN module. OUT is replaced atomically, and left alone on any error.

options:
  --model FILE     model file the weights were trained with
  --weights W      weights file (convnet train --save)
  --onnx OUT       the ONNX file to write
  --opset V        ONNX opset: 13 (default; loads in the most runtimes) or 17
  --threads T      threads to use (default: the cores not busy with other work)
  --backend NAME   onednn (the default where every layer has a primitive) or reference
  --reference      the same as --backend reference
)";
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
    const std::unique_ptr<Network> network = load_trained_network(arguments);
    save_onnx(*network, output, options);
    std::cout << "wrote " << output << " (ONNX opset " << options.opset << ", " << network->layer_count() << " layers)\n";
    return 0;
}

}  // namespace convnet::cli
