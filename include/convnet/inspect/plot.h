// Pictures of training results, written as SVG text by the library itself: line charts with
// axes, ticks, labels and a legend (the training curves of a --metrics file), and the confusion
// matrix of an evaluation as a heat map with its colour scale and the most confused images. Also
// the confusion table as plain text. Not a general plotting library: only what these need.
#pragma once

#include <convnet/data/data.h>
#include <convnet/train/trainer.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace convnet {

// One line of a --metrics file (epoch_metrics_json, train.h) read back. A value written as null
// (not finite: a NaN loss) or missing is NaN here.
struct EpochMetrics {
    int epoch = 0;
    bool evaluated = true;  // false: the line has neither test field (an epoch train --eval-every skipped)
    double train_loss = std::numeric_limits<double>::quiet_NaN();
    double train_accuracy = std::numeric_limits<double>::quiet_NaN();
    double test_loss = std::numeric_limits<double>::quiet_NaN();
    double test_accuracy = std::numeric_limits<double>::quiet_NaN();
    // Segmentation's lines: train_pixel_accuracy and test_pixel_accuracy are read as the accuracies
    // above, test_miou here; NaN for a classifier's.
    double test_miou = std::numeric_limits<double>::quiet_NaN();
};

// The records of --metrics text: one JSON object a line, blank lines skipped. A file that several
// runs appended to (the epoch numbers start again) gives its last run only. Throws convnet::Error
// naming `source` and the line for a line that is not a JSON object or has no whole "epoch" >= 1.
std::vector<EpochMetrics> parse_metrics(const std::string& text, const std::string& source);

// parse_metrics of a file's contents; throws convnet::Error naming the file when it cannot be read.
std::vector<EpochMetrics> read_metrics(const std::filesystem::path& path);

// One line of a chart: its points in data units, drawn in order. A NaN y is a gap in the line.
struct Series {
    std::string name;    // in the legend
    std::string colour;  // an SVG colour, "#1f77b4"
    bool dashed = false;
    std::vector<std::pair<double, double>> points;
};

struct LineChart {
    std::string title, x_label, y_label;
    std::vector<Series> series;
    bool whole_x = true;  // x ticks at whole numbers only (epochs)
};

// The charts side by side in one SVG, each `width`×`height` pixels, under an optional title. Each
// chart has its axes with "nice" ticks (1, 2 or 5 × 10^k) covering the finite points, its axis
// labels, a legend and, for every finite point, a <circle class="point">. Points whose y is not
// finite are left out, and named in a note under the chart.
std::string line_charts_svg(const std::vector<LineChart>& charts, const std::string& title = "", int width = 420, int height = 300);

// Loss and accuracy per epoch, train and `evaluated` ("test", or "val" for a run judged on a
// validation split), as two charts: line_charts_svg of the records. Throws convnet::Error when
// there are none.
std::string training_curves_svg(const std::vector<EpochMetrics>& metrics, const std::string& evaluated = "test");

// A (true, predicted) pair of an evaluation's confusion matrix with its count of images.
struct ConfusedPair {
    int true_label = 0, predicted = 0;
    std::int64_t count = 0;
};

// The off-diagonal cells of `evaluation.confusion` with a count above 0, most images first (ties:
// by true label, then predicted), at most `count` of them.
std::vector<ConfusedPair> most_confused_pairs(const Evaluation& evaluation, std::size_t count);

// The confusion matrix as text: rows the true class, columns the predicted class, headed by class
// names (numbers for classes `class_names` lacks, and column numbers when names would be too
// wide), then the `pairs` most confused pairs with the indices of their most confident mistakes.
std::string confusion_table_text(const Evaluation& evaluation, const std::vector<std::string>& class_names, std::size_t pairs = 5);

// The confusion matrix as an SVG heat map: a cell per (true, predicted) class with its count
// (written in cells large enough to hold it), class names on both axes, a colour scale of image
// counts; under it the `pairs` most confused pairs with thumbnails of their most confident
// mistakes from `images` (the evaluated dataset; nullptr: no thumbnails), each labelled with its
// index and the probability the network gave the wrong class. Class names are escaped.
std::string confusion_svg(const Evaluation& evaluation, const std::vector<std::string>& class_names, const Dataset* images,
                          std::size_t pairs = 5);

// `text` with & < > " ' replaced by XML entities, for SVG text and attributes.
std::string xml_escape(std::string_view text);

}  // namespace convnet
