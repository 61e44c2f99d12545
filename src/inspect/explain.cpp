// The explainer page (explain.h): the network, its weights and every layer's outputs for a few
// images, gathered as JSON and wrapped in the page's own script and style (explain_page.h).
#include <convnet/inspect/detection_picture.h>
#include <convnet/core/error.h>
#include <convnet/inspect/explain.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/loss.h>
#include <convnet/inspect/segmentation.h>
#include <convnet/inspect/summary.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include "explain_page.h"
#include "../core/json_depth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <sstream>

namespace convnet {

namespace {

using Json = nlohmann::ordered_json;

static_assert(std::endian::native == std::endian::little, "the page reads float32 arrays as little-endian bytes");

std::string base64(const unsigned char* bytes, std::size_t count) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string text;
    text.reserve((count + 2) / 3 * 4);
    for (std::size_t i = 0; i < count; i += 3) {
        const std::uint32_t chunk = (std::uint32_t{bytes[i]} << 16) | (i + 1 < count ? std::uint32_t{bytes[i + 1]} << 8 : 0) |
                                    (i + 2 < count ? std::uint32_t{bytes[i + 2]} : 0);
        text += kAlphabet[(chunk >> 18) & 63];
        text += kAlphabet[(chunk >> 12) & 63];
        text += i + 1 < count ? kAlphabet[(chunk >> 6) & 63] : '=';
        text += i + 2 < count ? kAlphabet[chunk & 63] : '=';
    }
    return text;
}

// float32 values as base64 of their little-endian bytes: exact, and about 5.3 characters a value.
std::string floats_base64(const float* values, std::int64_t count) {
    return base64(reinterpret_cast<const unsigned char*>(values), static_cast<std::size_t>(count) * sizeof(float));
}

Json dims_without_batch(const Shape& shape) {
    Json dims = Json::array();
    for (int axis = 1; axis < shape.rank(); ++axis) dims.push_back(shape[axis]);
    return dims;
}

Json attribute_json(const AttributeValue& value) {
    return std::visit(
        [](const auto& v) -> Json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::pair<std::int64_t, std::int64_t>>) return Json::array({v.first, v.second});
            else return Json(v);
        },
        value);
}

Json layer_json(const LayerPlan& plan, const SummaryRow& row, std::int64_t largest_parameter) {
    Json attributes = Json::object();
    for (const Attribute& attribute : plan.layer->attributes()) attributes[attribute.name] = attribute_json(attribute.value);
    Json parameters = Json::object();
    for (const Parameter& parameter : plan.layer->parameters()) {
        Json entry = {{"shape", parameter.shape.dims()}};
        const std::int64_t count = parameter.shape.element_count();
        if (count <= largest_parameter) entry["data"] = floats_base64(parameter.value, count);
        else entry["omitted"] = "a parameter of " + std::to_string(count) + " values is not embedded";
        parameters[parameter.name] = std::move(entry);
    }
    Json input_shapes = Json::array();
    for (const Shape& shape : plan.input_shapes) input_shapes.push_back(dims_without_batch(shape));
    std::string input_volumes;
    for (const Shape& shape : row.input_shapes) input_volumes += (input_volumes.empty() ? "" : " + ") + volume_text(shape);
    return {{"name", plan.name},
            {"type", plan.layer->type()},
            {"line", plan.line},
            {"options", row.options},
            {"inputs", plan.inputs},
            {"input_names", row.inputs},
            {"input_shapes", std::move(input_shapes)},
            {"output", dims_without_batch(plan.output)},
            {"input_volume", input_volumes},
            {"output_volume", volume_text(row.output)},
            {"formula", row.formula},
            {"trainable", row.trainable_parameters},
            {"buffers", row.buffer_parameters},
            {"multiply_adds", row.multiply_adds},
            {"attributes", std::move(attributes)},
            {"parameters", std::move(parameters)}};
}

Json metrics_json(const std::string& jsonl) {
    Json records = Json::array();
    std::istringstream lines(jsonl);
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        detail::refuse_nul_bytes(line, "metrics line " + std::to_string(number));
        try {
            records.push_back(Json::parse(line, detail::json_depth_limit<Json>("metrics line " + std::to_string(number))));
        } catch (const nlohmann::json::exception& error) {
            throw Error("metrics line " + std::to_string(number) + " is not JSON (" + error.what() +
                        "): expected `convnet train --metrics` output");
        }
        if (!records.back().is_object())
            throw Error("metrics line " + std::to_string(number) + " is not a JSON object: expected `convnet train --metrics` output");
    }
    return records;
}

std::string png_data_uri(const ExplainImage& image, const Shape& sample) {
    return "data:image/png;base64," + [&] {
        const std::string png = encode_png(image.picture, sample[0], sample[1], sample[2]);
        return base64(reinterpret_cast<const unsigned char*>(png.data()), png.size());
    }();
}

// A detector's view of one image (head: its (1, 5 + K, GH, GW) output): the boxes convnet predict
// reports for a picture of the input's size (detections_in_picture clips them to it) with the cell
// each came from, the true boxes, and every cell as decode_cell reads it, all in input pixels.
Json explain_detection_json(const Tensor& head, const Shape& sample, const ExplainImage& image, const DetectionOptions& options) {
    const std::int64_t height = sample[1], width = sample[2], rows = head.shape()[2], columns = head.shape()[3];
    const auto box_json = [](double x1, double y1, double x2, double y2) { return Json::array({x1, y1, x2, y2}); };
    // Per cell, row by row: σ(objectness) (the heat map), and x1 y1 x2 y2, σ(objectness), the K class probabilities.
    std::vector<CellPrediction> predictions;
    std::vector<float> objectness, cells;
    for (std::int64_t row = 0; row < rows; ++row)
        for (std::int64_t column = 0; column < columns; ++column) {
            const CellPrediction& cell = predictions.emplace_back(decode_cell(head, 0, row, column, height, width));
            objectness.push_back(cell.objectness);
            cells.insert(cells.end(), {cell.box.x1, cell.box.y1, cell.box.x2, cell.box.y2, cell.objectness});
            cells.insert(cells.end(), cell.class_probabilities.begin(), cell.class_probabilities.end());
        }
    Json detections = Json::array();
    const std::vector<Detection> decoded = decode_detections(head, height, width, options).at(0);
    const std::vector<Detection> shown = detections_in_picture(decoded, height, width, height, width, ResizePolicy::stretch);
    for (std::size_t i = 0; i < decoded.size(); ++i) {
        // decode_detections keeps a cell's box as decode_cell made it: the same floats.
        const Box& b = decoded[i].box;
        const auto same = [&](const CellPrediction& cell) {
            return cell.box.x1 == b.x1 && cell.box.y1 == b.y1 && cell.box.x2 == b.x2 && cell.box.y2 == b.y2;
        };
        const auto from = std::find_if(predictions.begin(), predictions.end(), same);
        const std::int64_t at = from - predictions.begin();
        const Box& clipped = shown[i].box;
        detections.push_back({{"class", decoded[i].label},
                              {"score", decoded[i].score},
                              {"box", box_json(clipped.x1, clipped.y1, clipped.x2, clipped.y2)},
                              {"cell", from == predictions.end() ? Json(nullptr) : Json::array({at / columns, at % columns})}});
    }
    Json truth = nullptr;
    if (image.truth_boxes) {
        truth = Json::array();
        for (const ObjectBox& object : *image.truth_boxes) {
            const Box& b = object.box;  // in the image's unit
            truth.push_back({{"class", object.label},
                             {"box", box_json(double(b.x1) * double(width), double(b.y1) * double(height), double(b.x2) * double(width),
                                              double(b.y2) * double(height))}});
        }
    }
    return {{"detections", std::move(detections)},
            {"truth_boxes", std::move(truth)},
            {"objectness", floats_base64(objectness.data(), static_cast<std::int64_t>(objectness.size()))},
            {"cells", floats_base64(cells.data(), static_cast<std::int64_t>(cells.size()))}};
}

// detection_colour of classes 0 … count − 1 as [r, g, b]: the boxes' colours in predict's pictures.
Json detection_colours(std::int64_t count) {
    Json colours = Json::array();
    for (int label = 0; label < count; ++label) {
        const Rgb colour = detection_colour(label);
        colours.push_back(Json::array({colour.red, colour.green, colour.blue}));
    }
    return colours;
}

// JSON inside <script>: "</" would end the element early; "<\/" reads back as the same string.
std::string script_safe(std::string text) {
    for (std::size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 3)) text.replace(at, 2, "<\\/");
    return text;
}

std::string html_escape(const std::string& text) {
    std::string escaped;
    for (char c : text) {
        switch (c) {
            case '&':
                escaped += "&amp;";
                break;
            case '<':
                escaped += "&lt;";
                break;
            case '>':
                escaped += "&gt;";
                break;
            case '"':
                escaped += "&quot;";
                break;
            default:
                escaped += c;
        }
    }
    return escaped;
}

}  // namespace

ConfusionMatrix confusion_matrix(const Network& network, const Dataset& dataset, std::int64_t batch_size,
                                 const Preprocessing& preprocessing) {
    if (network.layer_plan(network.layer_count() - 1).output.rank() != 2)
        throw Error(network.source() + ": a confusion matrix needs a model ending in (N, classes)");
    const std::int64_t classes = std::max<std::int64_t>(network.output_features(), dataset.num_classes());
    ConfusionMatrix matrix;
    matrix.counts.assign(static_cast<std::size_t>(classes), std::vector<std::int64_t>(static_cast<std::size_t>(classes), 0));
    BatchTransform transform;
    transform.preprocessing = preprocessing;
    Tensor images, logits;
    std::vector<std::uint8_t> labels;
    std::vector<std::int64_t> indices;
    for (std::int64_t start = 0; start < dataset.count; start += batch_size) {
        const std::int64_t count = std::min(batch_size, dataset.count - start);
        indices.resize(static_cast<std::size_t>(count));
        for (std::int64_t i = 0; i < count; ++i) indices[static_cast<std::size_t>(i)] = start + i;
        load_batch(dataset, indices, images, labels, transform);
        network.predict(images, logits);
        const std::int64_t outputs = logits.shape()[1];
        for (std::int64_t i = 0; i < count; ++i) {
            const float* row = logits.data() + i * outputs;
            const std::int64_t predicted = std::max_element(row, row + outputs) - row;
            ++matrix.counts[labels[static_cast<std::size_t>(i)]][static_cast<std::size_t>(predicted)];
        }
    }
    matrix.images = dataset.count;
    return matrix;
}

std::string explain_html(const Network& network, const ExplainOptions& options) {
    if (options.images.empty()) throw Error("the explainer page needs at least one image");
    const Shape& sample = network.sample_shape();
    if (sample.rank() != 3) throw Error(network.source() + ": the explainer page needs a model whose input is an image (CxHxW)");
    const std::vector<LayerPlan>& plans = network.layer_plans();
    const ModelSummary summary = summarize_model(parse_model(format_model(plans, sample), network.source()));

    Json layers = Json::array();
    for (std::size_t i = 0; i < plans.size(); ++i)
        layers.push_back(layer_json(plans[i], summary.rows.at(i), options.largest_embedded_parameter));

    // (N, classes); scoring pixels, (N, classes, H, W); a detect head, (N, 5 + classes, GH, GW).
    const Shape& scores = plans.back().output;
    const std::optional<TaskKind> task = network_task(network);
    const bool classifies = task == TaskKind::classify, segments = task == TaskKind::segment, detects = task == TaskKind::detect;
    Json images = Json::array();
    for (const ExplainImage& image : options.images) {
        const Shape expected({1, sample[0], sample[1], sample[2]});
        if (image.input.shape() != expected || image.picture.size() != static_cast<std::size_t>(sample.element_count()))
            throw Error(image.label + ": the image does not have the network's input shape " + std::to_string(sample[0]) + "x" +
                        std::to_string(sample[1]) + "x" + std::to_string(sample[2]));
        if (!image.truth_mask.empty() && (!segments || image.truth_mask.size() != static_cast<std::size_t>(scores[2] * scores[3])))
            throw Error(image.label + ": a truth mask of " + std::to_string(image.truth_mask.size()) + " pixels does not fit " +
                        (segments ? "the network's output of " + std::to_string(scores[2]) + "x" + std::to_string(scores[3]) + " pixels"
                                  : "a network without scores per pixel"));
        if (image.truth_boxes && !detects)
            throw Error(image.label + ": true boxes are given for a network that does not end in a detect head");
        Json activations = Json::array();
        Tensor logits, probabilities;
        network.observe(image.input, logits, [&](std::size_t, const LayerPlan&, const Tensor& output) {
            activations.push_back(floats_base64(output.data(), output.size()));
        });
        Json entry = {{"label", image.label},
                      {"true_label", image.true_label ? Json(*image.true_label) : Json(nullptr)},
                      {"picture", png_data_uri(image, sample)},
                      {"input", floats_base64(image.input.data(), image.input.size())},
                      {"activations", std::move(activations)}};
        if (classifies) {
            softmax(logits, probabilities);  // as convnet predict computes them
            entry["logits"] = std::vector<float>(logits.data(), logits.data() + logits.size());
            entry["probabilities"] = std::vector<float>(probabilities.data(), probabilities.data() + probabilities.size());
        }
        if (segments) {  // the class map as convnet predict computes it; the page softmaxes a clicked pixel's scores
            const std::vector<std::uint8_t> classes = class_map(logits);
            entry["class_map"] = base64(classes.data(), classes.size());
            entry["truth_mask"] = image.truth_mask.empty() ? Json(nullptr) : Json(base64(image.truth_mask.data(), image.truth_mask.size()));
        }
        if (detects) entry.update(explain_detection_json(logits, sample, image, options.detection));
        images.push_back(std::move(entry));
    }

    Json confusion = nullptr;
    if (options.confusion) confusion = {{"counts", options.confusion->counts}, {"images", options.confusion->images}};
    const SummaryTotals& totals = summary.totals;
    const Json data = {{"title", options.title},
                       {"source", network.source()},
                       {"model_text", options.model_text},
                       {"input", sample.dims()},
                       {"classes", options.class_names},
                       {"classifies", classifies},
                       {"segments", segments},
                       {"palette", segments ? Json(class_palette()) : Json(nullptr)},
                       {"detects", detects},
                       {"detection", detects ? Json{{"grid", Json::array({scores[2], scores[3]})},
                                                    {"colours", detection_colours(scores[1] - Detect::kBoxChannels)},
                                                    {"score_threshold", options.detection.score_threshold},
                                                    {"iou_threshold", options.detection.iou_threshold},
                                                    {"max_detections", options.detection.max_detections}}
                                             : Json(nullptr)},
                       {"totals",
                        {{"trainable", totals.trainable_parameters},
                         {"buffers", totals.buffer_parameters},
                         {"multiply_adds", totals.inference_multiply_adds}}},
                       {"layers", std::move(layers)},
                       {"images", std::move(images)},
                       {"confusion", std::move(confusion)},
                       {"metrics", metrics_json(options.metrics_jsonl)}};

    std::string html;
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    // Nothing may load: only this page's own inline script and style, and data: pictures.
    html +=
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    html += "<title>convnet explain: " + html_escape(options.title) + "</title>\n<style>\n";
    html += kExplainStyle;
    html += "</style>\n</head>\n<body>\n<main id=\"page\"><noscript>This page draws its pictures with JavaScript.</noscript></main>\n";
    html += "<aside id=\"arithmetic\" hidden></aside>\n";
    html += "<script type=\"application/json\" id=\"data\">";
    html += script_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    html += "</script>\n<script>\n";
    html += kExplainScript;
    html += "</script>\n</body>\n</html>\n";
    return html;
}

}  // namespace convnet
