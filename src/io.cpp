// The weight-file format: "CNVNETW1" magic, u32 version, u32 tensor count, then per tensor
// u32 name length, name, u32 rank, i64 dims, float32 data. Little-endian on every host: numbers
// are encoded byte by byte, and float data is copied as it is only where the host is little-endian.
#include <convnet/error.h>
#include <convnet/io.h>

#include "text_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <type_traits>

namespace convnet {

namespace {

constexpr char kMagic[8] = {'C', 'N', 'V', 'N', 'E', 'T', 'W', '1'};
constexpr std::uint32_t kVersion = 1;

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

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
    // Renaming over a device or a folder would replace it (as root, even /dev/null).
    std::error_code status_error;
    const std::filesystem::file_status status = std::filesystem::status(path, status_error);
    if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
        throw Error(path.string() + ": exists and is not a regular file (a folder or a device); not replacing it");
    const std::filesystem::path temporary = path.string() + ".tmp" + std::to_string(::getpid());
    const int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (descriptor < 0) throw Error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
    std::size_t written = 0;
    while (written < contents.size()) {
        const ssize_t result = ::write(descriptor, contents.data() + written, contents.size() - written);
        if (result < 0) {
            const int saved = errno;
            ::close(descriptor);
            std::filesystem::remove(temporary);
            throw Error(path.string() + ": write failed (" + std::strerror(saved) + ")");
        }
        written += static_cast<std::size_t>(result);
    }
    const bool synced = ::fsync(descriptor) == 0;
    ::close(descriptor);
    if (!synced || std::rename(temporary.c_str(), path.c_str()) != 0) {
        std::filesystem::remove(temporary);
        throw Error(path.string() + ": could not replace the file (" + std::strerror(errno) + ")");
    }
}

void save_weights(const Network& network, const std::filesystem::path& path) {
    const std::vector<NamedParameter> named = network.named_parameters();
    std::string bytes(kMagic, sizeof(kMagic));
    append(bytes, kVersion);
    append(bytes, static_cast<std::uint32_t>(named.size()));
    for (const NamedParameter& entry : named) {
        append(bytes, static_cast<std::uint32_t>(entry.name.size()));
        bytes += entry.name;
        append(bytes, static_cast<std::uint32_t>(entry.parameter->shape.rank()));
        for (std::int64_t dim : entry.parameter->shape.dims()) append(bytes, dim);
        append_floats(bytes, entry.parameter->value, static_cast<std::size_t>(entry.parameter->shape.element_count()));
    }
    write_file_atomically(path, bytes);
}

std::vector<std::string> load_weights(Network& network, const std::filesystem::path& path) {
    detail::check_regular_file(path, "the weights file", "train with --save to make one");
    std::ifstream file(path, std::ios::binary);
    const std::vector<NamedParameter> named = network.named_parameters();
    // A file far larger than this model's weights is refused before it is read into memory.
    std::uintmax_t largest_expected = 1 << 16;
    for (const NamedParameter& entry : named)
        largest_expected += 4096 + 8 * 8 + static_cast<std::uintmax_t>(entry.parameter->shape.element_count()) * sizeof(float);
    std::error_code size_error;
    const std::uintmax_t file_size = std::filesystem::file_size(path, size_error);
    if (!size_error && file_size > largest_expected)
        throw Error(path.string() + ": " + std::to_string(file_size) + " bytes, far more than the " + std::to_string(largest_expected) +
                    " the model " + network.source() + " can need (weights saved from another model?)");
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    const std::string name = path.string();
    Reader reader(std::move(bytes), name);
    char magic[sizeof(kMagic)];
    reader.read(magic, sizeof(magic), "the magic number");
    if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) throw Error(name + ": not a convnet weights file (bad magic number)");
    const auto version = reader.value<std::uint32_t>("the version");
    if (version != kVersion)
        throw Error(name + ": weights format version " + std::to_string(version) + ", this build reads version " +
                    std::to_string(kVersion));
    const auto count = reader.value<std::uint32_t>("the tensor count");
    if (count != named.size())
        throw Error(name + ": holds " + std::to_string(count) + " tensors, the model " + network.source() + " has " +
                    std::to_string(named.size()) + " (weights saved from another model?)");
    // Everything is read and checked before anything is written: a bad file leaves the network as it was.
    std::vector<const char*> stored_values;  // into the file's bytes
    stored_values.reserve(named.size());
    for (const NamedParameter& entry : named) {
        const auto name_length = reader.value<std::uint32_t>("a tensor name length");
        if (name_length > 4096) throw Error(name + ": a tensor name of " + std::to_string(name_length) + " bytes; the file is damaged");
        std::string stored(name_length, '\0');
        reader.read(stored.data(), name_length, "a tensor name");
        if (stored != entry.name)
            throw Error(name + ": found tensor '" + stored + "' where the model " + network.source() + " expects '" + entry.name + "'");
        const auto rank = reader.value<std::uint32_t>(stored + " rank");
        if (rank != static_cast<std::uint32_t>(entry.parameter->shape.rank()))
            throw Error(name + ": " + stored + " has rank " + std::to_string(rank) + ", expected " +
                        std::to_string(entry.parameter->shape.rank()));
        std::vector<std::int64_t> dims(rank);
        for (std::int64_t& dim : dims) dim = reader.value<std::int64_t>(stored + " shape");
        if (Shape(dims) != entry.parameter->shape)
            throw Error(name + ": " + stored + " has shape " + Shape(dims).to_string() + ", the model expects " +
                        entry.parameter->shape.to_string());
        stored_values.push_back(
            reader.take(static_cast<std::size_t>(entry.parameter->shape.element_count()) * sizeof(float), stored + " values"));
    }
    if (!reader.at_end()) throw Error(name + ": extra bytes after the last tensor; the file is damaged");
    for (std::size_t i = 0; i < named.size(); ++i)
        decode_floats(named[i].parameter->value, stored_values[i], static_cast<std::size_t>(named[i].parameter->shape.element_count()));
    network.parameters_changed();
    std::vector<std::string> suspect;
    for (const NamedParameter& entry : named) {
        std::int64_t nan = 0, infinite = 0, negative = 0;
        const std::int64_t count = entry.parameter->shape.element_count();
        const bool variance = entry.name.ends_with(".running_var");
        for (std::int64_t i = 0; i < count; ++i) {
            nan += std::isnan(entry.parameter->value[i]);
            infinite += std::isinf(entry.parameter->value[i]);
            negative += variance && entry.parameter->value[i] < 0.0f;
        }
        if (nan + infinite > 0)
            suspect.push_back(entry.name + ": " + std::to_string(nan) + " NaN, " + std::to_string(infinite) + " infinite of " +
                              std::to_string(count) + " values");
        if (negative > 0)
            suspect.push_back(entry.name + ": " + std::to_string(negative) + " negative of " + std::to_string(count) +
                              " values (a variance cannot be negative)");
    }
    return suspect;
}

}  // namespace convnet
