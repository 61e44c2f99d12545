// The folder readers' shared conversion, fingerprint and cache (folder_cache.h).
#include "folder_cache.h"

#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/random.h>
#include <convnet/data/detection_folder.h>
#include <convnet/data/image.h>

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace convnet::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kCacheVersion = 3;  // 2: the masks flag and the masks; 3: the targets' kind and the boxes
constexpr char kCacheMagic[8] = {'C', 'N', 'V', 'I', 'F', 'O', 'L', 'D'};
constexpr std::uint32_t kByteOrderMark = 0x01020304;
constexpr std::size_t kMaxNameBytes = 1 << 16;  // a class name or a skipped line, in the cache
constexpr std::size_t kCacheHeaderBytes = 8 + 4 + 4 + 8 + 8 + 3 * 4 + 4 + 4 + 4 + 8;
constexpr std::size_t kCachedBoxBytes = 4 * 4 + 4;  // x1, y1, x2, y2, class

// The targets field of the header.
std::uint32_t cached_targets(TaskKind task) { return task == TaskKind::detect ? 2 : task == TaskKind::segment ? 1 : 0; }

class CacheWriter {
public:
    template <typename Number>
    requires std::is_arithmetic_v<Number>
    void number(Number value) { bytes_.append(reinterpret_cast<const char*>(&value), sizeof(value)); }
    void text(const std::string& value) {
        number(static_cast<std::uint32_t>(value.size()));
        bytes_ += value;
    }
    void raw(const void* data, std::size_t size) { bytes_.append(static_cast<const char*>(data), size); }
    void raw(const std::vector<std::uint8_t>& data) { raw(data.data(), data.size()); }
    std::string finish() {
        const std::uint32_t crc = checksum(bytes_.data(), bytes_.size());
        number(crc);
        return std::move(bytes_);
    }
    void reserve(std::size_t size) { bytes_.reserve(size); }

    static std::uint32_t checksum(const char* data, std::size_t size, std::uint32_t crc = 0) {
        while (size > 0) {
            const auto chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
            crc = static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(data), chunk));
            data += chunk;
            size -= chunk;
        }
        return crc;
    }

private:
    std::string bytes_;
};

}  // namespace

bool is_folder(const fs::path& path) {
    std::error_code error;
    return fs::is_directory(path, error);
}

std::string lower_ascii(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

std::map<std::string, fs::path> files_by_stem(const fs::path& folder, std::initializer_list<std::string_view> extensions,
                                              std::string_view paired) {
    std::map<std::string, fs::path> found;
    std::error_code error;
    for (fs::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
        const std::string extension = lower_ascii(entry->path().extension().string());
        if (std::find(extensions.begin(), extensions.end(), extension) == extensions.end()) continue;
        const std::string stem = entry->path().stem().string();
        const auto [at, inserted] = found.emplace(stem, entry->path());
        if (!inserted)
            throw Error(folder.string() + ": two files named " + stem + " (" + at->second.filename().string() + " and " +
                        entry->path().filename().string() + "); each image and " + std::string(paired) + " are paired by name");
    }
    if (error) throw Error(folder.string() + ": cannot list (" + error.message() + ")");
    return found;
}

std::vector<bool> held_out_by_image(std::size_t count, double fraction, std::uint64_t seed) {
    std::vector<bool> held(count, false);
    if (count == 0) return held;
    // round(n·F) images held out (at most n − 1), chosen by a seeded shuffle.
    const auto held_count = std::min<std::int64_t>(std::llround(double(count) * fraction), static_cast<std::int64_t>(count) - 1);
    std::vector<std::size_t> order(count);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    Random random((seed ^ 0x5a11d5eedull) + 0x9E3779B97F4A7C15ull);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[random.below(i)]);
    for (std::int64_t i = 0; i < held_count; ++i) held[order[static_cast<std::size_t>(i)]] = true;
    return held;
}

void Hash::file_stamp(const fs::path& path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) == 0) {  // one call for both (fs:: makes two)
        number(static_cast<std::int64_t>(status.st_size));
        number(static_cast<std::int64_t>(status.st_mtim.tv_sec));
        number(static_cast<std::int64_t>(status.st_mtim.tv_nsec));
    } else {
        number(std::int64_t{-1});
    }
}

void hash_folder_options(Hash& hash, std::string_view split, const ImageFolderOptions& options) {
    hash.number(kCacheVersion);
    hash.text(split);
    hash.number(options.channels);
    hash.number(options.height);
    hash.number(options.width);
    hash.number(static_cast<int>(options.resize));
    hash.number(options.val_split);
    hash.number(options.split_seed);
    hash.number(options.skip_bad);
    hash.number(options.limits.largest_side);
    hash.number(options.limits.largest_pixel_count);
}

fs::path folder_cache_file(std::string_view kind, const fs::path& root, std::string_view split, const ImageFolderOptions& options) {
    std::error_code error;
    fs::path absolute = fs::weakly_canonical(root, error);
    if (error) absolute = fs::absolute(root).lexically_normal();
    Hash hash;
    hash.text(absolute.native());
    hash_folder_options(hash, split, options);
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash.value()));
    return options.cache_dir / (std::string(kind) + "-" + std::string(split) + "-" + hex + ".cache");
}

std::string convert_picture(const fs::path& path, const ImageFolderOptions& options, std::uint8_t* out, std::int64_t* file_height,
                            std::int64_t* file_width) {
    try {
        const Image image = decode_image(path, options.limits);
        if (file_height != nullptr) *file_height = image.height;
        if (file_width != nullptr) *file_width = image.width;
        const Tensor input =
            to_network_input(image, options.channels, options.height, options.width, Preprocessing{.resize = options.resize});
        const float* values = input.data();
        for (std::int64_t i = 0; i < input.size(); ++i) {
            const float scaled = std::round(values[i] * 255.0f);
            out[i] = static_cast<std::uint8_t>(std::clamp(scaled, 0.0f, 255.0f));
        }
        return "";
    } catch (const Error& error) {
        const std::string message = error.what();
        return message.starts_with(path.string()) ? message : path.string() + ": " + message;
    } catch (const std::exception& error) {  // std::bad_alloc for a huge picture on a small machine
        return path.string() + ": cannot decode (" + error.what() + ")";
    }
}

void write_folder_cache(const fs::path& file, std::uint64_t key, const Dataset& dataset, const std::vector<std::string>& skipped) {
    CacheWriter writer;
    writer.reserve(kCacheHeaderBytes + dataset.labels.size() + dataset.images.size() + dataset.masks.size() +
                   8 * dataset.box_offsets.size() + kCachedBoxBytes * dataset.boxes.size() + 4096);
    writer.raw(kCacheMagic, sizeof(kCacheMagic));
    writer.number(kCacheVersion);
    writer.number(kByteOrderMark);
    writer.number(key);
    writer.number(dataset.count);
    writer.number(static_cast<std::int32_t>(dataset.channels));
    writer.number(static_cast<std::int32_t>(dataset.height));
    writer.number(static_cast<std::int32_t>(dataset.width));
    writer.number(static_cast<std::uint32_t>(dataset.class_names.size()));
    writer.number(static_cast<std::uint32_t>(skipped.size()));
    writer.number(cached_targets(dataset.task()));
    writer.number(static_cast<std::int64_t>(dataset.has_boxes() ? dataset.boxes.size() : 0));
    for (const std::string& name : dataset.class_names) writer.text(name);
    for (const std::string& line : skipped) writer.text(line.substr(0, kMaxNameBytes));
    writer.raw(dataset.labels);
    writer.raw(dataset.images);
    writer.raw(dataset.masks);
    if (dataset.has_boxes()) {
        for (const std::int64_t offset : dataset.box_offsets) writer.number(offset);
        for (const ObjectBox& object : dataset.boxes) {
            for (const float value : {object.box.x1, object.box.y1, object.box.x2, object.box.y2}) writer.number(value);
            writer.number(static_cast<std::int32_t>(object.label));
        }
    }
    std::error_code error;
    fs::create_directories(file.parent_path(), error);
    if (error) throw Error(file.parent_path().string() + ": cannot create the image-folder cache folder (" + error.message() + ")");
    write_file_atomically(file, writer.finish());
}

namespace {

// Reads a cache file, checking everything.
class CacheReader {
public:
    explicit CacheReader(const fs::path& file) : stream_(file, std::ios::binary) {}
    bool ok() const { return ok_; }
    template <typename Number>
    Number number() {
        Number value{};
        read(&value, sizeof(value));
        return value;
    }
    std::string text(std::uintmax_t& budget) {
        const auto size = number<std::uint32_t>();
        if (!ok_ || size > kMaxNameBytes || size > budget) {
            ok_ = false;
            return "";
        }
        budget -= size;
        std::string value(size, '\0');
        read(value.data(), size);
        return value;
    }
    void read(void* destination, std::size_t size) {
        if (!ok_) return;
        stream_.read(static_cast<char*>(destination), static_cast<std::streamsize>(size));
        if (static_cast<std::size_t>(stream_.gcount()) != size) {
            ok_ = false;
            return;
        }
        crc_ = CacheWriter::checksum(static_cast<const char*>(destination), size, crc_);
    }
    std::uint32_t crc() const { return crc_; }
    bool open() const { return stream_.is_open(); }

private:
    std::ifstream stream_;
    bool ok_ = true;
    std::uint32_t crc_ = 0;
};

}  // namespace

std::optional<Dataset> read_folder_cache(const fs::path& file, std::uint64_t key, const ImageFolderOptions& options,
                                         const std::vector<std::string>& classes, TaskKind task, std::vector<std::string>& skipped) {
    std::error_code error;
    const std::uintmax_t file_bytes = fs::file_size(file, error);
    if (error || file_bytes < kCacheHeaderBytes + 4) return std::nullopt;
    CacheReader reader(file);
    if (!reader.open()) return std::nullopt;
    std::array<char, 8> magic{};
    reader.read(magic.data(), magic.size());
    if (!reader.ok() || std::memcmp(magic.data(), kCacheMagic, 8) != 0) return std::nullopt;
    if (reader.number<std::uint32_t>() != kCacheVersion || reader.number<std::uint32_t>() != kByteOrderMark) return std::nullopt;
    if (reader.number<std::uint64_t>() != key) return std::nullopt;
    Dataset dataset;
    dataset.count = reader.number<std::int64_t>();
    dataset.channels = reader.number<std::int32_t>();
    dataset.height = reader.number<std::int32_t>();
    dataset.width = reader.number<std::int32_t>();
    const auto class_count = reader.number<std::uint32_t>();
    const auto skipped_count = reader.number<std::uint32_t>();
    const auto targets = reader.number<std::uint32_t>();
    const auto box_total = reader.number<std::int64_t>();
    const bool masks = task == TaskKind::segment, boxes = task == TaskKind::detect;
    if (!reader.ok() || dataset.channels != options.channels || dataset.height != options.height || dataset.width != options.width ||
        class_count != classes.size() || dataset.count < 0 || targets != cached_targets(task) || box_total < 0 ||
        (!boxes && box_total != 0))
        return std::nullopt;
    // Sizes against the file's length before anything large is allocated: per image its bytes and
    // a label, a mask or a box offset; with boxes one more offset and the boxes.
    std::uintmax_t budget = file_bytes - kCacheHeaderBytes - 4;
    const auto image_bytes = static_cast<std::uintmax_t>(dataset.image_size());
    const auto target_bytes = masks ? static_cast<std::uintmax_t>(dataset.mask_size()) : boxes ? 8 : 1;
    const auto count = static_cast<std::uintmax_t>(dataset.count);
    const auto box_count = static_cast<std::uintmax_t>(box_total);
    if (boxes) {
        if (budget < 8 || box_count > (budget - 8) / kCachedBoxBytes) return std::nullopt;
        budget -= 8 + box_count * kCachedBoxBytes;
    }
    if (count > budget / (image_bytes + target_bytes)) return std::nullopt;
    budget -= count * (image_bytes + target_bytes);
    for (std::uint32_t i = 0; i < class_count; ++i) dataset.class_names.push_back(reader.text(budget));
    std::vector<std::string> lines;
    for (std::uint32_t i = 0; i < skipped_count && reader.ok(); ++i) lines.push_back(reader.text(budget));
    if (!reader.ok() || dataset.class_names != classes || budget != 4 * std::uintmax_t{class_count + skipped_count}) return std::nullopt;
    if (masks) dataset.masks.resize(count * target_bytes);
    else if (!boxes) dataset.labels.resize(count);
    dataset.images.resize(count * image_bytes);
    reader.read(dataset.labels.data(), dataset.labels.size());
    reader.read(dataset.images.data(), dataset.images.size());
    reader.read(dataset.masks.data(), dataset.masks.size());
    if (boxes) {
        dataset.box_offsets.resize(count + 1);
        for (std::int64_t& offset : dataset.box_offsets) offset = reader.number<std::int64_t>();
        dataset.boxes.resize(box_count);
        for (ObjectBox& object : dataset.boxes) {
            for (float* value : {&object.box.x1, &object.box.y1, &object.box.x2, &object.box.y2}) *value = reader.number<float>();
            object.label = reader.number<std::int32_t>();
        }
    }
    const std::uint32_t computed = reader.crc();
    const auto stored = reader.number<std::uint32_t>();
    if (!reader.ok() || stored != computed) return std::nullopt;
    for (std::uint8_t label : dataset.labels)
        if (label >= class_count) return std::nullopt;
    for (std::uint8_t value : dataset.masks)
        if (value >= class_count && value != kIgnoreIndex) return std::nullopt;
    // What every user of a detection set assumes (a CRC is no signature): offsets from 0 to the box
    // count, none decreasing, at most kMaxObjectsPerImage apart; boxes with area inside [0, 1].
    if (boxes) {
        if (dataset.box_offsets.front() != 0 || dataset.box_offsets.back() != box_total) return std::nullopt;
        for (std::size_t n = 0; n < count; ++n) {
            const std::int64_t objects = dataset.box_offsets[n + 1] - dataset.box_offsets[n];
            if (objects < 0 || objects > static_cast<std::int64_t>(kMaxObjectsPerImage)) return std::nullopt;
        }
        for (const ObjectBox& object : dataset.boxes) {
            const Box& box = object.box;
            // Negated comparisons so that NaN fails them.
            if (!(box.x1 >= 0.0f && box.x1 < box.x2 && box.x2 <= 1.0f && box.y1 >= 0.0f && box.y1 < box.y2 && box.y2 <= 1.0f) ||
                object.label < 0 || static_cast<std::uint32_t>(object.label) >= class_count)
                return std::nullopt;
        }
    }
    skipped = std::move(lines);
    return dataset;
}
}  // namespace convnet::detail
