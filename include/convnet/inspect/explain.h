// The explainer page: one self-contained HTML file (no server, no network, works from file://)
// that walks through a trained network — its layers with their shape formulas, the learned
// filters, every layer's feature maps for a few images and, on a click on any neuron, the
// arithmetic that produced it — then the probabilities (a segmentation model: the predicted class
// map beside the truth, and a pixel's probabilities on a click; a detector: the boxes it finds, its
// grid's objectness as a heat map, and a cell's scores and decoded box on a click), the test
// accuracy and training curves.
// It is a report, not an editor: it changes nothing and reads nothing after it is written.
#pragma once

#include <convnet/data/data.h>
#include <convnet/nn/detection.h>
#include <convnet/data/image.h>
#include <convnet/nn/network.h>
#include <convnet/core/tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace convnet {

// One image to walk through the network.
struct ExplainImage {
    std::string label;                  // "test image 0" or the file name
    std::optional<int> true_label;      // the dataset's label when known (classification only)
    Tensor input;                       // (1, C, H, W): what the network receives (normalised)
    std::vector<std::uint8_t> picture;  // (C, H, W), 0..255: what a person sees (before mean/std)
    // (H, W) of the network's output: a segmentation test image's mask (class indices,
    // kIgnoreIndex where none); empty otherwise.
    std::vector<std::uint8_t> truth_mask;
    // A detection test image's objects (boxes in the image's unit, 0..1, as the dataset keeps
    // them; possibly none); nullopt when not known.
    std::optional<std::vector<ObjectBox>> truth_boxes;
};

// Predicted against true classes over a dataset: counts[true][predicted].
struct ConfusionMatrix {
    std::vector<std::vector<std::int64_t>> counts;
    std::int64_t images = 0;
};

// Evaluation mode over every image of `dataset` (prepared with `preprocessing`'s mean and std,
// as training prepared them), in batches of `batch_size`. Requires a network ending in (N, classes).
ConfusionMatrix confusion_matrix(const Network& network, const Dataset& dataset, std::int64_t batch_size,
                                 const Preprocessing& preprocessing = {});

struct ExplainOptions {
    std::string title;                     // the weights file, for the heading
    std::string model_text;                // the model file's text, shown as it is
    std::vector<std::string> class_names;  // index = class; may be empty
    std::vector<ExplainImage> images;      // at least one
    std::optional<ConfusionMatrix> confusion;
    std::string metrics_jsonl;   // `convnet train --metrics` lines; empty: no curves
    DetectionOptions detection;  // what keeps a detector's boxes (predict's defaults: score 0.25, IoU 0.5)
    // A parameter with more values than this is left out of the page (the arithmetic of its
    // layer then shows the stored value and says why); every parameter of models/ fits.
    std::int64_t largest_embedded_parameter = std::int64_t{1} << 22;
};

// The whole page. Data is embedded as JSON in a <script type="application/json"> block: the
// summary rows, each layer's attributes, parameters and, per image, every layer's output as
// base64 little-endian float32; pictures are PNG data: URIs. A model ending in (N, classes) also
// gets each image's logits and probabilities; one ending in (N, classes, H, W) (segmentation)
// each image's class map (class_map: the argmax per pixel) and truth mask as base64 bytes, and
// class_palette()'s colours, from which the page draws both maps and, on a click on a pixel, its
// softmax over the classes. A detector (network_task: its last layer is a detect head) gets each
// image's detections (decode_detections with options.detection; boxes in input pixels), its true
// boxes when given, σ(objectness) of every cell (the heat map) and every cell as decode_cell reads
// it (its box in input pixels, σ(objectness), the class probabilities) as base64 float32, from
// which the page draws the boxes and the heat map and, on a click on a cell, its raw scores, their
// decoding recomputed beside decode_cell's, and its box. A Content-Security-Policy allows nothing but the page's own inline
// script, style and data: images. Opening the page with #selftest appends a JSON report (console
// errors, resource loads, decoded images, neuron checks, probabilities, the class maps as drawn
// and clicked pixels, the boxes as drawn and clicked cells) in <pre id="selftest"> for the browser test.
// Throws convnet::Error when there are no images, an image does not fit the network, a truth
// mask is given for a model without scores per pixel or is not of its output's height × width,
// or true boxes are given for a model that is not a detector.
std::string explain_html(const Network& network, const ExplainOptions& options);

}  // namespace convnet
