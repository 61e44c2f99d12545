// `convnet predict`: class probabilities for PNG images or for images of a dataset's test split.
#include "cli.h"

#include <convnet/data.h>
#include <convnet/error.h>
#include <convnet/image.h>
#include <convnet/loss.h>
#include <convnet/model.h>
#include <convnet/train.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <sstream>

namespace convnet::cli {

namespace {

constexpr const char* kPredictHelp = R"(usage: convnet predict --model FILE --weights W [options] IMAGE.png ...
       convnet predict --model FILE --weights W --data DIR --index N[,N...]

Prints the most likely classes of each image with their probabilities (a softmax over the
model's outputs; all of them sum to 1). A PNG must have the model's input size (28x28 for
convnet1). The network sees the samples the file stores, scaled to [0, 1] as in training
(value/255, or value/65535 for 16-bit files), with no gamma or colour-profile correction; colour
becomes grey for a 1-channel model by BT.601 luma (0.299 R + 0.587 G + 0.114 B, as PIL's
convert('L')); transparent pixels are composited onto black, the background of Fashion-MNIST
and MNIST (light objects on black). An image that is blank or nearly uniform gets a warning.

options:
  --model FILE     model file the weights were trained with
  --weights W      weights file (convnet train --save)
  --data DIR       dataset folder: class names from its classes.txt, and with --index its test images
  --index LIST     comma-separated indexes into DIR's test split (e.g. 0,1,2)
  --top K          classes to show per image (default 3)
  --threads T      threads to use (default: the cores not busy with other work)
  --backend NAME   onednn (the default where every layer has a primitive) or reference
  --reference      the same as --backend reference: each layer's plain reference code
)";

std::vector<std::int64_t> parse_indexes(const std::string& text, std::int64_t count) {
    std::vector<std::int64_t> indexes;
    std::stringstream stream(text);
    for (std::string item; std::getline(stream, item, ',');) {
        std::size_t used = 0;
        long long value = -1;
        try {
            value = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || value < 0 || value >= count)
            throw UsageError("option --index: '" + item + "' is not an index from 0 to " + std::to_string(count - 1));
        indexes.push_back(value);
    }
    if (indexes.empty()) throw UsageError("option --index: expected one or more indexes, e.g. 0,1,2");
    return indexes;
}

// "Ankle boot 0.9731 | Sneaker 0.0202 | Sandal 0.0051"
std::string top_classes(const float* probabilities, std::int64_t classes, std::int64_t top, const std::vector<std::string>& names) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    // Most likely first; NaN (from NaN weights) before any number, as torch.argmax ranks it.
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        const bool a_nan = std::isnan(probabilities[a]), b_nan = std::isnan(probabilities[b]);
        return a_nan != b_nan ? a_nan : probabilities[a] > probabilities[b];
    });
    std::string line;
    char number[32];
    for (std::int64_t k = 0; k < std::min(top, classes); ++k) {
        const std::int64_t c = order[static_cast<std::size_t>(k)];
        std::snprintf(number, sizeof(number), " %.4f", shown(probabilities[c]));
        line += (k ? " | " : "") + (c < static_cast<std::int64_t>(names.size()) ? names[static_cast<std::size_t>(c)] : std::to_string(c)) +
                number;
    }
    return line;
}

}  // namespace

int run_predict(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"model", "weights", "data", "index", "top", "threads", "backend"}, {"help", "reference"},
                              Positional::any);
    if (arguments.has("help")) {
        std::cout << kPredictHelp;
        return 0;
    }
    apply_threads(arguments);
    const std::unique_ptr<Network> trained = load_trained_network(arguments);
    const Network& network = *trained;
    const std::int64_t top = arguments.integer("top", 3, 1, 1000);
    const std::string data = arguments.text("data", "");
    const std::vector<std::string> names = data.empty() ? std::vector<std::string>{} : read_class_names(data);
    const Shape& sample = network.sample_shape();
    if (sample.rank() != 3) throw Error(network.source() + ": predict needs a model whose input is an image (CxHxW)");
    if (network.layer_plan(network.layer_count() - 1).output.rank() != 2)
        throw Error(network.source() +
                    ": the model gives scores per pixel; predict shows classes per image, from a model ending in "
                    "(N, classes)");

    // (label, tensor) per image to classify, from the test split or from PNG files.
    std::vector<std::pair<std::string, Tensor>> inputs;
    if (arguments.has("index")) {
        if (data.empty()) throw UsageError("option --index needs --data DIR (the dataset whose test images it indexes)");
        const Dataset test = load_split(data, Split::test);
        check_compatible(network, test, "test");
        std::vector<std::uint8_t> labels;
        for (std::int64_t index : parse_indexes(arguments.text("index", ""), test.count)) {
            Tensor image;
            load_batch(test, std::span<const std::int64_t>(&index, 1), image, labels);
            const std::string truth = labels[0] < names.size() ? names[labels[0]] : std::to_string(labels[0]);
            inputs.emplace_back("test image " + std::to_string(index) + " (label " + truth + ")", std::move(image));
        }
    }
    for (const std::string& file : arguments.positional()) {
        Tensor image = read_png(file, sample[0], sample[1], sample[2]);
        if (nearly_uniform(image))
            std::cerr << "warning: " << file << ": the image the network receives is blank or nearly uniform (every value within 2/255 of "
                      << image[0] << "); wholly transparent pixels read as black\n";
        inputs.emplace_back(file, std::move(image));
    }
    if (inputs.empty()) throw UsageError("nothing to predict: give PNG files, or --data DIR --index N (see --help)");

    Tensor logits, probabilities;
    for (const auto& [label, image] : inputs) {
        network.predict(image, logits);
        softmax(logits, probabilities);
        std::printf("%s: %s\n", label.c_str(), top_classes(probabilities.data(), probabilities.shape()[1], top, names).c_str());
    }
    return 0;
}

}  // namespace convnet::cli
