// The model summary: per-layer shapes and output-size formulas, parameter and multiply-add counts,
// memory totals and rounding warnings, worked out from plan_model alone; text and JSON renderers.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/inspect/summary.h>
#include <convnet/nn/layers/conv2d.h>
#include <convnet/train/optim.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <utility>

namespace convnet {

namespace {

// One axis of a sliding window (convolution or pooling): the numbers of (W − F + 2P)/S + 1.
struct WindowAxis {
    std::int64_t input = 0, kernel = 1, stride = 1, padding = 0, dilation = 1;
    bool padding_at_most_half_kernel = false;  // pooling's rule: pad=P must stay ≤ F/2

    std::int64_t span() const { return dilation * (kernel - 1) + 1; }
    // W + 2P − span: never negative once plan_model accepted the layer.
    std::int64_t numerator() const { return input + 2 * padding - span(); }
    std::int64_t remainder() const { return numerator() % stride; }
    std::int64_t output() const { return numerator() / stride + 1; }
    bool valid() const { return input >= 1 && kernel >= 1 && stride >= 1 && padding >= 0 && numerator() >= 0; }
    bool operator==(const WindowAxis&) const = default;
};

// x^-1 modulo m (m ≥ 1, gcd(x, m) = 1), by the extended Euclidean algorithm.
std::int64_t inverse_modulo(std::int64_t x, std::int64_t m) {
    std::int64_t old_r = x % m, r = m, old_s = 1, s = 0;
    while (r != 0) {
        const std::int64_t q = old_r / r;
        old_r = std::exchange(r, old_r - q * r);
        old_s = std::exchange(s, old_s - q * s);
    }
    return ((old_s % m) + m) % m;
}

// How many of the `input` positions no window reads: those past the last window when the
// division rounds down, and those between windows when the stride passes over them (stride
// larger than the kernel's span, or the holes of a dilated kernel). Exact, in one pass over the
// positions whatever the kernel, stride or padding: window o reads padded position t = o·S + d·D
// for a tap d in [0, F), so t is read when some d in the range that keeps o in [0, outputs) solves
// d·D ≡ t (mod S); with g = gcd(D, S) that needs g | t, and then d ≡ (t/g)·(D/g)⁻¹ (mod S/g).
std::int64_t unseen_positions(const WindowAxis& axis) {
    const std::int64_t outputs = axis.output(), stride = axis.stride, dilation = axis.dilation;
    const std::int64_t g = std::gcd(dilation, stride), step = stride / g;
    const std::int64_t inverse = inverse_modulo(dilation / g, step);
    const std::int64_t last_start = (outputs - 1) * stride;  // of the last window, padded coordinates
    std::int64_t unseen = 0;
    for (std::int64_t position = 0; position < axis.input; ++position) {
        const std::int64_t t = position + axis.padding;
        if (t % g != 0) {
            ++unseen;
            continue;
        }
        // Taps that put t inside a window that exists: t − d·D in [0, last_start].
        const std::int64_t low = std::max<std::int64_t>(0, t > last_start ? (t - last_start + dilation - 1) / dilation : 0);
        const std::int64_t high = std::min(axis.kernel - 1, t / dilation);
        const std::int64_t residue = (t / g) % step * inverse % step;  // the taps that land on t, modulo step
        const std::int64_t first = low + ((residue - low % step) % step + step) % step;
        unseen += first > high;
    }
    return unseen;
}

// True when the unseen positions, if any, are exactly the last ones (rounding down, no gaps).
bool unseen_only_at_the_end(const WindowAxis& axis, std::int64_t unseen) {
    return unseen == std::max<std::int64_t>(axis.remainder() - axis.padding, 0) && (axis.span() >= axis.stride || axis.output() == 1);
}

struct WindowGeometry {
    WindowAxis height, width;
};

// Convolution and pooling geometry from the layer's own description; empty for layers without a
// sliding window (they show no formula).
std::optional<WindowGeometry> window_geometry(const Layer& layer, const Shape& input, const Shape& output) {
    const std::optional<SlidingWindow> window = layer.sliding_window();
    if (!window || input.rank() != 4 || output.rank() != 4) return std::nullopt;
    const SlidingWindow& w = *window;
    return WindowGeometry{{input[2], w.kernel_height, w.stride_height, w.padding_height, w.dilation_height, w.padding_at_most_half_kernel},
                          {input[3], w.kernel_width, w.stride_width, w.padding_width, w.dilation_width, w.padding_at_most_half_kernel}};
}

// "13.5", "9.33": up to two decimals, trailing zeros dropped.
std::string decimal_text(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
    std::string text = buffer;
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
}

// "(28 − 5 + 2·2)/1 + 1 = 28"; with dilation D the kernel spans D·(F − 1) + 1; a fraction is
// written out and then rounded down, as PyTorch does: "(28 − 3 + 2·0)/2 + 1 = 13.5 → 13".
std::string axis_formula(const WindowAxis& axis) {
    // Built with a stream: GCC 12 misreports chains of "literal" + std::string (-Wrestrict).
    std::ostringstream text;
    text << "(" << axis.input << " − ";
    if (axis.dilation == 1) text << axis.kernel;
    else text << "(" << axis.dilation << "·(" << axis.kernel << " − 1) + 1)";
    text << " + 2·" << axis.padding << ")/" << axis.stride << " + 1";
    if (axis.remainder() == 0) {
        text << " = " << axis.output();
    } else {
        const double exact = double(axis.numerator()) / double(axis.stride) + 1.0;
        const bool two_decimals_exact = std::abs(exact * 100.0 - std::round(exact * 100.0)) < 1e-9;
        text << (two_decimals_exact ? " = " : " ≈ ") << decimal_text(exact) << " → " << axis.output();
    }
    return text.str();
}

std::string window_formula(const WindowGeometry& window) {
    if (window.height == window.width) return axis_formula(window.height);
    return "H: " + axis_formula(window.height) + "; W: " + axis_formula(window.width);
}

// "27 or 29": the nearest values below and above (either may be missing).
std::string alternatives_text(std::optional<std::int64_t> below, std::optional<std::int64_t> above) {
    if (below && above) return std::to_string(*below) + " or " + std::to_string(*above);
    return std::to_string(below ? *below : *above);
}

// The nearest value below and above `current`, within [minimum, maximum] and at most
// kCandidates steps away each way, for which `fits` holds.
constexpr std::int64_t kCandidates = 4096;
template <typename Fits>
std::string nearest_fitting(std::int64_t current, std::int64_t minimum, std::int64_t maximum, Fits fits) {
    std::optional<std::int64_t> below, above;
    for (std::int64_t value = current - 1; value >= minimum && value >= current - kCandidates && !below; --value)
        if (fits(value)) below = value;
    for (std::int64_t value = current + 1; value <= maximum && value <= current + kCandidates && !above; ++value)
        if (fits(value)) above = value;
    return below || above ? alternatives_text(below, above) : "";
}

// Which of W, F, P or S, changed alone, would make (W − F + 2P)/S whole and leave no input position
// unread (the nearest such values): only changes that reduce what is lost are suggested.
std::string exact_alternatives(const WindowAxis& axis, const std::string& axis_name) {
    const std::string axis_label = "the input " + (axis_name == "height and width" ? std::string("size") : axis_name);
    std::vector<std::string> parts, misfits;
    auto offer = [&](const char* letter, const std::string& what, const std::string& values) {
        if (values.empty()) misfits.push_back(std::string(letter) + " (" + what + ")");
        else parts.push_back(std::string(letter) + " = " + values + " (" + what + ")");
    };
    auto exact = [](WindowAxis changed) { return changed.valid() && changed.remainder() == 0 && unseen_positions(changed) == 0; };
    // Large inputs are left unsearched: each candidate costs a pass over the input.
    if (axis.input > (std::int64_t{1} << 16)) return "";
    // Past these a value cannot help: a kernel spanning more than the padded input, a stride past
    // the whole span, padding past the kernel's span (windows of padding alone). The input size is
    // offered only within a stride (times the dilation) of what it is: shrinking a picture to a
    // few pixels is no fix.
    const std::int64_t padded = axis.input + 2 * axis.padding;
    const std::int64_t input_reach = axis.stride * axis.dilation;
    offer(
        "W", axis_label,
        nearest_fitting(axis.input, std::max<std::int64_t>(1, axis.input - input_reach), axis.input + input_reach, [&](std::int64_t value) {
            WindowAxis changed = axis;
            changed.input = value;
            return exact(changed);
        }));
    offer("F", "kernel=", nearest_fitting(axis.kernel, 1, (padded - 1) / axis.dilation + 1, [&](std::int64_t value) {
              WindowAxis changed = axis;
              changed.kernel = value;
              return exact(changed) && (!changed.padding_at_most_half_kernel || 2 * changed.padding <= value);
          }));
    offer("P", "pad=", nearest_fitting(axis.padding, 0, axis.span(), [&](std::int64_t value) {
              WindowAxis changed = axis;
              changed.padding = value;
              return exact(changed) && (!changed.padding_at_most_half_kernel || 2 * value <= changed.kernel);
          }));
    offer("S", "stride=", nearest_fitting(axis.stride, 1, std::max<std::int64_t>(axis.numerator(), 1), [&](std::int64_t value) {
              WindowAxis changed = axis;
              changed.stride = value;
              return exact(changed);
          }));
    std::string text;
    for (const std::string& part : parts) text += (text.empty() ? "" : ", ") + part;
    if (!misfits.empty()) {
        std::string names;
        for (const std::string& misfit : misfits) names += (names.empty() ? "" : " or ") + misfit;
        text += (text.empty() ? "no " : "; no ") + names + " alone fits";
    }
    return text;
}

std::string count_noun(std::int64_t count, const char* singular, const char* plural) {
    return std::to_string(count) + " " + (count == 1 ? singular : plural);
}

// The warnings for one window layer: one per axis, or one for both when they are the same.
void add_rounding_warnings(const std::string& source, const SummaryRow& row, const WindowGeometry& window,
                           std::vector<SummaryWarning>& warnings) {
    struct AxisCase {
        const WindowAxis* axis;
        std::string name;
        bool rows, columns;
    };
    std::vector<AxisCase> cases;
    if (window.height == window.width) cases.push_back({&window.height, "height and width", true, true});
    else cases = {{&window.height, "height", true, false}, {&window.width, "width", false, true}};
    for (const AxisCase& axis_case : cases) {
        const WindowAxis& axis = *axis_case.axis;
        const std::int64_t unseen = unseen_positions(axis);
        if (axis.remainder() == 0 && unseen == 0) continue;
        SummaryWarning warning;
        warning.layer = row.name;
        warning.line = row.line;
        warning.axis = axis_case.name;
        warning.unseen_rows = axis_case.rows ? unseen : 0;
        warning.unseen_columns = axis_case.columns ? unseen : 0;
        const std::string rows = count_noun(unseen, "row", "rows"), columns = count_noun(unseen, "column", "columns");
        const auto some_of = [&](const char* noun) {
            return std::to_string(unseen) + " of the " + std::to_string(axis.input) + " " + noun;
        };
        std::string lost;
        if (unseen == 0) lost = "only padding is left out, no input " + std::string(axis_case.rows ? "row" : "column") + " is lost";
        else if (unseen_only_at_the_end(axis, unseen))
            lost = "the last " +
                   (axis_case.rows && axis_case.columns ? rows + " and " + columns
                    : axis_case.rows                    ? rows
                                                        : columns) +
                   " of the input " + (unseen == 1 && !(axis_case.rows && axis_case.columns) ? "is" : "are") + " never seen";
        else
            lost = (axis_case.rows && axis_case.columns ? some_of("rows") + " and " + some_of("columns")
                                                        : some_of(axis_case.rows ? "rows" : "columns")) +
                   " of the input are never read: the windows step " + std::to_string(axis.stride) + " but read " +
                   (axis.dilation == 1 ? std::to_string(axis.kernel) + " at a time"
                                       : std::to_string(axis.kernel) + " taps " + std::to_string(axis.dilation) + " apart");
        const std::string cause = axis.remainder() == 0 ? " along " + axis_case.name + ": "
                                                        : " is not whole along " + axis_case.name + " ((W − F + 2P)/S leaves " +
                                                              std::to_string(axis.remainder()) + " over): PyTorch rounds down, so ";
        const std::string fixes = exact_alternatives(axis, axis_case.name);
        warning.message = source + ":" + std::to_string(row.line) + ": " + row.name + " (" + row.type + "): " + axis_formula(axis) + cause +
                          lost + "." +
                          (fixes.empty() ? "" : (unseen == 0 ? " Exact with " : " Every input position read with ") + fixes + ".");
        warnings.push_back(std::move(warning));
    }
}

// a·b + b, saturating instead of overflowing on absurd volumes.
std::int64_t fully_connected_count(std::int64_t inputs, std::int64_t outputs) {
    std::int64_t weights = 0, total = 0;
    if (__builtin_mul_overflow(inputs, outputs, &weights) || __builtin_add_overflow(weights, outputs, &total))
        return std::numeric_limits<std::int64_t>::max();
    return total;
}

}  // namespace

std::string volume_text(const Shape& shape) {
    // (1, C, H, W) -> "W×H×C"; (1, F) -> "F": the seed articles' width × height × depth.
    std::string text;
    for (int axis = shape.rank() - 1; axis >= 1; --axis) text += (text.empty() ? "" : "×") + std::to_string(shape[axis]);
    return text;
}

ModelSummary summarize_model(const ModelSpec& spec) {
    const std::vector<LayerPlan> plans = plan_model(spec);
    ModelSummary summary;
    summary.source = spec.source;
    summary.input = spec.input;
    static_cast<PlanCosts&>(summary.totals) = plan_costs(plans, spec.input.element_count(), spec.source);
    // What the summary prints for training: Adam's (value, gradient, two moments per trainable value).
    summary.totals.training_parameter_bytes = training_memory_need(summary.totals, 0, kAdamStateValuesPerParameter, 0).parameter_bytes;
    for (const LayerPlan& plan : plans) {
        const Layer& layer = *plan.layer;
        SummaryRow row;
        row.name = plan.name;
        row.type = layer.type();
        row.attributes = layer.attributes();
        row.options = options_text(row.attributes);
        row.line = plan.line;
        row.input = plan.input;
        row.output = plan.output;
        row.input_shapes = plan.input_shapes;
        for (int input : plan.inputs) row.inputs.push_back(input == kNetworkInput ? "input" : plans[static_cast<std::size_t>(input)].name);
        row.trainable_parameters = layer.parameter_count(ParameterRole::trainable);
        row.buffer_parameters = layer.parameter_count(ParameterRole::buffer);
        row.multiply_adds = layer.multiply_adds(plan.input);  // plan_costs has checked it
        const std::optional<WindowGeometry> window = window_geometry(layer, plan.input, plan.output);
        if (window) {
            row.formula = window_formula(*window);
            add_rounding_warnings(spec.source, row, *window, summary.warnings);
        } else {
            row.formula = layer.output_size_formula(plan.input, plan.output);
        }
        if (dynamic_cast<const Conv2d*>(&layer) != nullptr) {
            row.fully_connected_parameters = fully_connected_count(plan.input.element_count(), plan.output.element_count());
            row.sharing_ratio = double(row.fully_connected_parameters) / double(std::max<std::int64_t>(row.trainable_parameters, 1));
        }
        summary.rows.push_back(std::move(row));
    }
    return summary;
}

namespace {

// Columns count code points, not bytes: the table uses ×, −, · and →.
std::size_t display_width(const std::string& text) {
    std::size_t width = 0;
    for (unsigned char byte : text)
        if ((byte & 0xC0) != 0x80) ++width;
    return width;
}

std::string pad_right(const std::string& text, std::size_t width) {
    return text + std::string(width > display_width(text) ? width - display_width(text) : 0, ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
    return std::string(width > display_width(text) ? width - display_width(text) : 0, ' ') + text;
}

// "116,520 bytes (113.8 KiB)".
std::string bytes_text(std::int64_t bytes) {
    return thousands_text(bytes) + " bytes" + (bytes >= 1024 ? " (" + memory_text(bytes) + ")" : "");
}

std::string ratio_text(double ratio) {
    if (ratio >= 10.0) return thousands_text(static_cast<std::int64_t>(std::llround(ratio))) + "×";
    return decimal_text(ratio) + "×";
}

}  // namespace

std::string format_summary_text(const ModelSummary& summary) {
    // A graph (some layer reads other than the line above) gets a column saying what each reads.
    bool graph = false;
    for (std::size_t index = 0; index < summary.rows.size(); ++index) {
        const std::string above = index == 0 ? "input" : summary.rows[index - 1].name;
        graph = graph || summary.rows[index].inputs != std::vector<std::string>{above};
    }
    std::vector<std::vector<std::string>> cells;
    cells.push_back({"layer", "", "input", "output size (W − F + 2P)/S + 1", "output", "parameters", "multiply-adds"});
    if (graph) cells.back().insert(cells.back().begin() + 2, "reads");
    for (const SummaryRow& row : summary.rows) {
        std::string reads, volumes;
        for (std::size_t k = 0; k < row.inputs.size(); ++k) {
            reads += (k ? ", " : "") + row.inputs[k];
            volumes += (k ? " + " : "") + volume_text(row.input_shapes[k]);
        }
        cells.push_back({row.name, row.type + (row.options.empty() ? "" : " " + row.options), volumes, row.formula, volume_text(row.output),
                         thousands_text(row.trainable_parameters), thousands_text(row.multiply_adds)});
        if (graph) cells.back().insert(cells.back().begin() + 2, reads);
    }
    const SummaryTotals& totals = summary.totals;
    cells.push_back({"total", "", "", "", "", thousands_text(totals.trainable_parameters), thousands_text(totals.inference_multiply_adds)});
    if (graph) cells.back().insert(cells.back().begin() + 2, "");
    std::vector<std::size_t> widths(cells.front().size(), 0);
    for (const auto& line : cells)
        for (std::size_t column = 0; column < line.size(); ++column) widths[column] = std::max(widths[column], display_width(line[column]));
    std::vector<bool> right_aligned{false, false, false, false, false, true, true};
    if (graph) right_aligned.insert(right_aligned.begin() + 2, false);

    std::ostringstream out;
    std::vector<std::int64_t> input_dims{1};
    input_dims.insert(input_dims.end(), summary.input.dims().begin(), summary.input.dims().end());
    out << summary.source << ": input " << summary.input.to_string();
    if (summary.input.rank() == 3) out << " (" << volume_text(Shape(input_dims)) << ")";
    out << ", " << summary.rows.size() << " layers; volumes are width×height×depth, counts per image\n\n";
    for (std::size_t index = 0; index < cells.size(); ++index) {
        if (index + 1 == cells.size()) {
            std::size_t rule = 0;
            for (std::size_t width : widths) rule += width + 2;
            out << std::string(rule - 2, '-') << "\n";
        }
        std::string line;
        for (std::size_t column = 0; column < cells[index].size(); ++column) {
            const std::string& cell = cells[index][column];
            line += (column > 0 ? "  " : "") + (right_aligned[column] ? pad_left(cell, widths[column]) : pad_right(cell, widths[column]));
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
    }

    bool any_convolution = false;
    for (const SummaryRow& row : summary.rows) any_convolution = any_convolution || row.fully_connected_parameters > 0;
    if (any_convolution) {
        out << "\nparameter sharing: a fully connected layer between the same volumes would need in·out + out\n";
        for (const SummaryRow& row : summary.rows) {
            if (row.fully_connected_parameters == 0) continue;
            out << "  " << row.name << "  " << volume_text(row.input) << " → " << volume_text(row.output) << ": "
                << thousands_text(row.fully_connected_parameters) << " instead of " << thousands_text(row.trainable_parameters) << " ("
                << ratio_text(row.sharing_ratio) << " more)\n";
        }
    }

    out << "\ntotals per image (float32):\n"
        << "  parameters        " << thousands_text(totals.trainable_parameters) << " trainable + "
        << thousands_text(totals.buffer_parameters) << " buffers = " << bytes_text(totals.parameter_bytes) << "\n"
        << "                    training with Adam (value, gradient, 2 moments): " << bytes_text(totals.training_parameter_bytes) << "\n"
        << "  activations       forward " << bytes_text(totals.forward_activation_bytes)
        << (graph ? ": the most alive at once (an output lives until its last reader)\n" : ": the largest input + output pair\n")
        << "                    training " << bytes_text(totals.training_activation_bytes)
        << ": every activation kept, plus the largest gradient pair\n"
        << "  multiply-adds     inference " << thousands_text(totals.inference_multiply_adds) << ", training step "
        << thousands_text(totals.training_multiply_adds) << "\n";

    if (summary.warnings.empty()) {
        out << "\nno rounding: every window covers its input exactly\n";
    } else {
        out << "\n";
        for (const SummaryWarning& warning : summary.warnings) out << "warning: " << warning.message << "\n";
    }
    return out.str();
}

namespace {

// Per-image dimensions (the batch axis dropped): [16, 28, 28].
nlohmann::ordered_json json_dims(const Shape& shape_with_batch) {
    return std::vector<std::int64_t>(shape_with_batch.dims().begin() + 1, shape_with_batch.dims().end());
}

// {"in_channels": 1, "kernel_size": [5, 5], "bias": true}: the attributes as JSON values.
nlohmann::ordered_json json_attributes(const std::vector<Attribute>& attributes) {
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    for (const Attribute& attribute : attributes)
        std::visit(
            [&](const auto& value) {
                using T = std::decay_t<decltype(value)>;
                if constexpr (std::is_same_v<T, std::pair<std::int64_t, std::int64_t>>)
                    object[attribute.name] = {value.first, value.second};
                else object[attribute.name] = value;
            },
            attribute.value);
    return object;
}

}  // namespace

std::string format_summary_json(const ModelSummary& summary) {
    using Json = nlohmann::ordered_json;  // keys in the order written, as docs/SUMMARY.md lists them
    Json layers = Json::array();
    for (const SummaryRow& row : summary.rows) {
        Json layer = {{"name", row.name},
                      {"type", row.type},
                      {"options", row.options},
                      {"attributes", json_attributes(row.attributes)},
                      {"inputs", row.inputs},
                      {"input_shapes",
                       [&] {
                           Json shapes = Json::array();
                           for (const Shape& shape : row.input_shapes) shapes.push_back(json_dims(shape));
                           return shapes;
                       }()},
                      {"line", row.line},
                      {"input", json_dims(row.input)},
                      {"input_volume", volume_text(row.input)},
                      {"output", json_dims(row.output)},
                      {"output_volume", volume_text(row.output)},
                      {"formula", row.formula.empty() ? Json(nullptr) : Json(row.formula)},
                      {"trainable_parameters", row.trainable_parameters},
                      {"buffer_parameters", row.buffer_parameters},
                      {"multiply_adds", row.multiply_adds}};
        if (row.fully_connected_parameters > 0) {
            layer["fully_connected_parameters"] = row.fully_connected_parameters;
            layer["sharing_ratio"] = row.sharing_ratio;  // a non-finite number would be written as null
        }
        layers.push_back(std::move(layer));
    }
    const SummaryTotals& totals = summary.totals;
    Json warnings = Json::array();
    for (const SummaryWarning& warning : summary.warnings)
        warnings.push_back({{"layer", warning.layer},
                            {"line", warning.line},
                            {"axis", warning.axis},
                            {"unseen_rows", warning.unseen_rows},
                            {"unseen_columns", warning.unseen_columns},
                            {"message", warning.message}});
    const Json document = {{"model", summary.source},
                           {"input", summary.input.dims()},
                           {"layers", std::move(layers)},
                           {"totals",
                            {{"trainable_parameters", totals.trainable_parameters},
                             {"buffer_parameters", totals.buffer_parameters},
                             {"parameter_bytes", totals.parameter_bytes},
                             {"training_parameter_bytes", totals.training_parameter_bytes},
                             {"input_values", totals.input_values},
                             {"forward_activation_bytes", totals.forward_activation_bytes},
                             {"training_activation_bytes", totals.training_activation_bytes},
                             {"inference_multiply_adds", totals.inference_multiply_adds},
                             {"training_multiply_adds", totals.training_multiply_adds}}},
                           {"warnings", std::move(warnings)}};
    // Bytes that are not UTF-8 (a file name, say) become U+FFFD instead of failing the dump.
    return document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace convnet
