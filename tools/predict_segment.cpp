// `convnet predict` of a segmentation model: per image a palette PNG of the predicted classes and
// an overlay with a legend, and the share of the pixels each class holds, as text or JSON.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/data/image.h>
#include <convnet/inspect/segmentation.h>
#include <convnet/io/weights.h>
#include <convnet/train/trainer.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

namespace convnet::cli {

namespace {

// One image to segment: its name for the output files and messages, and its planes in [0, 1]
// (before the mean and std) at its own size.
struct SegmentInput {
    std::string label, stem;
    nlohmann::ordered_json description;
    Tensor image;                     // (1, C, H, W)
    std::vector<std::uint8_t> truth;  // a test image's mask; empty for a file
};

// (x − mean) / std per channel, as training prepared its batches.
void normalize(Tensor& image, const Preprocessing& preprocessing) {
    const std::int64_t channels = image.shape()[1], plane = image.shape()[2] * image.shape()[3];
    for (std::int64_t c = 0; c < channels; ++c) {
        const auto pick = [&](const std::vector<float>& values, float none) {
            return values.empty() ? none : values[values.size() == 1 ? 0 : static_cast<std::size_t>(c)];
        };
        const float mean = pick(preprocessing.mean, 0.0f), deviation = pick(preprocessing.std, 1.0f);
        for (std::int64_t p = c * plane; p < (c + 1) * plane; ++p) image[p] = (image[p] - mean) / deviation;
    }
}

// The class map of `input` at its own size: run padded to the network's stride, cropped back.
std::vector<std::uint8_t> segment(const Network& trained, const Tensor& image, const Preprocessing& preprocessing,
                                  std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Network>>& networks) {
    const std::int64_t channels = image.shape()[1], height = image.shape()[2], width = image.shape()[3];
    std::int64_t padded_height = height, padded_width = width;
    const Network* network = &trained;
    if (trained.sample_shape() != Shape{channels, height, width}) {
        auto& sized = networks[{height, width}];
        if (!sized) sized = network_for_size(trained, height, width, padded_height, padded_width);
        network = sized.get();
        padded_height = network->sample_shape()[1];
        padded_width = network->sample_shape()[2];
    }
    // Padding is black (0 before the mean and std), as a crop's padding is in training.
    Tensor input(Shape{1, channels, padded_height, padded_width});
    input.fill(0.0f);
    for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t y = 0; y < height; ++y)
            std::copy_n(image.data() + (c * height + y) * width, width, input.data() + (c * padded_height + y) * padded_width);
    normalize(input, preprocessing);
    Tensor logits;
    network->predict(input, logits);
    const std::vector<std::uint8_t> padded = class_map(logits);
    std::vector<std::uint8_t> classes(static_cast<std::size_t>(height * width));
    for (std::int64_t y = 0; y < height; ++y) std::copy_n(padded.begin() + y * padded_width, width, classes.begin() + y * width);
    return classes;
}

// Every image to segment, from the test split (--index) or from files, read before anything is
// written: planes in [0, 1] by `preprocessing` (no mean and std), each at its own size.
std::vector<SegmentInput> segment_inputs(const Arguments& arguments, const Network& network, const Preprocessing& preprocessing) {
    std::vector<SegmentInput> inputs;
    if (arguments.has("index")) {
        const std::string data = arguments.text("data", "");
        if (data.empty()) throw UsageError("option --index needs --data DIR (the dataset whose test images it indexes)");
        const Dataset test = load_data(data, "test", data_options(arguments, network, preprocessing.resize));
        check_compatible(network, test, "test");
        for (std::int64_t index : parse_index_list(arguments.text("index", ""), test.count)) {
            Tensor image;
            std::vector<std::uint8_t> mask;
            load_batch(test, std::span<const std::int64_t>(&index, 1), image, mask);
            inputs.push_back({"test image " + std::to_string(index),
                              "test-" + std::to_string(index),
                              {{"test_index", index}},
                              std::move(image),
                              std::move(mask)});
        }
    }
    for (const std::string& file : arguments.positional()) {
        const Image decoded = decode_image(file);
        Tensor image = to_network_input(decoded, network.sample_shape()[0], decoded.height, decoded.width, preprocessing);
        nlohmann::ordered_json description = {
            {"file", file}, {"format", decoded.format}, {"width", decoded.width}, {"height", decoded.height}};
        inputs.push_back({file, std::filesystem::path(file).stem().string(), std::move(description), std::move(image), {}});
    }
    if (inputs.empty()) throw UsageError("nothing to predict: give image files (PNG or JPEG), or --data DIR --index N (see --help)");
    return inputs;
}

// Where one image's pictures went: its class map, its overlay and (a test image) its comparison.
struct SegmentFiles {
    std::filesystem::path map, overlay, comparison;
};

SegmentFiles draw_segmentation(const SegmentInput& input, const std::vector<std::uint8_t>& classes, const std::vector<std::string>& names,
                               const std::filesystem::path& output) {
    const std::int64_t height = input.image.shape()[2], width = input.image.shape()[3];
    const SegmentFiles files{output / (input.stem + ".classes.png"), output / (input.stem + ".overlay.png"),
                             output / (input.stem + ".compare.png")};
    write_file_atomically(files.map, encode_indexed_png(classes, height, width, class_palette(), files.map.string()));
    const std::int64_t scale = std::max<std::int64_t>(1, 256 / std::max(height, width));
    write_picture(files.overlay, overlay_picture(input.image.data(), input.image.shape()[1], height, width, classes, names, scale));
    // A test image also gets its truth beside the prediction.
    if (!input.truth.empty())
        write_picture(files.comparison,
                      comparison_picture(input.image.data(), input.image.shape()[1], height, width, input.truth, classes, names, scale));
    return files;
}

// The share of the pixels of each class present, as JSON and as "background 71.2% | row 28.8%".
std::pair<nlohmann::ordered_json, std::string> class_share_figures(const std::vector<std::uint8_t>& classes, std::int64_t count,
                                                                   const std::vector<std::string>& names) {
    const std::vector<double> shares = class_shares(classes, count);
    nlohmann::ordered_json share_list = nlohmann::ordered_json::array();
    std::string line;
    char number[32];
    for (std::int64_t c = 0; c < count; ++c) {
        const double share = shares[static_cast<std::size_t>(c)];
        if (share == 0.0) continue;
        const std::string name = c < static_cast<std::int64_t>(names.size()) ? names[static_cast<std::size_t>(c)] : std::to_string(c);
        share_list.push_back({{"class", c}, {"name", name}, {"share", share}});
        std::snprintf(number, sizeof(number), " %.1f%%", 100.0 * share);
        line += (line.empty() ? "" : " | ") + name + number;
    }
    return {std::move(share_list), line};
}

// The share of a test image's labelled pixels whose class was predicted right.
double pixel_accuracy_of(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& classes) {
    std::int64_t right = 0, labelled = 0;
    for (std::size_t p = 0; p < classes.size(); ++p)
        if (truth[p] != kIgnoreIndex) {
            ++labelled;
            right += truth[p] == classes[p];
        }
    return labelled > 0 ? double(right) / double(labelled) : 0.0;
}

}  // namespace

int predict_segmentation(const Arguments& arguments, const Network& network, const WeightsMetadata& stored, Preprocessing preprocessing) {
    const bool json = arguments.has("json");
    const std::vector<std::string>& names = stored.class_names;
    const std::filesystem::path output = arguments.text("output", ".");
    // The mean and std are applied after padding; the rest (no resize: each image keeps its size) by to_network_input.
    const Preprocessing normalization = preprocessing;
    preprocessing.mean.clear();
    preprocessing.std.clear();
    std::vector<SegmentInput> inputs = segment_inputs(arguments, network, preprocessing);
    std::vector<std::pair<std::string, std::string>> stems;
    for (const SegmentInput& input : inputs) stems.emplace_back(input.stem, input.label);
    prepare_picture_folder(output, stems);

    std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Network>> networks;  // by image size
    nlohmann::ordered_json document = {{"model", network.source()}, {"task", "segment"}, {"images", nlohmann::ordered_json::array()}};
    const auto count = static_cast<std::int64_t>(std::max<std::size_t>(names.size(), static_cast<std::size_t>(network.output_features())));
    for (SegmentInput& input : inputs) {
        const std::vector<std::uint8_t> classes = segment(network, input.image, normalization, networks);
        const SegmentFiles files = draw_segmentation(input, classes, names, output);
        auto [share_list, line] = class_share_figures(classes, count, names);
        if (json) {
            input.description["classes_png"] = files.map.string();
            input.description["overlay_png"] = files.overlay.string();
            if (!input.truth.empty()) {
                input.description["compare_png"] = files.comparison.string();
                input.description["pixel_accuracy"] = pixel_accuracy_of(input.truth, classes);
            }
            input.description["shares"] = std::move(share_list);
            document["images"].push_back(std::move(input.description));
        } else {
            std::printf("%s: %s\n  wrote %s and %s%s\n", input.label.c_str(), line.c_str(), files.map.c_str(), files.overlay.c_str(),
                        input.truth.empty() ? "" : (" and " + files.comparison.string() + " (image, truth, prediction)").c_str());
        }
    }
    if (json) std::cout << document.dump(2) << "\n";
    return 0;
}

}  // namespace convnet::cli
