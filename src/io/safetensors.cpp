// The safetensors reader and writer: the header through nlohmann-json (with a parser callback
// that refuses repeated keys, which the library would otherwise keep the last of), the data
// checked entry by entry before anything is copied.
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/io/safetensors.h>
#include <convnet/io/weights.h>

#include "../core/json_depth.h"
#include "../core/text_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

namespace convnet {

namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; this build assumes a little-endian CPU");

using Json = nlohmann::json;

// Parses the header text, refusing a key repeated within one object.
Json parse_header(std::string_view text, const std::string& source) {
    std::vector<std::set<std::string>> keys;  // per open object
    std::string repeated;
    const Json::parser_callback_t depth_limit = detail::json_depth_limit(source + ": the safetensors header");
    const Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
        depth_limit(depth, event, parsed);
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        else if (event == Json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
        else if (event == Json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
                 repeated.empty())
            repeated = parsed.get<std::string>();
        return true;
    };
    detail::refuse_nul_bytes(text, source + ": the safetensors header", 8);
    Json header;
    try {
        header = Json::parse(text.begin(), text.end(), callback);
    } catch (const Json::exception& error) {
        throw Error(source + ": the safetensors header is not valid UTF-8 JSON (" + error.what() + ")");
    }
    if (!repeated.empty()) throw Error(source + ": the safetensors header names \"" + detail::visible(repeated) + "\" twice");
    if (!header.is_object()) throw Error(source + ": the safetensors header is not a JSON object");
    return header;
}

struct Entry {
    std::string name;
    StateTensor::DType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin, end;
};

// The size in bytes of one element, for the dtypes safetensors defines; 0 for an unknown name.
std::uint64_t dtype_size(const std::string& dtype) {
    static const std::map<std::string, std::uint64_t> sizes{{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
                                                            {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
                                                            {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
    const auto found = sizes.find(dtype);
    return found == sizes.end() ? 0 : found->second;
}

Entry read_entry(const std::string& name, const Json& value, const std::string& source) {
    const std::string where = source + ": tensor \"" + detail::visible(name) + "\": ";
    if (!value.is_object()) throw Error(where + "expected an object with dtype, shape and data_offsets");
    for (const auto& [key, unused] : value.items())
        if (key != "dtype" && key != "shape" && key != "data_offsets")
            throw Error(where + "unknown field \"" + detail::visible(key) + "\"");
    if (!value.contains("dtype") || !value["dtype"].is_string()) throw Error(where + "dtype is missing or not a string");
    const std::string dtype = value["dtype"].get<std::string>();
    const std::uint64_t element = dtype_size(dtype);
    if (element == 0) throw Error(where + "unknown dtype \"" + detail::visible(dtype) + "\"");
    if (dtype != "F32" && dtype != "I64")
        throw Error(where + "dtype " + dtype + " is not read by convnet (F32 tensors, I64 scalars); save it as float32");
    Entry entry{name, dtype == "F32" ? StateTensor::DType::f32 : StateTensor::DType::i64, {}, 0, 0};
    if (!value.contains("shape") || !value["shape"].is_array()) throw Error(where + "shape is missing or not an array");
    // The shape's bytes, count × element, stay below 2^62, so that the product cannot wrap round to
    // the size of a few bytes of data (a shape of 2^31 × 2^31 float32 once matched data_offsets [0, 0]).
    constexpr std::uint64_t kLargestBytes = std::uint64_t{1} << 62;
    std::uint64_t count = 1;
    for (const Json& dim : value["shape"]) {
        if (!dim.is_number_unsigned()) throw Error(where + "shape " + value["shape"].dump() + ": expected non-negative integers");
        const auto size = dim.get<std::uint64_t>();
        if (size > (std::uint64_t{1} << 40) || (size != 0 && count > kLargestBytes / element / size))
            throw Error(where + "shape " + value["shape"].dump() + " is too large (more than 2^62 bytes of " + dtype + ")");
        count *= size;
        entry.shape.push_back(static_cast<std::int64_t>(size));
    }
    const Json& offsets = value.contains("data_offsets") ? value["data_offsets"] : Json();
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
        throw Error(where + "data_offsets: expected [begin, end], two non-negative integers");
    entry.begin = offsets[0].get<std::uint64_t>();
    entry.end = offsets[1].get<std::uint64_t>();
    if (entry.end < entry.begin) throw Error(where + "data_offsets " + offsets.dump() + " end before they begin");
    if (entry.end - entry.begin != count * element)
        throw Error(where + "data_offsets " + offsets.dump() + " hold " + std::to_string(entry.end - entry.begin) + " bytes, but shape " +
                    value["shape"].dump() + " of " + dtype + " needs " + std::to_string(count * element));
    if (entry.dtype == StateTensor::DType::i64 && count != 1)
        throw Error(where + "an I64 tensor of shape " + value["shape"].dump() + ": convnet reads only I64 scalars (num_batches_tracked)");
    return entry;
}

}  // namespace

SafetensorsContents parse_safetensors(std::string_view bytes, const std::string& source) {
    if (bytes.size() < 8)
        throw Error(source + ": " + std::to_string(bytes.size()) + " bytes, too short for a safetensors file (8-byte header length)");
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, bytes.data(), 8);
    if (header_size > kMaxSafetensorsHeader)
        throw Error(source + ": the safetensors header claims " + std::to_string(header_size) + " bytes, more than the limit of " +
                    std::to_string(kMaxSafetensorsHeader) + " (not a safetensors file?)");
    if (header_size > bytes.size() - 8)
        throw Error(source + ": the safetensors header claims " + std::to_string(header_size) + " bytes but the file has " +
                    std::to_string(bytes.size() - 8) + " after the length (truncated?)");
    const std::string_view text = bytes.substr(8, header_size);
    if (text.empty() || text.front() != '{') throw Error(source + ": the safetensors header does not start with '{'");
    const Json header = parse_header(text, source);
    const std::string_view data = bytes.substr(8 + header_size);

    SafetensorsContents contents;
    std::vector<Entry> entries;
    for (const auto& [key, value] : header.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) throw Error(source + ": __metadata__ is not an object of strings");
            for (const auto& [name, text_value] : value.items()) {
                if (!text_value.is_string())
                    throw Error(source + ": __metadata__ \"" + detail::visible(name) +
                                "\" is not a string (safetensors metadata maps strings to strings)");
                contents.metadata[name] = text_value.get<std::string>();
            }
            continue;
        }
        entries.push_back(read_entry(key, value, source));
    }
    // The tensors' bytes tile the data from 0, without gap or overlap, and nothing follows.
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
    std::uint64_t expected = 0;
    for (const Entry& entry : entries) {
        if (entry.begin != expected)
            throw Error(source + ": tensor \"" + detail::visible(entry.name) + "\": data_offsets begin at " + std::to_string(entry.begin) +
                        ", expected " + std::to_string(expected) +
                        (entry.begin < expected ? " (it overlaps the tensor before)" : " (a gap before it)"));
        expected = entry.end;
    }
    if (expected != data.size())
        throw Error(source + ": the header places the tensors' data in " + std::to_string(expected) + " bytes after it, but " +
                    std::to_string(data.size()) + " follow" + (expected < data.size() ? " (trailing bytes)" : " (truncated)"));
    for (const Entry& entry : entries) {
        StateTensor tensor{entry.name, entry.dtype, Shape(entry.shape), {}, 0};
        const char* start = data.data() + entry.begin;
        if (entry.dtype == StateTensor::DType::i64) std::memcpy(&tensor.integer, start, 8);
        else {
            tensor.values.resize((entry.end - entry.begin) / 4);
            std::memcpy(tensor.values.data(), start, entry.end - entry.begin);
        }
        contents.tensors.push_back(std::move(tensor));
    }
    return contents;
}

SafetensorsContents read_safetensors(const std::filesystem::path& path) {
    detail::check_regular_file(path, "the weights file");
    // The largest network a model file may describe holds far less; a bound keeps a stray path
    // from reading gigabytes.
    return parse_safetensors(detail::read_small_file(path, std::uintmax_t{16} << 30, "a safetensors file"), path.string());
}

std::string format_safetensors(const std::vector<StateTensor>& tensors, const std::map<std::string, std::string>& metadata) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    std::set<std::string> names;
    for (const StateTensor& tensor : tensors) {
        if (tensor.name.empty() || tensor.name == "__metadata__" || !names.insert(tensor.name).second)
            throw Error("safetensors: tensor name \"" + tensor.name + "\" is empty, reserved or repeated");
        const bool integer = tensor.dtype == StateTensor::DType::i64;
        const std::uint64_t bytes = integer ? 8 : tensor.values.size() * 4;
        header[tensor.name] = {
            {"dtype", integer ? "I64" : "F32"}, {"shape", tensor.shape.dims()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the official writer pads
    std::string file(8, '\0');
    const std::uint64_t length = text.size();
    std::memcpy(file.data(), &length, 8);
    file += text;
    file.reserve(file.size() + offset);
    for (const StateTensor& tensor : tensors) {
        if (tensor.dtype == StateTensor::DType::i64) file.append(reinterpret_cast<const char*>(&tensor.integer), 8);
        else file.append(reinterpret_cast<const char*>(tensor.values.data()), tensor.values.size() * 4);
    }
    return file;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<StateTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    write_file_atomically(path, format_safetensors(tensors, metadata));
}

}  // namespace convnet
