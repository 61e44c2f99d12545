// `convnet predict` of a detection model: per image the boxes found, in the pixels of the image as
// given, as text or JSON, and the image with the boxes drawn (NAME.boxes.png; a test image also
// gets NAME.compare.png, its true boxes beside the predicted ones).
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/inspect/detection_picture.h>
#include <convnet/nn/detection.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/train/trainer.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

namespace convnet::cli {

namespace {

// One image to search: its name for messages and files, what the network receives, and the image
// drawn under the boxes.
struct DetectInput {
    std::string label, stem;
    nlohmann::ordered_json description;
    Tensor input;                // (1, C, H, W): fitted to the model and normalised as in training
    std::vector<float> picture;  // (picture_channels, picture_height, picture_width) in [0, 1]: the image as given
    std::int64_t picture_channels = 1, picture_height = 0, picture_width = 0;
    ResizePolicy policy = ResizePolicy::stretch;  // how `input` was fitted from the picture
    std::vector<ObjectBox> truth;                 // a test image's true boxes in its pixels
    bool test = false;
};

nlohmann::ordered_json detect_box_json(const Box& box) { return nlohmann::ordered_json::array({box.x1, box.y1, box.x2, box.y2}); }

// The images of --index: the test split's, already the network's size, with their true boxes.
void add_test_images(const Arguments& arguments, const Network& network, const Preprocessing& preprocessing,
                     std::vector<std::string>& names, std::vector<DetectInput>& inputs) {
    const std::string data = arguments.text("data", "");
    if (data.empty()) throw UsageError("option --index needs --data DIR (the dataset whose test images it indexes)");
    const Dataset test = load_data(data, "test", data_options(arguments, network, preprocessing.resize));
    if (names.empty()) names = test.class_names;
    check_compatible(network, test, "test");
    for (std::int64_t index : parse_index_list(arguments.text("index", ""), test.count)) {
        DetectInput input;
        input.label = "test image " + std::to_string(index);
        input.stem = "test-" + std::to_string(index);
        input.test = true;
        input.description = {{"test_index", index}, {"width", test.width}, {"height", test.height}};
        Targets targets;
        BatchTransform transform;
        transform.preprocessing = preprocessing;  // mean and std as in training
        load_batch(test, std::span<const std::int64_t>(&index, 1), input.input, targets, transform);
        // The test image is already the network's size: its pixels are the input's.
        input.picture_channels = test.channels;
        input.picture_height = test.height;
        input.picture_width = test.width;
        const std::uint8_t* bytes = test.image(index);
        input.picture.assign(bytes, bytes + test.image_size());
        for (float& value : input.picture) value /= 255.0f;
        for (const ObjectBox& object : test.objects(index))
            input.truth.push_back(ObjectBox{Box{object.box.x1 * float(test.width), object.box.y1 * float(test.height),
                                                object.box.x2 * float(test.width), object.box.y2 * float(test.height)},
                                            object.label});
        inputs.push_back(std::move(input));
    }
}

// An image file: fitted to the network as in training, and kept at its own size to draw on.
DetectInput file_input(const std::string& file, const Shape& sample, const Preprocessing& preprocessing) {
    const Image decoded = decode_image(file);
    DetectInput input;
    input.label = file;
    input.stem = std::filesystem::path(file).stem().string();
    input.input = to_network_input(decoded, sample[0], sample[1], sample[2], preprocessing);
    if (nearly_uniform(input.input))
        std::cerr << "warning: " << file << ": the image the network receives is blank or nearly uniform (every value within 2/255 of "
                  << input.input[0] << "); wholly transparent pixels read as black\n";
    // The boxes are drawn on the image as stored (in colour if it is), at its own size.
    input.picture_channels = decoded.channels >= 3 ? 3 : 1;
    input.picture_height = decoded.height;
    input.picture_width = decoded.width;
    const Tensor picture = to_network_input(decoded, input.picture_channels, decoded.height, decoded.width);
    input.picture.assign(picture.data(), picture.data() + picture.size());
    input.policy = preprocessing.resize;
    input.description = {{"file", file}, {"format", decoded.format}, {"width", decoded.width}, {"height", decoded.height}};
    return input;
}

// Where one image's pictures went.
struct DetectFiles {
    std::filesystem::path boxes, comparison;
};

// One image's boxes and truth in the JSON document's form.
void describe_detections(DetectInput& input, const std::vector<Detection>& detections, const std::vector<std::string>& names,
                         const DetectFiles& files) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const Detection& detection : detections)
        list.push_back({{"class", detection.label},
                        {"name", detection_class_name(detection.label, names)},
                        {"score", detection.score},
                        {"box", detect_box_json(detection.box)}});
    input.description["detections"] = std::move(list);
    if (input.test) {
        nlohmann::ordered_json truth = nlohmann::ordered_json::array();
        for (const ObjectBox& object : input.truth)
            truth.push_back(
                {{"class", object.label}, {"name", detection_class_name(object.label, names)}, {"box", detect_box_json(object.box)}});
        input.description["truth"] = std::move(truth);
    }
    input.description["boxes_png"] = files.boxes.string();
    if (input.test) input.description["compare_png"] = files.comparison.string();
}

// One image's boxes as text: "canvas.png: 2 detections in 96x96 pixels" (a test image's with
// "(3 true boxes)"), a line a box, and the files written.
void print_detections(const DetectInput& input, const std::vector<Detection>& detections, const std::vector<std::string>& names,
                      const DetectFiles& files) {
    const auto counted = [](std::size_t count, const char* one, const char* many) {
        return std::to_string(count) + " " + (count == 1 ? one : many);
    };
    std::string header = input.label + ": " + counted(detections.size(), "detection", "detections") + " in " +
                         std::to_string(input.picture_width) + "x" + std::to_string(input.picture_height) + " pixels";
    if (input.test) header += " (" + counted(input.truth.size(), "true box", "true boxes") + ")";
    std::printf("%s\n", header.c_str());
    for (const Detection& detection : detections)
        std::printf("  %s %.3f %.1f %.1f %.1f %.1f\n", detection_class_name(detection.label, names).c_str(), shown(detection.score),
                    shown(detection.box.x1), shown(detection.box.y1), shown(detection.box.x2), shown(detection.box.y2));
    std::printf("  wrote %s%s\n", files.boxes.c_str(),
                input.test ? (" and " + files.comparison.string() + " (truth, prediction)").c_str() : "");
}

// The pictures of one image's boxes (and, for a test image, its truth beside them).
DetectFiles draw_detections(const DetectInput& input, const std::vector<Detection>& detections, const std::vector<std::string>& names,
                            const std::filesystem::path& output) {
    // Small images are enlarged to about 256 pixels a side, as segmentation's overlays are.
    const std::int64_t scale = std::max<std::int64_t>(1, 256 / std::max(input.picture_height, input.picture_width));
    const DetectFiles files{output / (input.stem + ".boxes.png"), output / (input.stem + ".compare.png")};
    write_picture(files.boxes, detection_picture(input.picture.data(), input.picture_channels, input.picture_height, input.picture_width,
                                                 detections, names, scale));
    if (input.test)
        write_picture(files.comparison, detection_comparison_picture(input.picture.data(), input.picture_channels, input.picture_height,
                                                                     input.picture_width, input.truth, detections, names, scale));
    return files;
}

}  // namespace

int predict_detection(const Arguments& arguments, const Network& network, const WeightsMetadata& stored,
                      const Preprocessing& preprocessing) {
    const bool json = arguments.has("json");
    DetectionOptions options;
    options.score_threshold = arguments.real("score-threshold", options.score_threshold, 0.0, 1.0);
    options.iou_threshold = arguments.real("iou-threshold", options.iou_threshold, 0.0, 1.0);
    options.max_detections = arguments.integer("max-detections", options.max_detections, 1, 100000);
    std::vector<std::string> names = stored.class_names;
    const std::filesystem::path output = arguments.text("output", ".");
    const Shape& sample = network.sample_shape();
    if (sample.rank() != 3) throw Error(network.source() + ": predict needs a model whose input is an image (CxHxW)");

    // Every image, from the test split or from files, read before anything is printed or written.
    std::vector<DetectInput> inputs;
    if (arguments.has("index")) add_test_images(arguments, network, preprocessing, names, inputs);
    for (const std::string& file : arguments.positional()) inputs.push_back(file_input(file, sample, preprocessing));
    if (inputs.empty()) throw UsageError("nothing to predict: give image files (PNG or JPEG), or --data DIR --index N (see --help)");
    std::vector<std::pair<std::string, std::string>> stems;
    for (const DetectInput& input : inputs) stems.emplace_back(input.stem, input.label);
    prepare_picture_folder(output, stems);

    nlohmann::ordered_json document = {{"model", network.source()},
                                       {"task", "detect"},
                                       {"input", {{"channels", sample[0]}, {"height", sample[1]}, {"width", sample[2]}}},
                                       {"resize", resize_policy_name(preprocessing.resize)},
                                       {"invert", preprocessing.invert},
                                       {"score_threshold", options.score_threshold},
                                       {"iou_threshold", options.iou_threshold},
                                       {"max_detections", options.max_detections},
                                       {"images", nlohmann::ordered_json::array()}};
    Tensor head;
    for (DetectInput& input : inputs) {
        network.predict(input.input, head);
        const std::vector<Detection> detections =
            detections_in_picture(decode_detections(head, sample[1], sample[2], options)[0], sample[1], sample[2], input.picture_height,
                                  input.picture_width, input.policy);
        const DetectFiles files = draw_detections(input, detections, names, output);
        if (json) {
            describe_detections(input, detections, names, files);
            document["images"].push_back(std::move(input.description));
        } else {
            print_detections(input, detections, names, files);
        }
    }
    if (json) std::cout << document.dump(2) << "\n";
    return 0;
}

}  // namespace convnet::cli
