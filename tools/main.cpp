// The `convnet` command: dispatches to a subcommand and is the one place where library errors
// become a message on stderr and a non-zero exit code.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/core/version.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

namespace {

constexpr const char* kUsage = R"(convnet: build, train and run convolutional networks on the CPU

usage: convnet <command> [options]

commands:
  train      train a model file on an image dataset (convnet train --help)
  eval       evaluate trained weights on a dataset's test split (convnet eval --help)
  predict    class probabilities for PNG or JPEG images or test images (convnet predict --help)
  summary    a model file's layers, formulas, parameters and cost (convnet summary --help)
  export     trained weights as an ONNX model for other runtimes (convnet export --help)
  visualize  pictures of a network's filters or of every layer's maps for an image (convnet visualize --help)
  filter     a classic kernel (edge, sobel-x, blur, sharpen, ...) applied to an image (convnet filter --help)
  plot       training curves (SVG) from a train --metrics file (convnet plot --help)
  explain    one HTML page that walks through a trained network, neuron by neuron (convnet explain --help)

options:
  -V, --version  the version, the oneDNN version and the CPU instruction set it uses
  -h, --help     this text

Run `make demo` for the seed network on Fashion-MNIST. Commands: docs/CLI.md. Model files: docs/MODEL_FORMAT.md.
)";

void print_version() {
    std::cout << "convnet " << convnet::version() << "\n"
              << "oneDNN " << convnet::onednn_version() << ", CPU kernels " << convnet::onednn_cpu_isa() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
    // Past a file-size limit (ulimit -f) the kernel's default is to kill the process (SIGXFSZ,
    // with a core dump); ignored, write() fails with EFBIG instead and the writer's message names
    // the file and the limit, the previous file kept.
    std::signal(SIGXFSZ, SIG_IGN);
    std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
        std::cout << kUsage;
        return words.empty() ? 2 : 0;
    }
    if (words[0] == "--version" || words[0] == "-V") {
        print_version();
        return 0;
    }
    const std::string command = words[0];
    words.erase(words.begin());
    try {
        if (command == "train") return convnet::cli::run_train(words, argv[0]);
        if (command == "eval") return convnet::cli::run_eval(words);
        if (command == "predict") return convnet::cli::run_predict(words);
        if (command == "summary") return convnet::cli::run_summary(words);
        if (command == "export") return convnet::cli::run_export(words);
        if (command == "visualize") return convnet::cli::run_visualize(words);
        if (command == "filter") return convnet::cli::run_filter(words);
        if (command == "plot") return convnet::cli::run_plot(words);
        if (command == "explain") return convnet::cli::run_explain(words);
        const std::string nearest =
            convnet::nearest_name(command, {"train", "eval", "predict", "summary", "export", "visualize", "filter", "plot", "explain"});
        std::cerr << "convnet: unknown command '" << command << "'" << (nearest.empty() ? "" : " (did you mean " + nearest + "?)") << "\n\n"
                  << kUsage;
        return 2;
    } catch (const convnet::MisconfigurationError& error) {  // cli::UsageError among them
        std::cerr << "convnet " << command << ": error: " << error.what() << "\n";
        return 2;
    } catch (const convnet::Error& error) {
        std::cerr << "convnet " << command << ": error: " << error.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "convnet " << command << ": error: out of memory\n";
        return 1;
    } catch (const std::exception& error) {
        std::cerr << "convnet " << command << ": internal error: " << error.what() << "\n";
        return 1;
    }
}
