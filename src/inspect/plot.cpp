// SVG text for the training curves and the confusion matrix (plot.h): coordinates computed here,
// drawn by whatever shows the file. Text widths are estimated (7 pixels a character at 12 px),
// which is enough to leave room for labels without measuring a font.
#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/inspect/plot.h>

#include <nlohmann/json.hpp>

#include "../core/json_depth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

namespace convnet {

namespace {

constexpr double kCharWidth = 7.0;  // an estimate of one character's width at font-size 12

// A number with `decimals` digits after the point, without a "-0".
std::string fixed(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    std::string result = text;
    if (result.find_first_not_of("-0.") == std::string::npos && result.front() == '-') result.erase(0, 1);
    return result;
}

// A pixel coordinate: one decimal is finer than any screen needs.
std::string px(double value) { return fixed(value, 1); }

std::string count_text(std::int64_t count) { return std::to_string(count); }

// The range of an axis rounded out to whole ticks of 1, 2 or 5 × 10^k, about five of them.
struct Axis {
    double low = 0.0, high = 1.0, step = 0.2;
    int decimals = 1;
    std::vector<double> ticks() const {
        std::vector<double> values;
        for (double tick = low; tick <= high + step * 1e-6; tick += step) values.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
        return values;
    }
};

Axis nice_axis(double low, double high, bool whole) {
    if (!std::isfinite(low) || !std::isfinite(high)) low = 0.0, high = 1.0;  // nothing finite to show
    if (!(high > low)) {                                                     // one value: a range around it
        const double pad = low == 0.0 ? 0.5 : std::abs(low) * 0.1;
        low -= pad;
        high += pad;
    }
    const double raw = (high - low) / 5.0;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10.0 * magnitude;
    for (const double multiple : {1.0, 2.0, 5.0})
        if (multiple * magnitude >= raw * (1.0 - 1e-9)) {
            step = multiple * magnitude;
            break;
        }
    if (whole) step = std::max(1.0, std::round(step));
    Axis axis;
    axis.step = step;
    axis.low = std::floor(low / step + 1e-9) * step;
    axis.high = std::ceil(high / step - 1e-9) * step;
    axis.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    return axis;
}

// Text for an SVG element, escaped, with characters XML 1.0 forbids (controls) left out.
std::string text_of(std::string_view text) { return xml_escape(text); }

std::string svg_open(double width, double height) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + px(width) + "\" height=\"" +
           px(height) + "\" viewBox=\"0 0 " + px(width) + " " + px(height) +
           "\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
           "fill=\"white\"/>\n";
}

std::string text_element(double x, double y, std::string_view text, const std::string& attributes = "") {
    return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\"" + (attributes.empty() ? "" : " " + attributes) + ">" + text_of(text) +
           "</text>\n";
}

// One chart in the box (x0, y0, width, height); its notes (points left out) are added to `notes`.
void draw_chart(std::string& svg, const LineChart& chart, double x0, double y0, int width, int height, std::vector<std::string>& notes) {
    const double left = x0 + 64, right = x0 + width - 16, top = y0 + 54, bottom = y0 + height - 46;
    double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
    for (const Series& series : chart.series)
        for (const auto& [x, y] : series.points) {
            if (!std::isfinite(x) || !std::isfinite(y)) continue;
            x_low = std::min(x_low, x), x_high = std::max(x_high, x);
            y_low = std::min(y_low, y), y_high = std::max(y_high, y);
        }
    const Axis x_axis = nice_axis(x_low, x_high, chart.whole_x), y_axis = nice_axis(y_low, y_high, false);
    const auto to_x = [&](double x) { return left + (x - x_axis.low) / (x_axis.high - x_axis.low) * (right - left); };
    const auto to_y = [&](double y) { return bottom - (y - y_axis.low) / (y_axis.high - y_axis.low) * (bottom - top); };

    svg += "<g class=\"chart\">\n";
    svg += text_element(x0 + width / 2.0, y0 + 20, chart.title, "text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\"");
    // The legend: one line sample and name per series, in a row under the title.
    double legend_x = left;
    for (const Series& series : chart.series) {
        const std::string dash = series.dashed ? " stroke-dasharray=\"6 3\"" : "";
        svg += "<g class=\"legend\"><line x1=\"" + px(legend_x) + "\" y1=\"" + px(y0 + 36) + "\" x2=\"" + px(legend_x + 24) + "\" y2=\"" +
               px(y0 + 36) + "\" stroke=\"" + series.colour + "\" stroke-width=\"2\"" + dash + "/><circle cx=\"" + px(legend_x + 12) +
               "\" cy=\"" + px(y0 + 36) + "\" r=\"3\" fill=\"" + series.colour + "\"/>" +
               text_element(legend_x + 30, y0 + 40, series.name) + "</g>\n";
        legend_x += 30 + kCharWidth * double(series.name.size()) + 18;
    }
    // Grid, ticks and tick labels.
    for (const double tick : x_axis.ticks()) {
        const double x = to_x(tick);
        svg += "<line x1=\"" + px(x) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(bottom) +
               "\" stroke=\"#e4e4e4\"/><line x1=\"" + px(x) + "\" y1=\"" + px(bottom) + "\" x2=\"" + px(x) + "\" y2=\"" + px(bottom + 5) +
               "\" stroke=\"#333\"/>\n";
        svg += text_element(x, bottom + 18, fixed(tick, x_axis.decimals), "class=\"tick\" text-anchor=\"middle\"");
    }
    for (const double tick : y_axis.ticks()) {
        const double y = to_y(tick);
        svg += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(right) + "\" y2=\"" + px(y) +
               "\" stroke=\"#e4e4e4\"/><line x1=\"" + px(left - 5) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left) + "\" y2=\"" + px(y) +
               "\" stroke=\"#333\"/>\n";
        svg += text_element(left - 8, y + 4, fixed(tick, y_axis.decimals), "class=\"tick\" text-anchor=\"end\"");
    }
    svg += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(right - left) + "\" height=\"" + px(bottom - top) +
           "\" fill=\"none\" stroke=\"#333\"/>\n";
    svg += text_element((left + right) / 2, bottom + 38, chart.x_label, "class=\"axis-label\" text-anchor=\"middle\"");
    svg += "<text class=\"axis-label\" text-anchor=\"middle\" transform=\"translate(" + px(x0 + 16) + " " + px((top + bottom) / 2) +
           ") rotate(-90)\">" + text_of(chart.y_label) + "</text>\n";
    // The lines: one polyline per run of finite points, and a circle at each finite point.
    for (const Series& series : chart.series) {
        const std::string dash = series.dashed ? " stroke-dasharray=\"6 3\"" : "";
        std::string run, circles, left_out;
        std::size_t run_points = 0;
        const auto end_run = [&] {
            if (run_points > 1)
                svg += "<polyline class=\"series\" fill=\"none\" stroke=\"" + series.colour + "\" stroke-width=\"2\"" + dash +
                       " points=\"" + run + "\"/>\n";
            run.clear();
            run_points = 0;
        };
        for (const auto& [x, y] : series.points) {
            if (!std::isfinite(x) || !std::isfinite(y)) {
                end_run();
                if (!left_out.empty()) left_out += ", ";
                left_out += fixed(x, chart.whole_x ? 0 : 3);
                continue;
            }
            if (!run.empty()) run += ' ';
            run += px(to_x(x)) + "," + px(to_y(y));
            ++run_points;
            circles += "<circle class=\"point\" cx=\"" + px(to_x(x)) + "\" cy=\"" + px(to_y(y)) + "\" r=\"3\" fill=\"" + series.colour +
                       "\"><title>" + text_of(series.name + " " + fixed(x, chart.whole_x ? 0 : 3) + ": " + fixed(y, 4)) +
                       "</title></circle>\n";
        }
        end_run();
        svg += circles;
        if (!left_out.empty())
            notes.push_back(chart.title + ": " + series.name + " not finite (not drawn) at " + chart.x_label + " " + left_out);
    }
    svg += "</g>\n";
}

// Matplotlib's "Blues" colour map, light to dark, by its nine ColorBrewer stops.
constexpr std::array<std::array<int, 3>, 9> kBlues{{{247, 251, 255},
                                                    {222, 235, 247},
                                                    {198, 219, 239},
                                                    {158, 202, 225},
                                                    {107, 174, 214},
                                                    {66, 146, 198},
                                                    {33, 113, 181},
                                                    {8, 81, 156},
                                                    {8, 48, 107}}};

std::string hex_colour(const std::array<int, 3>& rgb) {
    char text[8];
    std::snprintf(text, sizeof text, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    return text;
}

// The colour of `fraction` (0..1) of the scale, interpolated between the stops.
std::string blues(double fraction) {
    const double position = std::clamp(fraction, 0.0, 1.0) * double(kBlues.size() - 1);
    const auto below = std::min(static_cast<std::size_t>(position), kBlues.size() - 2);
    const double t = position - double(below);
    std::array<int, 3> rgb{};
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<int>(std::lround(kBlues[below][c] * (1 - t) + kBlues[below + 1][c] * t));
    return hex_colour(rgb);
}

std::string base64(const std::string& bytes) {
    static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string result;
    result.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t count = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t chunk = 0;
        for (std::size_t k = 0; k < 3; ++k) chunk = chunk << 8 | (k < count ? static_cast<unsigned char>(bytes[i + k]) : 0u);
        for (std::size_t k = 0; k < 4; ++k) result += k <= count ? kDigits[(chunk >> (18 - 6 * k)) & 63] : '=';
    }
    return result;
}

std::string class_name(const std::vector<std::string>& names, int label) {
    return static_cast<std::size_t>(label) < names.size() ? names[static_cast<std::size_t>(label)] : std::to_string(label);
}

// The kept mistakes of one pair, most confident first.
std::vector<Mistake> mistakes_of(const Evaluation& evaluation, const ConfusedPair& pair) {
    std::vector<Mistake> found;
    for (const Mistake& mistake : evaluation.mistakes)
        if (mistake.true_label == pair.true_label && mistake.predicted == pair.predicted) found.push_back(mistake);
    return found;
}

void check_confusion(const Evaluation& evaluation) {
    if (evaluation.classes < 1 || evaluation.confusion.size() != static_cast<std::size_t>(evaluation.classes * evaluation.classes))
        throw Error("the evaluation has no confusion matrix (" + std::to_string(evaluation.confusion.size()) + " counts for " +
                    std::to_string(evaluation.classes) + " classes)");
}

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string result;
    result.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                result += "&amp;";
                break;
            case '<':
                result += "&lt;";
                break;
            case '>':
                result += "&gt;";
                break;
            case '"':
                result += "&quot;";
                break;
            case '\'':
                result += "&apos;";
                break;
            default:
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') result += c;  // XML 1.0 forbids other controls
        }
    }
    return result;
}

std::vector<EpochMetrics> parse_metrics(const std::string& text, const std::string& source) {
    std::vector<EpochMetrics> records;
    std::istringstream lines(text);
    int line_number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++line_number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = source + ":" + std::to_string(line_number) + ": ";
        detail::refuse_nul_bytes(line, source + ":" + std::to_string(line_number));
        const nlohmann::json record = nlohmann::json::parse(line, detail::json_depth_limit(source + ":" + std::to_string(line_number)),
                                                            /*allow_exceptions=*/false);
        if (!record.is_object())
            throw Error(where + "expected one JSON object a line, as train --metrics writes (\"" + line.substr(0, 40) +
                        (line.size() > 40 ? "...\")" : "\")"));
        const auto epoch = record.find("epoch");
        if (epoch == record.end() || !epoch->is_number_integer() || epoch->get<long long>() < 1 || epoch->get<long long>() > 100000000)
            throw Error(where + "expected a whole \"epoch\" from 1, as train --metrics writes");
        EpochMetrics metrics;
        metrics.epoch = static_cast<int>(epoch->get<long long>());
        const auto number = [&](const char* name, double& value) {
            const auto field = record.find(name);
            if (field == record.end() || field->is_null()) return;  // null: not finite when written
            if (!field->is_number()) throw Error(where + "\"" + name + "\" is " + field->dump() + ", expected a number or null");
            value = field->get<double>();
        };
        number("train_loss", metrics.train_loss);
        number("train_accuracy", metrics.train_accuracy);
        number("train_pixel_accuracy", metrics.train_accuracy);  // a segmentation run's
        metrics.evaluated = record.contains("test_loss") || record.contains("test_accuracy") || record.contains("test_pixel_accuracy");
        number("test_loss", metrics.test_loss);
        number("test_accuracy", metrics.test_accuracy);
        number("test_pixel_accuracy", metrics.test_accuracy);
        number("test_miou", metrics.test_miou);
        if (!records.empty() && metrics.epoch <= records.back().epoch) records.clear();  // another run appended: keep the last
        records.push_back(metrics);
    }
    return records;
}

std::vector<EpochMetrics> read_metrics(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw Error(path.string() + ": cannot open the metrics file (written by train --metrics)");
    const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    if (file.bad()) throw Error(path.string() + ": cannot read the metrics file");
    return parse_metrics(text, path.string());
}

std::string line_charts_svg(const std::vector<LineChart>& charts, const std::string& title, int width, int height) {
    const double title_height = title.empty() ? 0.0 : 28.0;
    std::string body;
    std::vector<std::string> notes;
    for (std::size_t i = 0; i < charts.size(); ++i) draw_chart(body, charts[i], double(i) * width, title_height, width, height, notes);
    const double total_width = double(std::max<std::size_t>(charts.size(), 1)) * width;
    const double total_height = title_height + height + 18.0 * double(notes.size()) + (notes.empty() ? 0 : 6);
    std::string svg = svg_open(total_width, total_height);
    if (!title.empty())
        svg += text_element(total_width / 2, 20, title, "class=\"title\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\"");
    svg += body;
    for (std::size_t i = 0; i < notes.size(); ++i)
        svg += text_element(12, title_height + height + 14 + 18.0 * double(i), notes[i], "class=\"note\" fill=\"#b00\"");
    return svg + "</svg>\n";
}

std::string training_curves_svg(const std::vector<EpochMetrics>& metrics, const std::string& evaluated) {
    if (metrics.empty()) throw Error("no epochs to plot: the metrics hold no records");
    LineChart loss{"Loss", "epoch", "cross-entropy loss", {}, true};
    LineChart accuracy{"Accuracy", "epoch", "accuracy (fraction correct)", {}, true};
    const std::string train_colour = "#1f77b4", evaluated_colour = "#d62728";
    loss.series = {Series{"train", train_colour, false, {}}, Series{evaluated, evaluated_colour, true, {}}};
    accuracy.series = loss.series;
    // Segmentation: pixel accuracies, and the mean IoU as a third line.
    const bool segmentation = std::any_of(metrics.begin(), metrics.end(), [](const EpochMetrics& m) { return !std::isnan(m.test_miou); });
    if (segmentation) {
        accuracy.title = "Pixel accuracy and mean IoU";
        accuracy.y_label = "fraction";
        accuracy.series.push_back(Series{evaluated + " mIoU", "#2ca02c", true, {}});
    }
    for (const EpochMetrics& record : metrics) {
        loss.series[0].points.emplace_back(record.epoch, record.train_loss);
        accuracy.series[0].points.emplace_back(record.epoch, record.train_accuracy);
        if (!record.evaluated) continue;  // no point, and no "not finite" note: nothing was measured
        loss.series[1].points.emplace_back(record.epoch, record.test_loss);
        accuracy.series[1].points.emplace_back(record.epoch, record.test_accuracy);
        if (segmentation) accuracy.series[2].points.emplace_back(record.epoch, record.test_miou);
    }
    const EpochMetrics& last = metrics.back();
    std::string title = "Training curves: " + std::to_string(metrics.size()) + (metrics.size() == 1 ? " epoch" : " epochs");
    if (segmentation && std::isfinite(last.test_miou))
        title += ", " + evaluated + " mIoU " + fixed(last.test_miou, 4) + " after epoch " + std::to_string(last.epoch);
    else if (std::isfinite(last.test_accuracy))
        title += ", " + evaluated + " accuracy " + fixed(last.test_accuracy, 4) + " after epoch " + std::to_string(last.epoch);
    return line_charts_svg({loss, accuracy}, title);
}

std::vector<ConfusedPair> most_confused_pairs(const Evaluation& evaluation, std::size_t count) {
    check_confusion(evaluation);
    std::vector<ConfusedPair> pairs;
    const int classes = static_cast<int>(evaluation.classes);
    for (int t = 0; t < classes; ++t)
        for (int p = 0; p < classes; ++p)
            if (t != p && evaluation.confusion_at(t, p) > 0) pairs.push_back(ConfusedPair{t, p, evaluation.confusion_at(t, p)});
    std::stable_sort(pairs.begin(), pairs.end(), [](const ConfusedPair& a, const ConfusedPair& b) { return a.count > b.count; });
    if (pairs.size() > count) pairs.resize(count);
    return pairs;
}

namespace {

// Whether any image landed off the confusion matrix's diagonal.
bool evaluation_has_mistakes(const Evaluation& evaluation) {
    for (std::int64_t t = 0; t < evaluation.classes; ++t)
        for (std::int64_t p = 0; p < evaluation.classes; ++p)
            if (t != p && evaluation.confusion_at(t, p) > 0) return true;
    return false;
}

}  // namespace

std::string confusion_table_text(const Evaluation& evaluation, const std::vector<std::string>& class_names, std::size_t pairs) {
    check_confusion(evaluation);
    const int classes = static_cast<int>(evaluation.classes);
    std::size_t name_width = 4, count_width = 1;
    for (int c = 0; c < classes; ++c) name_width = std::max(name_width, class_name(class_names, c).size());
    for (const std::int64_t count : evaluation.confusion) count_width = std::max(count_width, count_text(count).size());
    // Columns headed by names when a row of them fits in 140 characters, else by class numbers.
    const bool named_columns = (name_width + 1) * std::size_t(classes) + name_width + 4 <= 140;
    const std::size_t column_width = std::max(count_width, named_columns ? name_width : std::to_string(classes - 1).size()) + 1;
    const auto pad_left = [](const std::string& text, std::size_t width) {
        return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
    };
    const auto pad_right = [](const std::string& text, std::size_t width) {
        return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
    };
    const auto row_label = [&](int label) {
        return named_columns ? class_name(class_names, label) : pad_left(std::to_string(label), 2) + " " + class_name(class_names, label);
    };
    const std::string corner = "true \\ predicted";
    std::size_t label_width = corner.size();
    for (int c = 0; c < classes; ++c) label_width = std::max(label_width, row_label(c).size());
    std::string out =
        "confusion matrix: rows the true class, columns the predicted class" + std::string(named_columns ? "" : " (by number)") + "\n";
    out += pad_right(corner, label_width);
    for (int c = 0; c < classes; ++c) out += pad_left(named_columns ? class_name(class_names, c) : std::to_string(c), column_width);
    out += "\n";
    for (int t = 0; t < classes; ++t) {
        out += pad_right(row_label(t), label_width);
        for (int p = 0; p < classes; ++p) out += pad_left(count_text(evaluation.confusion_at(t, p)), column_width);
        out += "\n";
    }
    const std::vector<ConfusedPair> confused = most_confused_pairs(evaluation, pairs);
    if (confused.empty()) return out + (pairs > 0 && evaluation_has_mistakes(evaluation) ? "" : "\nno mistakes\n");
    // Segmentation counts pixels and keeps no mistaken images.
    const bool pixels = evaluation.task == TaskKind::segment;
    out += pixels ? "\nmost confused (true -> predicted: pixels)\n"
                  : "\nmost confused (true -> predicted: images; the most confident mistakes: index (probability of the wrong class))\n";
    for (const ConfusedPair& pair : confused) {
        out += "  " + class_name(class_names, pair.true_label) + " -> " + class_name(class_names, pair.predicted) + ": " +
               count_text(pair.count) + (pixels ? (pair.count == 1 ? " pixel" : " pixels") : pair.count == 1 ? " image" : " images");
        const std::vector<Mistake> examples = mistakes_of(evaluation, pair);
        for (std::size_t i = 0; i < examples.size(); ++i)
            out += (i ? ", " : "; e.g. ") + std::to_string(examples[i].index) + " (" + fixed(examples[i].probability, 2) + ")";
        out += "\n";
    }
    return out;
}

std::string confusion_svg(const Evaluation& evaluation, const std::vector<std::string>& class_names, const Dataset* images,
                          std::size_t pairs) {
    check_confusion(evaluation);
    const std::string unit = evaluation.task == TaskKind::segment ? "pixels" : "images";  // what the cells count
    const int classes = static_cast<int>(evaluation.classes);
    const double cell = std::clamp(std::floor(440.0 / classes), 8.0, 44.0);
    const double label_font = std::min(12.0, std::max(5.0, cell * 0.8));
    const double char_width = kCharWidth * label_font / 12.0;
    std::size_t longest = 1;
    for (int c = 0; c < classes; ++c) longest = std::max(longest, class_name(class_names, c).size());
    const double name_width = std::min(30.0, double(longest)) * char_width;
    std::int64_t largest = 0, total = 0, correct = 0;
    for (int t = 0; t < classes; ++t)
        for (int p = 0; p < classes; ++p) {
            largest = std::max(largest, evaluation.confusion_at(t, p));
            total += evaluation.confusion_at(t, p);
            if (t == p) correct += evaluation.confusion_at(t, p);
        }
    const double left = 16 + 20 + name_width + 8, top = 48;
    const double matrix = cell * classes;
    const double column_labels = name_width * 0.7071 + label_font + 8;  // names at 45°
    const double scale_x = left + matrix + 24;
    const Axis scale_axis = nice_axis(0.0, double(std::max<std::int64_t>(largest, 1)), true);
    const std::size_t tick_digits = count_text(static_cast<std::int64_t>(scale_axis.high)).size();
    double width = scale_x + 16 + 8 + kCharWidth * double(tick_digits) + 30;
    double height = top + matrix + column_labels + 30;

    std::string body;
    const std::string accuracy = total > 0 ? fixed(double(correct) / double(total), 4) : "-";
    body += text_element(16, 26, "Confusion matrix: " + count_text(total) + (evaluation.task == TaskKind::segment ? " pixels, pixel accuracy " : " images, accuracy ") + accuracy,
                         "class=\"title\" font-size=\"15\" font-weight=\"bold\"");
    body += "<g class=\"matrix\" font-size=\"" + px(label_font) + "\">\n";
    const std::size_t cell_digits = count_text(largest).size();
    const bool counts_fit = double(cell_digits) * kCharWidth * 0.9 + 4 <= cell && cell >= 16;
    for (int t = 0; t < classes; ++t)
        for (int p = 0; p < classes; ++p) {
            const std::int64_t count = evaluation.confusion_at(t, p);
            const double fraction = largest > 0 ? double(count) / double(largest) : 0.0;
            const double x = left + p * cell, y = top + t * cell;
            body += "<rect class=\"cell\" x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(cell) + "\" height=\"" + px(cell) +
                    "\" fill=\"" + blues(fraction) + "\"><title>" +
                    text_of("true " + class_name(class_names, t) + ", predicted " + class_name(class_names, p) + ": " + count_text(count)) +
                    "</title></rect>\n";
            if (counts_fit)
                body += text_element(x + cell / 2, y + cell / 2 + 4, count_text(count),
                                     std::string("class=\"count\" text-anchor=\"middle\" font-size=\"11\" fill=\"") +
                                         (fraction > 0.5 ? "white"
                                          : count == 0   ? "#aaa"
                                                         : "#222") +
                                         "\"");
        }
    body += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(matrix) + "\" height=\"" + px(matrix) +
            "\" fill=\"none\" stroke=\"#333\"/>\n";
    for (int c = 0; c < classes; ++c) {
        const std::string name = class_name(class_names, c);
        body += text_element(left - 6, top + c * cell + cell / 2 + label_font * 0.35, name, "class=\"row-name\" text-anchor=\"end\"");
        const double x = left + c * cell + cell / 2 + label_font * 0.35, y = top + matrix + 8;
        body += "<text class=\"column-name\" text-anchor=\"end\" transform=\"translate(" + px(x) + " " + px(y) + ") rotate(-45)\">" +
                text_of(name) + "</text>\n";
    }
    body += "</g>\n";
    body += "<text class=\"axis-label\" text-anchor=\"middle\" transform=\"translate(26 " + px(top + matrix / 2) +
            ") rotate(-90)\">true class</text>\n";
    body += text_element(left + matrix / 2, top + matrix + column_labels + 14, "predicted class",
                         "class=\"axis-label\" text-anchor=\"middle\"");
    // The colour scale: the same map from 0 (bottom) to the largest count (top), with its ticks.
    body += "<defs><linearGradient id=\"confusion-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
    for (std::size_t i = 0; i < kBlues.size(); ++i)
        body += "<stop offset=\"" + fixed(double(i) / double(kBlues.size() - 1), 3) + "\" stop-color=\"" + hex_colour(kBlues[i]) + "\"/>";
    body += "</linearGradient></defs>\n";
    body += "<rect class=\"scale\" x=\"" + px(scale_x) + "\" y=\"" + px(top) + "\" width=\"16\" height=\"" + px(matrix) +
            "\" fill=\"url(#confusion-scale)\" stroke=\"#333\"/>\n";
    const double scale_top_value = double(std::max<std::int64_t>(largest, 1));
    for (const double tick : scale_axis.ticks()) {
        if (tick > scale_top_value + 1e-9) break;
        const double y = top + matrix - tick / scale_top_value * matrix;
        body += "<line x1=\"" + px(scale_x + 16) + "\" y1=\"" + px(y) + "\" x2=\"" + px(scale_x + 21) + "\" y2=\"" + px(y) +
                "\" stroke=\"#333\"/>" + text_element(scale_x + 24, y + 4, fixed(tick, 0), "class=\"tick\"");
    }
    body += "<text class=\"axis-label\" text-anchor=\"middle\" transform=\"translate(" +
            px(scale_x + 32 + kCharWidth * double(tick_digits)) + " " + px(top + matrix / 2) + ") rotate(-90)\">" + unit + "</text>\n";

    // The most confused pairs, each with thumbnails of its most confident mistakes.
    const std::vector<ConfusedPair> confused = most_confused_pairs(evaluation, pairs);
    if (!confused.empty()) {
        double y = height + 10;
        body += text_element(16, y, "Most confused pairs (true class → predicted class)", "class=\"section\" font-weight=\"bold\"");
        if (evaluation.task == TaskKind::classify)
            body += text_element(16, y + 16, "each with its most confident mistakes: test index, p = the probability given to the wrong class",
                                 "class=\"section\" font-size=\"11\"");
        y += 34;
        const bool thumbnails = images != nullptr && images->count > 0 && images->height > 0 && images->width > 0;
        const double scale = thumbnails ? 56.0 / std::max(images->height, images->width) : 1.0;
        const double thumb_w = thumbnails ? images->width * scale : 0, thumb_h = thumbnails ? images->height * scale : 0;
        const double slot = std::max(thumb_w, 84.0) + 10;
        for (const ConfusedPair& pair : confused) {
            body += "<g class=\"pair\">\n";
            body += text_element(16, y + 12,
                                 class_name(class_names, pair.true_label) + " → " + class_name(class_names, pair.predicted) + ": " +
                                     count_text(pair.count) + " " + (pair.count == 1 ? unit.substr(0, unit.size() - 1) : unit),
                                 "class=\"pair-name\"");
            const std::vector<Mistake> examples = mistakes_of(evaluation, pair);
            double x = 16;
            for (const Mistake& mistake : examples) {
                if (thumbnails && mistake.index >= 0 && mistake.index < images->count) {
                    const std::uint8_t* pixels = images->image(mistake.index);
                    const std::vector<std::uint8_t> planes(pixels, pixels + images->image_size());
                    const std::string png = encode_png(planes, images->channels, images->height, images->width, "a thumbnail");
                    body += "<image class=\"thumbnail\" x=\"" + px(x) + "\" y=\"" + px(y + 20) + "\" width=\"" + px(thumb_w) +
                            "\" height=\"" + px(thumb_h) +
                            "\" image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\" preserveAspectRatio=\"none\" "
                            "href=\"data:image/png;base64," +
                            base64(png) + "\"/>\n";
                }
                body += text_element(x, y + 20 + thumb_h + 13,
                                     std::string("#") + std::to_string(mistake.index) + " p=" + fixed(mistake.probability, 2),
                                     "class=\"example\" font-size=\"10\"");
                x += slot;
            }
            width = std::max(width, x + 8);
            y += 20 + thumb_h + 26;
            body += "</g>\n";
        }
        height = y;
    }
    return svg_open(std::max(width, 16 + kCharWidth * 72), height) + body + "</svg>\n";
}

}  // namespace convnet
