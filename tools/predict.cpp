// `convnet predict`: class probabilities for image files (PNG, JPEG, any size) or for images of a
// dataset's test split, as text or as one JSON document.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/data/data.h>
#include <convnet/data/image.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>

namespace convnet::cli {

namespace {

constexpr const char* kPredictHelp = R"(usage: convnet predict --weights W [options] IMAGE ...
       convnet predict --weights W --data DIR --index N[,N...]

A segmentation model (trained on masks) gives a class per pixel instead: see --output. A
detection model (ending in a detect layer) finds boxes: each image's are printed one a line,
`CLASS SCORE X1 Y1 X2 Y2` in the pixels of the image as given (the last five fields are numbers,
the class a name), under a line naming the image and the count, and drawn into NAME.boxes.png
(docs/DETECTION.md, "Predicting").

Prints the most likely classes of each image with their probabilities (a softmax over the
model's outputs; all of them sum to 1). An image is a PNG or a JPEG (told apart by their bytes,
not by the name) of any size, grey, colour, palette, 16-bit or with alpha. The network sees the
samples the file stores, scaled to [0, 1] as in training (value/255, or value/65535 for 16-bit
PNGs), with no gamma, colour-profile or EXIF-orientation correction; colour becomes grey for a
1-channel model by BT.601 luma (0.299 R + 0.587 G + 0.114 B, as PIL's convert('L'));
transparent pixels are composited onto black, the background of Fashion-MNIST and MNIST (light
objects on black). An image of another size than the model's input is resized with Pillow's
antialiased bilinear filter (torchvision's Resize): see --resize. An image that is blank or
nearly uniform gets a warning. Every image is read before anything is printed: a file that
cannot be read is an error naming it, and nothing is printed.

options:
  --weights W      weights file (convnet train --save) or checkpoint; a safetensors file holds
                   the model, the class names and the preprocessing it was trained with
  --model FILE     the model file, for weights in convnet's older format
  --data DIR       dataset folder: class names from its classes.txt (over the weights file's),
                   and with --index its test images
  --index LIST     comma-separated indexes into DIR's test split (e.g. 0,1,2)
  --top K          classes to show per image (default 3)
  --score-threshold S
                   a detection model: keep the boxes scoring at least S, objectness times the
                   class's probability (default 0.25)
  --iou-threshold T
                   a detection model: a box whose IoU with a better-scoring box of its class is
                   above T is dropped, non-maximum suppression (default 0.5)
  --max-detections K
                   a detection model: at most the K best boxes of each image (default 100)
  --resize POLICY  stretch (default, or the weights file's): to the model's size, the aspect ratio changes, the whole
                   picture stays; center-crop: the shorter side to the model's size, then the
                   middle cut out (torchvision's Resize + CenterCrop), the aspect ratio kept
                   (a detection model's boxes are mapped back through it to the image's pixels)
  --invert         x -> 1 - x after scaling, for photos of dark objects on a light background
                   (transparent pixels still reach the network as black); --resize and
                   --invert apply to image files, not to test images taken by --index
  --json           one JSON document: per image the file, its size and format, and the top
                   classes with their names and probabilities (a segmentation model: each
                   class's share of the pixels and the files written; a detection model: the
                   boxes, each with its class, name, score and box [x1, y1, x2, y2] in pixels)
  -o, --output DIR a segmentation model (docs/SEGMENTATION.md): where to write, per image NAME,
                   NAME.classes.png (a palette PNG of the class of every pixel, at the image's own
                   size) and NAME.overlay.png (the image with the classes blended in and a legend);
                   the share of the pixels of each class is printed (default: the current folder);
                   a test image N (--index) also gets test-N.compare.png: image, truth, prediction;
                   a detection model: NAME.boxes.png, the image at its own size (small ones
                   enlarged) with the boxes drawn and labelled, and for a test image N
                   test-N.compare.png, its true boxes beside the predicted ones
  --threads T      threads to use (default: the cores not busy with other work)
  --backend NAME   onednn (the default where every layer has a primitive), onednn-only
                   (oneDNN's primitives without our own kernels) or reference
  --reference      the same as --backend reference: each layer's plain reference code
)";

// Class indexes, most likely first; NaN (from NaN weights) before any number, as torch.argmax ranks it.
std::vector<std::int64_t> ranked_classes(const float* probabilities, std::int64_t classes, std::int64_t top) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        const bool a_nan = std::isnan(probabilities[a]), b_nan = std::isnan(probabilities[b]);
        return a_nan != b_nan ? a_nan : probabilities[a] > probabilities[b];
    });
    order.resize(static_cast<std::size_t>(std::min(top, classes)));
    return order;
}

std::string class_name(std::int64_t c, const std::vector<std::string>& names) {
    return c < static_cast<std::int64_t>(names.size()) ? names[static_cast<std::size_t>(c)] : std::to_string(c);
}

// "Ankle boot 0.9731 | Sneaker 0.0202 | Sandal 0.0051"
std::string top_classes(const float* probabilities, std::int64_t classes, std::int64_t top, const std::vector<std::string>& names) {
    std::string line;
    char number[32];
    for (std::int64_t c : ranked_classes(probabilities, classes, top)) {
        std::snprintf(number, sizeof(number), " %.4f", shown(probabilities[c]));
        line += (line.empty() ? "" : " | ") + class_name(c, names) + number;
    }
    return line;
}

// [{"class": 9, "name": "Ankle boot", "probability": 0.9731}, ...]; a name is null without
// classes.txt, a NaN probability null (as JSON has no NaN).
nlohmann::ordered_json top_classes_json(const float* probabilities, std::int64_t classes, std::int64_t top,
                                        const std::vector<std::string>& names) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (std::int64_t c : ranked_classes(probabilities, classes, top)) {
        const double probability = probabilities[c];
        list.push_back(
            {{"class", c},
             {"name", c < static_cast<std::int64_t>(names.size()) ? nlohmann::ordered_json(names[static_cast<std::size_t>(c)]) : nullptr},
             {"probability", std::isfinite(probability) ? nlohmann::ordered_json(probability) : nullptr}});
    }
    return list;
}

// One image to classify: what the text output calls it, what the JSON says of it, its tensor.
struct PredictInput {
    std::string label;
    nlohmann::ordered_json description;
    Tensor image;
};

// Every image to classify, from the test split (--index, which also names the classes when the
// weights file does not) or from files, read before anything is printed.
std::vector<PredictInput> classify_inputs(const Arguments& arguments, const Network& network, const Preprocessing& preprocessing,
                                          std::vector<std::string>& names) {
    const std::string data = arguments.text("data", "");
    const Shape& sample = network.sample_shape();
    std::vector<PredictInput> inputs;
    if (arguments.has("index")) {
        if (data.empty()) throw UsageError("option --index needs --data DIR (the dataset whose test images it indexes)");
        const Dataset test = load_data(data, "test", data_options(arguments, network, preprocessing.resize));
        if (names.empty()) names = test.class_names;
        check_compatible(network, test, "test");
        std::vector<std::uint8_t> labels;
        for (std::int64_t index : parse_index_list(arguments.text("index", ""), test.count)) {
            Tensor image;
            BatchTransform transform;
            transform.preprocessing = preprocessing;  // mean and std as in training
            load_batch(test, std::span<const std::int64_t>(&index, 1), image, labels, transform);
            const std::string truth = class_name(labels[0], names);
            nlohmann::ordered_json description = {{"test_index", index}, {"label", labels[0]}, {"label_name", truth}};
            inputs.push_back({"test image " + std::to_string(index) + " (label " + truth + ")", std::move(description), std::move(image)});
        }
    }
    for (const std::string& file : arguments.positional()) {
        const Image decoded = decode_image(file);
        Tensor image = to_network_input(decoded, sample[0], sample[1], sample[2], preprocessing);
        if (nearly_uniform(image))
            std::cerr << "warning: " << file << ": the image the network receives is blank or nearly uniform (every value within 2/255 of "
                      << image[0] << "); wholly transparent pixels read as black\n";
        nlohmann::ordered_json description = {
            {"file", file}, {"format", decoded.format}, {"width", decoded.width}, {"height", decoded.height}};
        inputs.push_back({file, std::move(description), std::move(image)});
    }
    if (inputs.empty()) throw UsageError("nothing to predict: give image files (PNG or JPEG), or --data DIR --index N (see --help)");
    return inputs;
}

}  // namespace

int run_predict(const std::vector<std::string>& words) {
    const Arguments arguments(words,
                              {"model", "weights", "data", "index", "top", "threads", "backend", "resize", "cache", "output",
                               "score-threshold", "iou-threshold", "max-detections"},
                              {"help", "reference", "invert", "json"}, Positional::any);
    if (arguments.has("help")) {
        std::cout << kPredictHelp;
        return 0;
    }
    const bool json = arguments.has("json");
    apply_threads(arguments);
    WeightsMetadata stored;
    const std::unique_ptr<Network> trained = load_trained_network(arguments, &stored);
    const Network& network = *trained;
    // A safetensors file brings the class names and the preprocessing it was trained with.
    Preprocessing preprocessing = photo_preprocessing(arguments, stored);
    // What predict writes is the task's: a detection model's is boxes, a segmentation model's
    // pictures of the classes per pixel.
    const std::optional<TaskKind> task = network_task(network);
    if (stored.task == TaskKind::detect || task == TaskKind::detect) {
        if (arguments.has("top"))
            throw UsageError(
                "option --top: a detection model gives boxes, not ranked classes; --score-threshold and --max-detections "
                "choose the boxes shown (see --help)");
        return predict_detection(arguments, network, stored, preprocessing);
    }
    for (const char* option : {"score-threshold", "iou-threshold", "max-detections"})
        if (arguments.has(option))
            throw UsageError(std::string("option --") + option +
                             ": only for a detection model (docs/DETECTION.md), whose boxes it filters");
    if (stored.task == TaskKind::segment || task == TaskKind::segment) {
        if (arguments.has("top"))
            throw UsageError("option --top: a segmentation model gives a class per pixel; predict writes maps (see --help)");
        if (arguments.has("resize"))
            throw UsageError(
                "option --resize: a segmentation model runs on each image at its own size (docs/SEGMENTATION.md); "
                "resize the files to the scale of the training images instead");
        return predict_segmentation(arguments, network, stored, preprocessing);
    }
    if (arguments.has("output"))
        throw UsageError("option --output: only for a segmentation or a detection model, whose pictures it says where to write");
    const std::int64_t top = arguments.integer("top", 3, 1, 1000);
    const std::string data = arguments.text("data", "");
    // The weights file's names; an IDX folder's classes.txt over them (as before weights held names).
    std::vector<std::string> names = !data.empty() && dataset_kind(data) == DatasetKind::idx ? read_class_names(data) : stored.class_names;
    const Shape& sample = network.sample_shape();
    if (sample.rank() != 3) throw Error(network.source() + ": predict needs a model whose input is an image (CxHxW)");

    std::vector<PredictInput> inputs = classify_inputs(arguments, network, preprocessing, names);

    Tensor logits, probabilities;
    nlohmann::ordered_json document = {{"model", network.source()},
                                       {"input", {{"channels", sample[0]}, {"height", sample[1]}, {"width", sample[2]}}},
                                       {"resize", resize_policy_name(preprocessing.resize)},
                                       {"invert", preprocessing.invert},
                                       {"images", nlohmann::ordered_json::array()}};
    for (PredictInput& input : inputs) {
        network.predict(input.image, logits);
        softmax(logits, probabilities);
        const std::int64_t classes = probabilities.shape()[1];
        if (json) {
            input.description["top"] = top_classes_json(probabilities.data(), classes, top, names);
            document["images"].push_back(std::move(input.description));
        } else {
            std::printf("%s: %s\n", input.label.c_str(), top_classes(probabilities.data(), classes, top, names).c_str());
        }
    }
    if (json) std::cout << document.dump(2) << "\n";
    return 0;
}

}  // namespace convnet::cli
