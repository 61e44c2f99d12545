// `convnet visualize filters|activations`: pictures of a trained network's convolution kernels and
// of every layer's output for one image, as PNG files with labels and colour scales (visualize.h).
#include "cli.h"

#include <convnet/data/image.h>
#include <convnet/nn/layers/conv2d.h>
#include <convnet/inspect/visualize.h>

#include <iostream>

namespace convnet::cli {

namespace {

constexpr const char* kVisualizeHelp = R"(usage: convnet visualize filters --weights W [--layer conv1] [--per-filter] -o FILE.png
       convnet visualize activations --weights W --image IMAGE -o FILE.png

filters      every kernel of one convolution layer in a grid: one cell per filter (output
             channel), its input channels side by side (or one RGB tile when the layer reads
             3 channels), on one blue-white-red scale for the whole layer (white = 0, the ends
             +/- the layer's largest |weight|), with its legend
activations  the network's input and every layer's output for one image, one row of maps per
             layer with its name, type and shape, each layer on its own scale with its legend;
             the prediction on top

options:
  --weights W      weights file (convnet train --save) or checkpoint; a safetensors file holds the model
  --model FILE     the model file, for weights in convnet's older format
  --layer NAME     filters: the convolution layer (default: the first)
  --per-filter     filters: each filter on its own scale (its largest |weight|, written under it),
                   which shows the pattern of small filters but hides how small they are
  --rgb-as-tiles   filters: a layer reading 3 channels drawn one tile per channel, not as RGB
  --image IMAGE    activations: a PNG or JPEG, prepared as predict prepares it (--resize, --invert)
  --resize POLICY  stretch (default, or the weights file's) or center-crop
  --invert         x -> 1 - x, for dark objects on a light background
  --data DIR       activations: class names from DIR/classes.txt (over the weights file's)
  -o, --output F   the picture to write, a .png file (replaced atomically)
)";

std::string output_path(const Arguments& arguments) {
    if (!arguments.has("output")) throw UsageError("option -o FILE.png is required: the picture to write");
    const std::string path = arguments.required("output");
    const std::string extension = std::filesystem::path(path).extension().string();
    if (extension != ".png" && extension != ".PNG")
        throw UsageError("option -o " + path + ": pictures are written as PNG; give a name ending in .png");
    check_output_file("output", path);
    return path;
}

std::string dimensions(const Picture& picture) { return std::to_string(picture.width()) + "x" + std::to_string(picture.height()); }

int run_filters(const Arguments& arguments) {
    const std::string output = output_path(arguments);
    const std::unique_ptr<Network> network = load_trained_network(arguments);
    std::vector<std::string> convolutions;
    for (const LayerPlan& plan : network->layer_plans())
        if (dynamic_cast<const Conv2d*>(plan.layer.get()) != nullptr) convolutions.push_back(plan.name);
    if (convolutions.empty()) throw Error(network->source() + ": the model has no conv2d layer, so no filters to draw");
    auto listed = [&] {
        std::string text;
        for (const std::string& name : convolutions) text += (text.empty() ? "" : ", ") + name;
        return text;
    };
    const std::string name = arguments.text("layer", convolutions.front());
    const Conv2d* layer = nullptr;
    for (const LayerPlan& plan : network->layer_plans())
        if (plan.name == name) {
            layer = dynamic_cast<const Conv2d*>(plan.layer.get());
            if (layer == nullptr)
                throw UsageError("option --layer " + name + ": " + name + " is a " + plan.layer->type() +
                                 ", not a convolution; the convolution layers are " + listed());
        }
    if (layer == nullptr) {
        const std::string nearest = nearest_name(name, convolutions);
        throw UsageError("option --layer " + name + ": no layer of that name" +
                         (nearest.empty() ? "" : " (did you mean " + nearest + "?)") + "; the convolution layers are " + listed());
    }
    const Parameter& weight = layer->weight();
    FilterSheetOptions options;
    options.title = name + ".weight of " + network->source();
    options.per_filter = arguments.has("per-filter");
    options.colour = !arguments.has("rgb-as-tiles");
    const Picture picture =
        filter_sheet(std::span<const float>(weight.value, static_cast<std::size_t>(weight.shape.element_count())), weight.shape, options);
    write_picture(output, picture);
    std::cout << "wrote " << output << " (" << dimensions(picture) << " pixels): " << name << ".weight " << weight.shape.to_string()
              << (options.per_filter ? ", each filter on its own scale" : ", one scale for the layer") << "\n";
    return 0;
}

int run_activations(const Arguments& arguments) {
    const std::string output = output_path(arguments);
    if (!arguments.has("image")) throw UsageError("option --image is required: the PNG or JPEG whose activations to draw");
    const std::string file = arguments.required("image");
    WeightsMetadata stored;
    const std::unique_ptr<Network> network = load_trained_network(arguments, &stored);
    Preprocessing preprocessing = photo_preprocessing(arguments, stored);
    const std::vector<std::string> names = arguments.has("data") ? read_class_names(arguments.required("data")) : stored.class_names;
    const Shape& sample = network->sample_shape();
    if (sample.rank() != 3) throw Error(network->source() + ": activations need a model whose input is an image (CxHxW)");
    const Image decoded = decode_image(file);
    const Tensor image = to_network_input(decoded, sample[0], sample[1], sample[2], preprocessing);
    Tensor logits;
    const std::vector<LayerActivation> layers = observe_activations(*network, image, logits);

    ActivationSheetOptions options;
    options.title = "activations of " + std::filesystem::path(file).filename().string();
    options.subtitle.push_back("model " + network->source() + "; image " + std::to_string(decoded.width) + "x" +
                               std::to_string(decoded.height) + " " + decoded.format + " read as " + sample.to_string() +
                               (preprocessing.invert ? ", inverted" : ""));
    if (logits.shape().rank() == 2) {
        std::int64_t best = 0;
        for (std::int64_t c = 1; c < logits.shape()[1]; ++c)
            if (logits[c] > logits[best]) best = c;
        const std::string best_name = best < static_cast<std::int64_t>(names.size()) ? names[static_cast<std::size_t>(best)] : "";
        options.subtitle.push_back("largest score: class " + std::to_string(best) + (best_name.empty() ? "" : " (" + best_name + ")") +
                                   ", " + short_number(logits[best]) + " (the last row: scores before softmax)");
    }
    options.output_names = names;
    const Picture picture = activation_sheet(layers, options);
    write_picture(output, picture);
    std::cout << "wrote " << output << " (" << dimensions(picture) << " pixels): the input and " << layers.size() - 1
              << " layers' outputs for " << file << "\n";
    return 0;
}

}  // namespace

int run_visualize(const std::vector<std::string>& words) {
    if (words.empty() || words[0] == "--help" || words[0] == "-h") {
        std::cout << kVisualizeHelp;
        return words.empty() ? 2 : 0;
    }
    const std::string what = words[0];
    if (what != "filters" && what != "activations") {
        const std::string nearest = nearest_name(what, {"filters", "activations"});
        throw UsageError("unknown picture '" + what + "'" + (nearest.empty() ? "" : " (did you mean " + nearest + "?)") +
                         "; expected filters or activations (convnet visualize --help)");
    }
    const std::vector<std::string> rest = std::vector<std::string>(words.begin() + 1, words.end());
    if (what == "filters") {
        const Arguments arguments(rest, {"weights", "model", "layer", "output", "backend"}, {"help", "per-filter", "rgb-as-tiles"});
        if (arguments.has("help")) {
            std::cout << kVisualizeHelp;
            return 0;
        }
        return run_filters(arguments);
    }
    const Arguments arguments(rest, {"weights", "model", "image", "output", "resize", "data", "backend"}, {"help", "invert"});
    if (arguments.has("help")) {
        std::cout << kVisualizeHelp;
        return 0;
    }
    return run_activations(arguments);
}

}  // namespace convnet::cli
