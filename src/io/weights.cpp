// Weights files: saving and loading a network's state dict with its metadata (the model text, the
// classes, the preprocessing, the task). safetensors is the format written (safetensors.cpp); the
// older convnet format is still read, and written on request: "CNVNETW1" magic, u32 version, u32
// tensor count, then per tensor u32 name length, name, (version 2:) u8 type (0 float32, 1 int64),
// u32 rank, i64 dims, the data, little-endian on every host.
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/version.h>
#include <convnet/io/safetensors.h>
#include <convnet/io/weights.h>

#include <nlohmann/json.hpp>

#include "../core/json_depth.h"
#include "../core/text_file.h"
#include "weights_checks.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <type_traits>

namespace convnet {

namespace {

constexpr char kMagic[8] = {'C', 'N', 'V', 'N', 'E', 'T', 'W', '1'};
// 2: every state_dict entry with a type code (float32 or int64: num_batches_tracked); 1: the
// float tensors only, still read.
constexpr std::uint32_t kVersion = 2;
constexpr std::uint8_t kFloat32 = 0, kInt64 = 1;

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "weights files are little-endian; a mixed-endian host needs its own conversion");

template <typename T>
void append(std::string& out, T value) {
    static_assert(std::is_integral_v<T>);
    const auto bits = static_cast<std::make_unsigned_t<T>>(value);
    for (std::size_t byte = 0; byte < sizeof(T); ++byte) out.push_back(static_cast<char>((bits >> (8 * byte)) & 0xff));
}

template <typename T>
T decode(const char* bytes) {
    static_assert(std::is_integral_v<T>);
    std::make_unsigned_t<T> bits = 0;
    for (std::size_t byte = 0; byte < sizeof(T); ++byte)
        bits |= static_cast<std::make_unsigned_t<T>>(static_cast<unsigned char>(bytes[byte])) << (8 * byte);
    return static_cast<T>(bits);
}

void append_floats(std::string& out, const float* values, std::size_t count) {
    if constexpr (std::endian::native == std::endian::little) {
        out.append(reinterpret_cast<const char*>(values), count * sizeof(float));
    } else {
        for (std::size_t i = 0; i < count; ++i) append(out, std::bit_cast<std::uint32_t>(values[i]));
    }
}

void decode_floats(float* values, const char* bytes, std::size_t count) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(values, bytes, count * sizeof(float));
    } else {
        for (std::size_t i = 0; i < count; ++i) values[i] = std::bit_cast<float>(decode<std::uint32_t>(bytes + i * sizeof(float)));
    }
}

// Reads from an in-memory file, failing with the file's name and what was being read.
class Reader {
public:
    Reader(std::string bytes, std::string file) : bytes_(std::move(bytes)), file_(std::move(file)) {}
    // The next `size` bytes, in place; valid while the reader lives.
    const char* take(std::size_t size, const std::string& what) {
        if (bytes_.size() - offset_ < size)
            throw Error(file_ + ": truncated while reading " + what + " (needs " + std::to_string(size) + " bytes at offset " +
                        std::to_string(offset_) + ", the file has " + std::to_string(bytes_.size()) + ")");
        const char* start = bytes_.data() + offset_;
        offset_ += size;
        return start;
    }
    void read(void* target, std::size_t size, const std::string& what) { std::memcpy(target, take(size, what), size); }
    // A little-endian integer.
    template <typename T>
    T value(const std::string& what) {
        return decode<T>(take(sizeof(T), what));
    }
    bool at_end() const { return offset_ == bytes_.size(); }

private:
    std::string bytes_;
    std::string file_;
    std::size_t offset_ = 0;
};

}  // namespace

namespace {

std::string format_metadata_preprocessing(const Preprocessing& preprocessing, const Shape& input) {
    const nlohmann::ordered_json object = {{"resize", resize_policy_name(preprocessing.resize)},
                                           {"mean", preprocessing.mean},
                                           {"std", preprocessing.std},
                                           {"input", input.dims()}};
    return object.dump();
}

// One metadata field as JSON, or an error naming the file and the field.
nlohmann::json parse_metadata_json(const std::string& text, const std::string& file, const std::string& key) {
    try {
        detail::refuse_nul_bytes(text, file + ": __metadata__ \"" + key + "\"");
        return nlohmann::json::parse(text, detail::json_depth_limit(file + ": __metadata__ \"" + key + "\""));
    } catch (const nlohmann::json::exception& error) {
        throw Error(file + ": __metadata__ \"" + key + "\" is not JSON (" + error.what() + ")");
    }
}

}  // namespace

WeightsMetadata decode_weights_metadata(const std::map<std::string, std::string>& metadata, const std::string& file) {
    WeightsMetadata decoded;
    const auto model = metadata.find("model");
    if (model == metadata.end())
        throw Error(file + ": its __metadata__ holds no \"model\" (the model file's text); give the model file with --model");
    decoded.model = model->second;
    if (const auto classes = metadata.find("classes"); classes != metadata.end()) {
        const nlohmann::json names = parse_metadata_json(classes->second, file, "classes");
        if (!names.is_array()) throw Error(file + ": __metadata__ \"classes\": expected a JSON array of names");
        for (const nlohmann::json& name : names) {
            if (!name.is_string()) throw Error(file + ": __metadata__ \"classes\": expected a JSON array of names, found " + name.dump());
            decoded.class_names.push_back(name.get<std::string>());
        }
    }
    if (const auto task = metadata.find("task"); task != metadata.end()) {
        if (task->second == "segment") decoded.task = TaskKind::segment;
        else if (task->second == "detect") decoded.task = TaskKind::detect;
        else if (task->second != "classify")
            throw Error(file + ": __metadata__ \"task\": \"" + task->second + "\", expected \"classify\", \"segment\" or \"detect\"");
    }
    if (const auto found = metadata.find("preprocessing"); found != metadata.end()) {
        const nlohmann::json object = parse_metadata_json(found->second, file, "preprocessing");
        const std::string where = file + ": __metadata__ \"preprocessing\": ";
        if (!object.is_object()) throw Error(where + "expected a JSON object");
        const auto numbers = [&](const char* key) {
            std::vector<float> values;
            if (!object.contains(key)) return values;
            if (!object[key].is_array()) throw Error(where + key + " must be an array of numbers");
            for (const nlohmann::json& value : object[key]) {
                if (!value.is_number()) throw Error(where + key + " must be an array of numbers, found " + value.dump());
                values.push_back(value.get<float>());
            }
            return values;
        };
        if (object.contains("resize")) {
            const nlohmann::json& resize = object["resize"];
            const auto policy = resize.is_string() ? resize_policy_from_name(resize.get<std::string>()) : std::nullopt;
            if (!policy) throw Error(where + "resize " + resize.dump() + ", expected \"stretch\" or \"center-crop\"");
            decoded.preprocessing.resize = *policy;
        }
        decoded.preprocessing.mean = numbers("mean");
        decoded.preprocessing.std = numbers("std");
        if (decoded.preprocessing.mean.size() != decoded.preprocessing.std.size())
            throw Error(where + "mean and std must have as many values each");
        for (const float deviation : decoded.preprocessing.std)
            if (!(deviation > 0.0f)) throw Error(where + "every std must be positive");
    }
    return decoded;
}

std::map<std::string, std::string> encode_weights_metadata(const Network& network, const WeightsMetadata& metadata) {
    // PyTorch's own key: "format": "pt" marks a state dict of torch tensors.
    std::map<std::string, std::string> encoded{
        {"format", "pt"},
        {"convnet_version", version()},
        {"model", format_model(network.layer_plans(), network.sample_shape())},
        {"preprocessing", format_metadata_preprocessing(metadata.preprocessing, network.sample_shape())}};
    if (!metadata.class_names.empty()) encoded["classes"] = nlohmann::json(metadata.class_names).dump();
    // Absent: classify, as before tasks.
    if (metadata.task != TaskKind::classify) encoded["task"] = metadata.task == TaskKind::segment ? "segment" : "detect";
    return encoded;
}

void save_weights(const Network& network, const std::filesystem::path& path, const WeightsMetadata& metadata, WeightsFormat format) {
    const std::vector<StateTensor> state = network.state_dict();
    if (format == WeightsFormat::safetensors) {
        write_safetensors(path, state, encode_weights_metadata(network, metadata));
        return;
    }
    std::string bytes(kMagic, sizeof(kMagic));
    append(bytes, kVersion);
    append(bytes, static_cast<std::uint32_t>(state.size()));
    for (const StateTensor& tensor : state) {
        append(bytes, static_cast<std::uint32_t>(tensor.name.size()));
        bytes += tensor.name;
        append(bytes, static_cast<std::uint8_t>(tensor.dtype == StateTensor::DType::i64 ? kInt64 : kFloat32));
        append(bytes, static_cast<std::uint32_t>(tensor.shape.rank()));
        for (std::int64_t dim : tensor.shape.dims()) append(bytes, dim);
        if (tensor.dtype == StateTensor::DType::i64) append(bytes, tensor.integer);
        else append_floats(bytes, tensor.values.data(), tensor.values.size());
    }
    write_file_atomically(path, bytes);
}

namespace {

// One line per tensor that holds NaN or infinite values, or a negative running variance.
std::vector<std::string> suspect_tensors(const std::vector<StateTensor>& state) {
    std::vector<std::string> suspect;
    for (const StateTensor& tensor : state) {
        std::int64_t nan = 0, infinite = 0, negative = 0;
        const bool variance = tensor.name.ends_with(".running_var");
        for (const float value : tensor.values) {
            nan += std::isnan(value);
            infinite += std::isinf(value);
            negative += variance && value < 0.0f;
        }
        const std::string count = std::to_string(tensor.values.size());
        if (nan + infinite > 0)
            suspect.push_back(tensor.name + ": " + std::to_string(nan) + " NaN, " + std::to_string(infinite) + " infinite of " + count +
                              " values");
        if (negative > 0)
            suspect.push_back(tensor.name + ": " + std::to_string(negative) + " negative of " + count +
                              " values (a variance cannot be negative)");
    }
    return suspect;
}

}  // namespace

namespace {

// A safetensors file's entries into `network`, by name and strictly, as torch's load_state_dict
// (a checkpoint's optimiser entries left aside); suspect_tensors' lines.
std::vector<std::string> load_safetensors_state(Network& network, SafetensorsContents& contents, const std::string& name) {
    if (contents.metadata.count(kCheckpointKey) != 0) std::erase_if(contents.tensors, is_checkpoint_entry);
    try {
        network.load_state_dict(contents.tensors, /*strict=*/true);
    } catch (const Error& error) {
        if (contents.metadata.count("model") == 0) throw;
        throw Error(std::string(error.what()) + "\n" + name + " holds the weights of another model than " + network.source() +
                    "; it keeps the model it was saved with: leave out --model to use that");
    }
    return suspect_tensors(contents.tensors);
}

}  // namespace

bool is_checkpoint_entry(const StateTensor& tensor) { return tensor.name.starts_with(kOptimizerStatePrefix) || tensor.name == kEmaEntry; }

namespace detail {

// The model text of a weights file claims how many values its parameters and buffers hold, up to
// kMaxLayerValues a parameter: the network's arena is that large. Checked against the values its
// tensors hold before the arena is allocated, so that a file of a few hundred bytes cannot ask for
// gigabytes (load_state_dict would refuse it only afterwards).
void check_model_fits_tensors(const ModelSpec& spec, const SafetensorsContents& contents, const std::string& name) {
    std::int64_t claimed = 0;
    for (const LayerPlan& plan : plan_model(spec))
        for (const Parameter& parameter : plan.layer->parameters()) claimed += parameter.shape.element_count();
    std::int64_t held = 0;
    for (const StateTensor& tensor : contents.tensors)
        if (!is_checkpoint_entry(tensor)) held += static_cast<std::int64_t>(tensor.values.size());
    if (claimed > held)
        throw Error(name + ": its model (__metadata__ \"model\") has " + std::to_string(claimed) +
                    " parameter and buffer values, but its tensors hold " + std::to_string(held) +
                    ": the model and the weights disagree (a damaged file?)");
}

}  // namespace detail

std::vector<std::string> load_weights(Network& network, const std::filesystem::path& path, WeightsMetadata* metadata) {
    detail::check_regular_file(path, "the weights file", "train with --save to make one");
    std::ifstream file(path, std::ios::binary);
    // Version 1 files hold the float tensors only; version 2 every entry of the state dict.
    const std::vector<StateTensor> full = network.state_dict();
    // A file far larger than this model's weights is refused before it is read into memory.
    std::uintmax_t largest_expected = 1 << 21;  // headers, names, and a safetensors file's model text (at most 1 MiB)
    for (const StateTensor& tensor : full) largest_expected += 4096 + 8 * 8 + tensor.values.size() * sizeof(float) + 8;
    std::error_code size_error;
    const std::uintmax_t file_size = std::filesystem::file_size(path, size_error);
    if (!size_error && file_size > largest_expected)
        throw Error(path.string() + ": " + std::to_string(file_size) + " bytes, far more than the " + std::to_string(largest_expected) +
                    " the model " + network.source() + " can need (weights saved from another model?)");
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::string name = path.string();
    if (!bytes.starts_with(std::string_view(kMagic, sizeof(kMagic))) && bytes.size() > 8 && bytes[8] == '{') {
        SafetensorsContents contents = parse_safetensors(bytes, name);
        if (metadata != nullptr && contents.metadata.count("model") != 0) *metadata = decode_weights_metadata(contents.metadata, name);
        return load_safetensors_state(network, contents, name);
    }
    Reader reader(std::move(bytes), name);
    char magic[sizeof(kMagic)];
    reader.read(magic, sizeof(magic), "the magic number");
    if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) throw Error(name + ": not a convnet weights file (bad magic number)");
    const auto version = reader.value<std::uint32_t>("the version");
    if (version != 1 && version != kVersion)
        throw Error(name + ": weights format version " + std::to_string(version) + ", this build reads versions 1 and " +
                    std::to_string(kVersion));
    std::vector<const StateTensor*> expected;
    for (const StateTensor& tensor : full)
        if (version >= 2 || tensor.dtype == StateTensor::DType::f32) expected.push_back(&tensor);
    const auto count = reader.value<std::uint32_t>("the tensor count");
    if (count != expected.size())
        throw Error(name + ": holds " + std::to_string(count) + " tensors, the model " + network.source() + " has " +
                    std::to_string(expected.size()) + " (weights saved from another model?)");
    // Everything is read and checked before anything is written: a bad file leaves the network as it was.
    std::vector<StateTensor> loaded;
    loaded.reserve(expected.size());
    for (const StateTensor* expected_entry : expected) {
        const StateTensor& entry = *expected_entry;
        const auto name_length = reader.value<std::uint32_t>("a tensor name length");
        if (name_length > 4096) throw Error(name + ": a tensor name of " + std::to_string(name_length) + " bytes; the file is damaged");
        std::string stored(name_length, '\0');
        reader.read(stored.data(), name_length, "a tensor name");
        if (stored != entry.name)
            throw Error(name + ": found tensor '" + stored + "' where the model " + network.source() + " expects '" + entry.name + "'");
        StateTensor tensor{stored, StateTensor::DType::f32, Shape{}, {}, 0};
        if (version >= 2) {
            const auto dtype = reader.value<std::uint8_t>(stored + " type");
            if (dtype != kFloat32 && dtype != kInt64)
                throw Error(name + ": " + stored + " has type code " + std::to_string(dtype) + "; the file is damaged");
            tensor.dtype = dtype == kInt64 ? StateTensor::DType::i64 : StateTensor::DType::f32;
            if (tensor.dtype != entry.dtype)
                throw Error(name + ": " + stored + " is " + (dtype == kInt64 ? "int64" : "float32") + ", the model keeps it as " +
                            (dtype == kInt64 ? "float32" : "int64"));
        }
        const auto rank = reader.value<std::uint32_t>(stored + " rank");
        if (rank != static_cast<std::uint32_t>(entry.shape.rank()))
            throw Error(name + ": " + stored + " has rank " + std::to_string(rank) + ", expected " + std::to_string(entry.shape.rank()));
        std::vector<std::int64_t> dims(rank);
        for (std::int64_t& dim : dims) dim = reader.value<std::int64_t>(stored + " shape");
        tensor.shape = Shape(dims);
        if (tensor.shape != entry.shape)
            throw Error(name + ": " + stored + " has shape " + tensor.shape.to_string() + ", the model expects " + entry.shape.to_string());
        if (tensor.dtype == StateTensor::DType::i64) {
            tensor.integer = reader.value<std::int64_t>(stored + " value");
        } else {
            tensor.values.resize(entry.values.size());
            decode_floats(tensor.values.data(), reader.take(tensor.values.size() * sizeof(float), stored + " values"),
                          tensor.values.size());
        }
        loaded.push_back(std::move(tensor));
    }
    if (!reader.at_end()) throw Error(name + ": extra bytes after the last tensor; the file is damaged");
    // Version 1 has no num_batches_tracked: those stay as they are.
    network.load_state_dict(loaded, /*strict=*/version >= 2);
    return suspect_tensors(loaded);
}

WeightsFormat weights_format(const std::filesystem::path& path) {
    detail::check_regular_file(path, "the weights file", "train with --save to make one");
    std::ifstream file(path, std::ios::binary);
    char head[sizeof(kMagic)] = {};
    file.read(head, sizeof(head));
    return file.gcount() == sizeof(head) && std::memcmp(head, kMagic, sizeof(kMagic)) == 0 ? WeightsFormat::convnet
                                                                                           : WeightsFormat::safetensors;
}

WeightsMetadata read_weights_metadata(const std::filesystem::path& path) {
    if (weights_format(path) == WeightsFormat::convnet)
        throw Error(path.string() + ": a weights file in convnet's older format, which holds no model; give the model file with --model");
    return decode_weights_metadata(read_safetensors(path).metadata, path.string());
}

std::unique_ptr<Network> load_network(const std::filesystem::path& path, std::vector<std::string>* warnings, WeightsMetadata* metadata) {
    if (weights_format(path) == WeightsFormat::convnet)
        throw Error(path.string() + ": a weights file in convnet's older format, which holds no model; give the model file with --model");
    // One read of the file for the model, the metadata and the tensors.
    SafetensorsContents contents = read_safetensors(path);
    WeightsMetadata decoded = decode_weights_metadata(contents.metadata, path.string());
    const ModelSpec spec = parse_model(decoded.model, path.string());
    detail::check_model_fits_tensors(spec, contents, path.string());
    auto network = std::make_unique<Network>(spec);
    std::vector<std::string> suspect = load_safetensors_state(*network, contents, path.string());
    if (warnings) *warnings = std::move(suspect);
    if (metadata) *metadata = std::move(decoded);
    return network;
}

}  // namespace convnet
