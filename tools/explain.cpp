// `convnet explain`: one self-contained HTML page that walks through a trained network with a few
// images (convnet/explain.h); written atomically.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/data/data.h>
#include <convnet/data/image.h>
#include <convnet/inspect/explain.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace convnet::cli {

namespace {
constexpr const char* kExplainHelp = R"(usage: convnet explain --weights W [--image IMG ...] [--data DIR] [--metrics M] -o report.html

Writes one HTML file that explains the trained network: its layers with each one's shape
formula, the learned filters, every layer's feature maps for each image, and on a click on any
neuron the arithmetic that produced it (window × kernel + bias, batch norm, pooling windows,
softmax's exponentials...) beside the value convnet computed; then the class probabilities, the
test accuracy and confusion matrix (with --data) and the training curves (with --metrics).
For a segmentation model: the predicted class map beside the truth (test images of --data),
with a legend; a click on a pixel of either shows its class probabilities.
For a detector (a model ending in a detect layer): the image with the boxes it finds (as predict
finds them: score 0.25, IoU 0.5) and, for test images of --data, the true boxes; the grid's
objectness as a heat map; a click on a cell shows its raw scores, σ(objectness), its most likely
classes and its decoded box, drawn on the image.
The page needs no server and loads nothing: open it from disk in any browser.

options:
  --weights W      weights file (convnet train --save) or checkpoint
  --model FILE     the model file, for weights in convnet's older format
  --image IMG      a PNG or JPEG to walk through (any size: resized as predict does); more
                   image files may follow as bare words
  --data DIR       dataset folder: class names, the test split's accuracy and confusion matrix
                   (classification), and, without --image, its first test images (or those of
                   --index) with their labels, masks or boxes
  --index LIST     comma-separated indexes into DIR's test split (default 0,1,2)
  --metrics M      the JSON lines of convnet train --metrics, drawn as training curves
  -o, --output F   the HTML file to write
  --resize POLICY  stretch or center-crop, for image files (default: the weights file's)
  --invert         x -> 1 - x, for photos of dark objects on a light background
  --threads T      threads to use (default: the cores not busy with other work)
)";

std::string read_text(const std::string& path, const std::string& option) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error("option --" + option + " " + path + ": cannot be read");
    return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// What a person sees of a network input: value·255 before any mean and std.
std::vector<std::uint8_t> picture_of(const Tensor& unnormalised) {
    std::vector<std::uint8_t> picture(static_cast<std::size_t>(unnormalised.size()));
    for (std::int64_t i = 0; i < unnormalised.size(); ++i) {
        const float value = std::clamp(unnormalised[i], 0.0f, 1.0f) * 255.0f + 0.5f;
        picture[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value);
    }
    return picture;
}
}  // namespace

int run_explain(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"model", "weights", "image", "data", "index", "metrics", "output", "resize", "threads", "cache"},
                              {"help", "invert"}, Positional::any);
    if (arguments.has("help")) {
        std::cout << kExplainHelp;
        return 0;
    }
    const std::string output = arguments.required("output");
    check_output_file("output", output);
    apply_threads(arguments);
    WeightsMetadata stored;
    const std::unique_ptr<Network> trained = load_trained_network(arguments, &stored);
    const Network& network = *trained;
    Preprocessing preprocessing = photo_preprocessing(arguments, stored);
    Preprocessing unnormalised = preprocessing;  // for the pictures
    unnormalised.mean.clear();
    unnormalised.std.clear();
    const Shape& sample = network.sample_shape();
    if (sample.rank() != 3) throw Error(network.source() + ": explain needs a model whose input is an image (CxHxW)");

    ExplainOptions options;
    options.title = std::filesystem::path(arguments.required("weights")).filename().string();
    options.model_text = stored.model.empty() && arguments.has("model") ? read_text(arguments.required("model"), "model") : stored.model;
    options.class_names = stored.class_names;
    std::vector<std::string> files = arguments.positional();
    if (arguments.has("image")) files.insert(files.begin(), arguments.required("image"));
    for (const std::string& file : files) {
        const Image decoded = decode_image(file);
        ExplainImage image;
        image.label = std::filesystem::path(file).filename().string();
        image.input = to_network_input(decoded, sample[0], sample[1], sample[2], preprocessing);
        image.picture = picture_of(to_network_input(decoded, sample[0], sample[1], sample[2], unnormalised));
        options.images.push_back(std::move(image));
    }
    if (arguments.has("index") && !arguments.has("data")) throw UsageError("option --index needs --data DIR");
    if (arguments.has("data")) {
        const std::string data = arguments.required("data");
        const Dataset test = load_data(data, "test", data_options(arguments, network, preprocessing.resize));
        check_compatible(network, test, "test");
        options.class_names = test.class_names;
        if (files.empty() || arguments.has("index")) {
            const std::string default_indexes = test.count >= 3 ? "0,1,2" : "0";
            for (std::int64_t index : parse_index_list(arguments.text("index", default_indexes), test.count)) {
                ExplainImage image;
                Targets targets;
                BatchTransform transform;
                transform.preprocessing = preprocessing;
                load_batch(test, std::span<const std::int64_t>(&index, 1), image.input, targets, transform);
                image.label = "test image " + std::to_string(index);
                // The image's targets as its task gathers them: its boxes, its mask (H·W labels) or its label.
                if (test.has_boxes()) image.truth_boxes = std::move(targets.boxes);
                else if (test.has_masks()) image.truth_mask = std::move(targets.labels);
                else image.true_label = targets.labels.at(0);
                image.picture.assign(test.image(index), test.image(index) + test.image_size());
                options.images.push_back(std::move(image));
            }
        }
        if (network_task(network) == TaskKind::classify) {
            std::cerr << "explain: classifying " << test.count << " test images for the confusion matrix\n";
            options.confusion = confusion_matrix(network, test, 500, preprocessing);
        }
    }
    if (options.images.empty())
        throw UsageError("explain needs images to show: give --image IMG (PNG or JPEG), or --data DIR for its first test images");
    if (arguments.has("metrics")) options.metrics_jsonl = read_text(arguments.required("metrics"), "metrics");

    const std::string html = explain_html(network, options);
    write_file_atomically(output, html);
    std::cerr << "explain: wrote " << output << " (" << (html.size() + 1023) / 1024 << " KiB, " << options.images.size() << " image"
              << (options.images.size() == 1 ? "" : "s") << ")\n";
    return 0;
}

}  // namespace convnet::cli
