// Model-file parsing and planning: every layer built from its line, its inputs resolved and its
// shapes checked, and the model text written back from the plans.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/plan.h>

#include "../core/text_file.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace convnet {

namespace {

// Names become the first part of dotted parameter keys ("conv1.weight").
bool valid_name(const std::string& name) {
    return !name.empty() &&
           std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::vector<std::string> split_words(const std::string& line) {
    std::istringstream stream(line);
    std::vector<std::string> words;
    for (std::string word; stream >> word;) words.push_back(word);
    return words;
}

std::string known_layer_names() {
    std::string names;
    for (const LayerType& type : layer_types()) names += (names.empty() ? "" : ", ") + std::string(type.name);
    return names;
}

Shape parse_input_shape(const std::string& text, const std::string& location) {
    std::vector<std::int64_t> dims;
    std::string_view rest = text;
    while (true) {
        const std::size_t cross = rest.find('x');
        const std::string_view part = rest.substr(0, cross);
        std::int64_t dim = 0;
        const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), dim);
        if (error != std::errc() || end != part.data() + part.size() || dim < 1 || dim > 65536)
            throw Error(location + ": input " + text + ": expected CxHxW with each size from 1 to 65536 (e.g. input 1x28x28)");
        dims.push_back(dim);
        if (cross == std::string_view::npos) break;
        rest = rest.substr(cross + 1);
    }
    if (dims.size() != 3 && dims.size() != 1)
        throw Error(location + ": input " + text + ": expected CxHxW (an image) or F (a feature vector)");
    return Shape(dims);
}

// Short prefixes for automatic names: conv1, bn1, fc1 ... as a PyTorch user would write them.
// The registry's column; an unknown type (refused later, with the list) names itself.
std::string name_prefix(const std::string& type) {
    const LayerType* row = find_layer_type(type);
    return row != nullptr ? std::string(row->name_prefix) : type;
}

}  // namespace

ModelSpec parse_model(const std::string& text, const std::string& source) {
    ModelSpec spec;
    spec.source = source;
    // UTF-16 and UTF-32 text (as some Windows editors save) and binary files hold NUL bytes.
    if (text.find('\0') != std::string::npos)
        throw Error(source + ": holds NUL bytes, so it is not UTF-8 text (saved as UTF-16? save it as UTF-8)");
    int line_number = 0;
    for (std::string line : detail::text_lines(text)) {
        ++line_number;
        const std::string location = source + ":" + std::to_string(line_number);
        if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        const std::vector<std::string> words = split_words(line);
        if (words.empty()) continue;
        if (words[0] == "input") {
            if (spec.input.rank() != 0) throw Error(location + ": a second input line; a model has one input");
            if (words.size() != 2) throw Error(location + ": expected `input CxHxW`, e.g. input 1x28x28");
            spec.input = parse_input_shape(words[1], location);
            continue;
        }
        if (spec.input.rank() == 0)
            throw Error(location + ": the first line must be `input CxHxW` (e.g. input 1x28x28), got '" + detail::visible(words[0]) + "'");
        if (find_layer_type(words[0]) == nullptr)
            throw Error(location + ": unknown layer '" + detail::visible(words[0]) + "' (known: " + known_layer_names() + ")");
        LayerLine layer{words[0], "", {}, {}, line_number};
        for (std::size_t i = 1; i < words.size(); ++i) {
            const std::size_t equals = words[i].find('=');
            if (equals == std::string::npos || equals == 0 || equals + 1 == words[i].size())
                throw Error(location + ": " + words[0] + ": expected key=value, got '" + detail::visible(words[i]) + "'");
            std::string key = words[i].substr(0, equals), value = words[i].substr(equals + 1);
            if (key == "name") {
                if (!valid_name(value))
                    throw Error(location + ": " + words[0] + ": name=" + value + ": expected letters, digits and _ only");
                if (value == "input") throw Error(location + ": " + words[0] + ": name=input is the network's input; choose another name");
                if (!layer.name.empty()) throw Error(location + ": " + words[0] + ": option name= given twice");
                layer.name = value;
                continue;
            }
            if (key == "from") {
                if (!layer.from.empty()) throw Error(location + ": " + words[0] + ": option from= given twice");
                for (std::size_t start = 0;;) {
                    const std::size_t comma = value.find(',', start);
                    const std::string part = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                    if (!valid_name(part))
                        throw Error(location + ": " + words[0] + ": from=" + detail::visible(value) +
                                    ": expected layer names separated by commas (e.g. from=conv2,input)" +
                                    (value.back() == ',' ? ", with no space after a comma" : ""));
                    layer.from.push_back(part);
                    if (comma == std::string::npos) break;
                    start = comma + 1;
                }
                continue;
            }
            if (!layer.options.emplace(key, value).second) throw Error(location + ": " + words[0] + ": option " + key + "= given twice");
        }
        spec.layers.push_back(std::move(layer));
    }
    if (spec.input.rank() == 0) throw Error(source + ": no `input CxHxW` line: an empty or comment-only model file");
    if (spec.layers.empty()) throw Error(source + ": the model has no layers after its input line");
    return spec;
}

ModelSpec read_model_file(const std::filesystem::path& path) {
    detail::check_regular_file(path, "the model file", "see models/ for examples");
    return parse_model(detail::read_small_file(path, 1u << 20, "a model file"), path.string());
}

namespace {

// The product of `shape`'s dimensions as text, exact or (past 64 bits) approximate.
std::string product_text(const Shape& shape) {
    long double product = 1;
    for (std::int64_t dim : shape.dims()) product *= static_cast<long double>(dim);
    char text[64];
    std::snprintf(text, sizeof(text), "%.3Lg", product);
    return text;
}

// Refuses a layer whose output per image or whose parameters pass kMaxLayerValues, before any of
// it is allocated: sizes past it are typing mistakes, and products past 64 bits would wrap.
void check_size_limits(const Layer& layer, const Shape& output) {
    const Shape per_image(std::vector<std::int64_t>(output.dims().begin() + 1, output.dims().end()));  // without N
    bool overflows = false;
    std::int64_t values = 1;
    for (std::int64_t dim : per_image.dims()) overflows = overflows || __builtin_mul_overflow(values, dim, &values);
    if (overflows || values > kMaxLayerValues)
        throw Error(layer.type() + " gives " + per_image.to_string() + " = " +
                    (overflows ? product_text(per_image) : thousands_text(values)) + " values per image, more than the limit of " +
                    thousands_text(kMaxLayerValues) + " (8 GiB of float32)");
    for (const Parameter& parameter : layer.parameters()) {
        bool too_many = false;
        std::int64_t count = 1;
        for (std::int64_t dim : parameter.shape.dims()) too_many = too_many || __builtin_mul_overflow(count, dim, &count);
        if (too_many || count > kMaxLayerValues)
            throw Error(layer.type() + " " + parameter.name + " of shape " + parameter.shape.to_string() + " = " +
                        (too_many ? product_text(parameter.shape) : thousands_text(count)) + " values, more than the limit of " +
                        thousands_text(kMaxLayerValues));
    }
}

}  // namespace

namespace {

// Every line's name, worked out before any layer is built so that a from= naming a later line
// can say where it is: name= where given, else the type's prefix and a count (conv1, conv2 ...).
std::vector<std::string> layer_names(const ModelSpec& spec) {
    std::vector<std::string> names;
    std::map<std::string, int> counters;
    for (const LayerLine& line : spec.layers) {
        const std::string prefix = name_prefix(line.type);
        const std::string name = line.name.empty() ? prefix + std::to_string(++counters[prefix]) : line.name;
        for (std::size_t earlier = 0; earlier < names.size(); ++earlier)
            if (names[earlier] == name)
                throw Error(spec.source + ":" + std::to_string(line.line) + ": layer name '" + name + "' is used twice (first at line " +
                            std::to_string(spec.layers[earlier].line) + ")" +
                            (line.name.empty() ? ": this line's automatic name (its type's prefix and count) collides with a name= "
                                                 "above; give one of them another name"
                                               : ""));
        names.push_back(name);
    }
    return names;
}

// The indices line `index` reads: its from= names resolved against the lines above it, or the
// line above (the network's input for the first line).
std::vector<int> resolve_inputs(const ModelSpec& spec, const std::vector<std::string>& names, std::size_t index,
                                const std::string& location) {
    const LayerLine& line = spec.layers[index];
    if (line.from.empty()) return {static_cast<int>(index) - 1};  // kNetworkInput for the first line
    std::vector<int> inputs;
    for (const std::string& wanted : line.from) {
        if (wanted == "input") {
            inputs.push_back(kNetworkInput);
            continue;
        }
        const auto found = std::find(names.begin(), names.end(), wanted);
        const std::size_t at = static_cast<std::size_t>(found - names.begin());
        if (found == names.end()) {
            std::vector<std::string> readable{"input"};
            readable.insert(readable.end(), names.begin(), names.begin() + static_cast<std::ptrdiff_t>(index));
            const std::string nearest = nearest_name(wanted, readable);
            std::string known;
            for (const std::string& name : readable) known += (known.empty() ? "" : ", ") + name;
            throw Error(location + ": " + line.type + ": from=" + wanted + ": no layer of that name above this line" +
                        (nearest.empty() ? "" : " (did you mean " + nearest + "?)") + "; it may read: " + known);
        }
        if (at == index) throw Error(location + ": " + line.type + ": from=" + wanted + ": a layer cannot read its own output (a cycle)");
        if (at > index)
            throw Error(location + ": " + line.type + ": from=" + wanted + ": '" + wanted + "' is defined later, at line " +
                        std::to_string(spec.layers[at].line) + "; a layer reads only lines above it, so move this line below that one");
        inputs.push_back(static_cast<int>(at));
    }
    return inputs;
}

// "conv2 gives 16x14x14, input gives 1x28x28": the inputs of a join, for its shape errors.
std::string inputs_text(const std::vector<int>& inputs, const std::vector<Shape>& shapes, const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t k = 0; k < inputs.size(); ++k)
        text += (k ? ", " : "") + (inputs[k] == kNetworkInput ? std::string("input") : names[static_cast<std::size_t>(inputs[k])]) +
                " gives " + shapes[k].with_batch(1).to_string();
    return text;
}

void check_arity(const Layer& layer, std::size_t count, bool from_given, const std::string& location) {
    const Layer::Arity arity = layer.input_arity();
    const auto given = static_cast<int>(count);
    if (given >= arity.minimum && (arity.maximum < 0 || given <= arity.maximum)) return;
    const std::string wants = arity.maximum < 0 ? std::to_string(arity.minimum) + " or more inputs"
                              : arity.minimum == arity.maximum
                                  ? (arity.minimum == 1 ? std::string("one input") : std::to_string(arity.minimum) + " inputs")
                                  : std::to_string(arity.minimum) + " to " + std::to_string(arity.maximum) + " inputs";
    if (!from_given)
        throw Error(location + ": " + layer.type() + " reads " + wants +
                    "; without from= it reads only the line above: list them as from=A,B");
    throw Error(location + ": " + layer.type() + " reads " + wants + ", from= names " + std::to_string(given) +
                (arity.maximum == 1 ? " (join them first with add or concat)" : " (list them as from=A,B)"));
}

// A layer whose output nothing reads is a mistake (a branch left dangling): only the last line's
// output leaves the network.
void check_every_output_read(const ModelSpec& spec, const std::vector<LayerPlan>& plans) {
    std::vector<bool> read(plans.size(), false);
    for (const LayerPlan& plan : plans)
        for (int input : plan.inputs)
            if (input != kNetworkInput) read[static_cast<std::size_t>(input)] = true;
    for (std::size_t i = 0; i + 1 < plans.size(); ++i)
        if (!read[i])
            throw Error(spec.source + ":" + std::to_string(plans[i].line) + ": the output of '" + plans[i].name +
                        "' is never read: only the last line ('" + plans.back().name +
                        "') gives the network's output; read it with from= on a later line, or remove the line");
}

}  // namespace

std::vector<LayerPlan> plan_model(const ModelSpec& spec) {
    std::vector<std::int64_t> dims{1};
    dims.insert(dims.end(), spec.input.dims().begin(), spec.input.dims().end());
    const Shape network_input(dims);
    const std::vector<std::string> names = layer_names(spec);
    std::vector<LayerPlan> plans;
    for (std::size_t index = 0; index < spec.layers.size(); ++index) {
        const LayerLine& line = spec.layers[index];
        const std::string location = spec.source + ":" + std::to_string(line.line);
        LayerPlan plan{nullptr, names[index], line.line, Shape{}, Shape{}, resolve_inputs(spec, names, index, location), {}};
        for (int input : plan.inputs)
            plan.input_shapes.push_back(input == kNetworkInput ? network_input : plans[static_cast<std::size_t>(input)].output);
        plan.input = plan.input_shapes.front();
        LayerOptions options(line.type, line.options, location);
        options.set_input_shapes(plan.input_shapes);
        try {
            plan.layer = find_layer_type(line.type)->create(options, plan.input);
            options.check_all_used();
            check_arity(*plan.layer, plan.inputs.size(), !line.from.empty(), location);
            try {
                plan.output = plan.layer->graph_output_shape(plan.input_shapes);
            } catch (const Error& error) {
                if (plan.inputs.size() < 2) throw;
                throw Error(std::string(error.what()) + " (" + inputs_text(plan.inputs, plan.input_shapes, names) + ")");
            }
            check_size_limits(*plan.layer, plan.output);
        } catch (const Error& error) {
            // Option errors name the location already; the layers' own checks name only the
            // layer and the numbers.
            const std::string message = error.what();
            throw Error(message.rfind(location + ":", 0) == 0 ? message : location + ": " + message);
        }
        plans.push_back(std::move(plan));
    }
    check_every_output_read(spec, plans);
    return plans;
}

std::string format_model(const std::vector<LayerPlan>& layers, const Shape& input) {
    std::string text = "input " + input.to_string() + "\n";
    std::map<std::string, int> counters;
    for (std::size_t index = 0; index < layers.size(); ++index) {
        const LayerPlan& plan = layers[index];
        const std::string type = plan.layer->type(), options = plan.layer->options_text();
        const std::string prefix = name_prefix(type);
        // As plan_model names: only unnamed layers advance their prefix's counter.
        const bool automatic = plan.name == prefix + std::to_string(counters[prefix] + 1);
        if (automatic) ++counters[prefix];
        std::string from;
        if (plan.inputs != std::vector<int>{static_cast<int>(index) - 1})
            for (int source : plan.inputs)
                from += (from.empty() ? " from=" : ",") +
                        (source == kNetworkInput ? std::string("input") : layers[static_cast<std::size_t>(source)].name);
        text += type + (options.empty() ? "" : " " + options) + from + (automatic ? "" : " name=" + plan.name) + "\n";
    }
    return text;
}

}  // namespace convnet
