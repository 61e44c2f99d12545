// Image folders (ROOT/{train,val,test}/<class>/...): listing in torchvision ImageFolder's order,
// the seeded stratified val split, conversion of every file to the model's input bytes (decoded one
// file a thread at a time, so memory stays the Dataset plus a picture per thread), and the cache.
//
// Cache file (native byte order; another order reads as a bad magic and is rebuilt):
//   "CNVIFOLD" | u32 version | u32 0x01020304 | u64 fingerprint | i64 count | i32 channels, height,
//   width | u32 class count | u32 skipped count | (u32 length, bytes) per class name, per skipped
//   line | labels (count bytes) | images (count·C·H·W bytes) | u32 CRC-32 of all before.
// The fingerprint hashes the format version, the split, the options and every listed file's
// class, relative path, size and modification time. Anything that does not match (magic, version,
// fingerprint, shape, sizes against the file's length, CRC) makes the load rebuild the cache.
#include <convnet/error.h>
#include <convnet/image_folder.h>
#include <convnet/io.h>
#include <convnet/random.h>

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <system_error>
#include <type_traits>

namespace convnet {

namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kCacheVersion = 1;
constexpr char kCacheMagic[8] = {'C', 'N', 'V', 'I', 'F', 'O', 'L', 'D'};
constexpr std::uint32_t kByteOrderMark = 0x01020304;
constexpr std::size_t kMaxNameBytes = 1 << 16;  // a class name or a skipped line, in the cache
constexpr std::size_t kCacheHeaderBytes = 8 + 4 + 4 + 8 + 8 + 3 * 4 + 4 + 4;

// The IMG_EXTENSIONS of torchvision that convnet cannot decode: listed, then refused or skipped.
constexpr std::string_view kUndecodableExtensions[] = {".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"};

struct Sample {
    fs::path path;         // root/split/class/...
    std::string relative;  // class/... with '/', for the fingerprint and messages
    std::uint8_t label = 0;
    bool undecodable = false;  // an IMG_EXTENSIONS file convnet does not read
};

std::string quoted(const std::string& name) { return "'" + name + "'"; }

std::string lower_ascii(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

// 0: ignored, 1: read, 2: an image convnet cannot read.
int file_kind(const std::string& name) {
    const std::string lower = lower_ascii(name);
    for (std::string_view extension : kImageFolderExtensions)
        if (lower.ends_with(extension)) return 1;
    for (std::string_view extension : kUndecodableExtensions)
        if (lower.ends_with(extension)) return 2;
    return 0;
}

// FNV-1a, 64 bits: the fingerprint of a listing and the name of a cache file (not security).
class Hash {
public:
    void bytes(const void* data, std::size_t size) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < size; ++i) state_ = (state_ ^ p[i]) * 0x100000001b3ull;
    }
    void text(std::string_view value) {
        number(value.size());
        bytes(value.data(), value.size());
    }
    template <typename Number>
    requires std::is_arithmetic_v<Number>
    void number(Number value) { bytes(&value, sizeof(value)); }
    std::uint64_t value() const { return state_; }

private:
    std::uint64_t state_ = 0xcbf29ce484222325ull;
};

void hash_options(Hash& hash, std::string_view split, const ImageFolderOptions& options) {
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

void check_options(const ImageFolderOptions& options) {
    if (options.channels != 1 && options.channels != 3)
        throw Error("image folder: channels must be 1 (grey) or 3 (RGB), got " + std::to_string(options.channels));
    if (options.height < 1 || options.height > 16384 || options.width < 1 || options.width > 16384)
        throw Error("image folder: the image size must be 1..16384 a side, got " + std::to_string(options.width) + "x" +
                    std::to_string(options.height) + " (width x height)");
    if (!(options.val_split >= 0.0 && options.val_split < 1.0))
        throw Error("image folder: val_split must be in [0, 1), got " + std::to_string(options.val_split));
}

bool is_folder(const fs::path& path) {
    std::error_code error;
    return fs::is_directory(path, error);  // follows links, as os.scandir's is_dir()
}

// Every non-folder below `top` (links followed, each real folder visited once), grouped by folder,
// folders sorted by path and files by name within each: ImageFolder's sorted(os.walk(...)).
std::vector<std::pair<std::string, std::string>> walk_files(const fs::path& top) {
    std::vector<std::pair<std::string, std::vector<std::string>>> folders;  // (relative folder, file names)
    std::set<fs::path> visited;
    std::vector<std::string> pending = {""};
    while (!pending.empty()) {
        const std::string relative = pending.back();
        pending.pop_back();
        const fs::path folder = relative.empty() ? top : top / relative;
        std::error_code error;
        const fs::path real = fs::canonical(folder, error);
        if (error) throw Error(folder.string() + ": cannot open the folder (" + error.message() + ")");
        if (!visited.insert(real).second) continue;  // a link back to a folder already walked
        std::vector<std::string> files;
        fs::directory_iterator entries(folder, error);
        if (error) throw Error(folder.string() + ": cannot list the folder (" + error.message() + ")");
        for (const fs::directory_entry& entry : entries) {
            const std::string name = entry.path().filename().native();
            std::error_code type_error;
            if (entry.is_directory(type_error)) {
                pending.push_back(relative.empty() ? name : relative + "/" + name);
            } else {
                files.push_back(name);
            }
        }
        std::sort(files.begin(), files.end());
        folders.emplace_back(relative, std::move(files));
    }
    std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::pair<std::string, std::string>> listing;  // (relative folder, file name)
    for (auto& [relative, files] : folders)
        for (std::string& name : files) listing.emplace_back(relative, std::move(name));
    return listing;
}

// The candidate samples of a split folder: every class's image files in ImageFolder's order.
std::vector<Sample> make_dataset(const fs::path& directory, const std::vector<std::string>& classes) {
    std::vector<Sample> samples;
    for (std::size_t label = 0; label < classes.size(); ++label) {
        const fs::path class_folder = directory / classes[label];
        std::size_t found = 0;
        for (auto& [folder, name] : walk_files(class_folder)) {
            const int kind = file_kind(name);
            if (kind == 0) continue;
            Sample sample;
            sample.relative = classes[label] + "/" + (folder.empty() ? name : folder + "/" + name);
            sample.path = directory / sample.relative;
            sample.label = static_cast<std::uint8_t>(label);
            sample.undecodable = kind == 2;
            samples.push_back(std::move(sample));
            ++found;
        }
        if (found == 0)
            throw Error(class_folder.string() + ": class " + quoted(classes[label]) +
                        " has no images (no .png, .jpg or .jpeg file in it or its subfolders); add some or remove the folder");
    }
    return samples;
}

// The classes of root/train, checked to be the classes of every other split folder present.
std::vector<std::string> consistent_classes(const fs::path& root) {
    const fs::path train = root / "train";
    std::vector<std::string> classes = find_classes(train);
    for (const char* other : {"val", "test"}) {
        const fs::path folder = root / other;
        if (!is_folder(folder)) continue;
        const std::vector<std::string> theirs = find_classes(folder);
        if (theirs == classes) continue;
        std::vector<std::string> missing, extra;
        std::set_difference(classes.begin(), classes.end(), theirs.begin(), theirs.end(), std::back_inserter(missing));
        std::set_difference(theirs.begin(), theirs.end(), classes.begin(), classes.end(), std::back_inserter(extra));
        const auto names = [](const std::vector<std::string>& list) {
            std::string text;
            for (std::size_t i = 0; i < list.size() && i < 5; ++i) text += (i ? ", " : "") + quoted(list[i]);
            if (list.size() > 5) text += " and " + std::to_string(list.size() - 5) + " more";
            return text;
        };
        std::string message = folder.string() + ": its classes differ from those of " + train.string() + " (";
        if (!missing.empty()) message += "missing " + names(missing);
        if (!missing.empty() && !extra.empty()) message += "; ";
        if (!extra.empty()) message += "not in train/: " + names(extra);
        throw Error(message + "); every split needs the same class folders, or the labels would not agree");
    }
    return classes;
}

// Marks the held-out part of each class: round(n·fraction) of its n samples, at most n − 1,
// chosen by a Fisher–Yates shuffle seeded from (seed, class), so that adding files to one class
// changes no other class's split.
std::vector<bool> held_out(const std::vector<Sample>& samples, std::size_t class_count, double fraction, std::uint64_t seed) {
    std::vector<std::vector<std::size_t>> members(class_count);
    for (std::size_t index = 0; index < samples.size(); ++index) members[samples[index].label].push_back(index);
    std::vector<bool> result(samples.size(), false);
    for (std::size_t label = 0; label < class_count; ++label) {
        std::vector<std::size_t>& indices = members[label];
        const std::size_t n = indices.size();
        if (n < 2) continue;
        const auto wanted = static_cast<std::size_t>(std::llround(static_cast<double>(n) * fraction));
        const std::size_t taken = std::min(wanted, n - 1);
        Random random(seed ^ (0x9E3779B97F4A7C15ull * (label + 1)));
        for (std::size_t i = n - 1; i > 0; --i) std::swap(indices[i], indices[random.below(i + 1)]);
        for (std::size_t i = 0; i < taken; ++i) result[indices[i]] = true;
    }
    return result;
}

// The fingerprint of what a load reads: options and every file's path, size and modification time.
std::uint64_t fingerprint(std::string_view split, const ImageFolderOptions& options, const std::vector<std::string>& classes,
                          const std::vector<Sample>& samples) {
    Hash hash;
    hash_options(hash, split, options);
    hash.number(classes.size());
    for (const std::string& name : classes) hash.text(name);
    hash.number(samples.size());
    for (const Sample& sample : samples) {
        hash.text(sample.relative);
        hash.number(sample.label);
        struct stat status {};
        if (::stat(sample.path.c_str(), &status) == 0) {  // one call for both (fs:: makes two)
            hash.number(static_cast<std::int64_t>(status.st_size));
            hash.number(static_cast<std::int64_t>(status.st_mtim.tv_sec));
            hash.number(static_cast<std::int64_t>(status.st_mtim.tv_nsec));
        } else {
            hash.number(std::int64_t{-1});  // missing (a broken link): refused or skipped; when it appears, the key changes
        }
    }
    return hash.value();
}

// Decodes and converts one file into `out` (channels·height·width bytes). Returns "" or the
// problem, a message naming the file.
std::string convert(const Sample& sample, const ImageFolderOptions& options, std::uint8_t* out) {
    if (sample.undecodable)
        return sample.path.string() + ": convnet reads PNG and JPEG only (this is " + sample.path.extension().string() +
               ", which torchvision's ImageFolder would load); convert it to PNG";
    try {
        const Image image = decode_image(sample.path, options.limits);
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
        return message.starts_with(sample.path.string()) ? message : sample.path.string() + ": " + message;
    } catch (const std::exception& error) {  // std::bad_alloc for a huge picture on a small machine
        return sample.path.string() + ": cannot decode (" + error.what() + ")";
    }
}

// ---- The cache ----

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

void write_cache(const fs::path& file, std::uint64_t key, const Dataset& dataset, const std::vector<std::string>& skipped) {
    CacheWriter writer;
    writer.reserve(kCacheHeaderBytes + dataset.labels.size() + dataset.images.size() + 4096);
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
    for (const std::string& name : dataset.class_names) writer.text(name);
    for (const std::string& line : skipped) writer.text(line.substr(0, kMaxNameBytes));
    writer.raw(dataset.labels);
    writer.raw(dataset.images);
    std::error_code error;
    fs::create_directories(file.parent_path(), error);
    if (error) throw Error(file.parent_path().string() + ": cannot create the image-folder cache folder (" + error.message() + ")");
    write_file_atomically(file, writer.finish());
}

// Reads a cache file, checking everything; nullopt when it is missing, stale or damaged.
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

std::optional<Dataset> read_cache(const fs::path& file, std::uint64_t key, const ImageFolderOptions& options,
                                  const std::vector<std::string>& classes, std::vector<std::string>& skipped) {
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
    if (!reader.ok() || dataset.channels != options.channels || dataset.height != options.height || dataset.width != options.width ||
        class_count != classes.size() || dataset.count < 0)
        return std::nullopt;
    // Sizes against the file's length before anything large is allocated.
    std::uintmax_t budget = file_bytes - kCacheHeaderBytes - 4;
    const auto image_bytes = static_cast<std::uintmax_t>(dataset.image_size());
    const auto count = static_cast<std::uintmax_t>(dataset.count);
    if (count > budget / (image_bytes + 1)) return std::nullopt;
    budget -= count * (image_bytes + 1);
    for (std::uint32_t i = 0; i < class_count; ++i) dataset.class_names.push_back(reader.text(budget));
    std::vector<std::string> lines;
    for (std::uint32_t i = 0; i < skipped_count && reader.ok(); ++i) lines.push_back(reader.text(budget));
    if (!reader.ok() || dataset.class_names != classes || budget != 4 * std::uintmax_t{class_count + skipped_count}) return std::nullopt;
    dataset.labels.resize(count);
    dataset.images.resize(count * image_bytes);
    reader.read(dataset.labels.data(), dataset.labels.size());
    reader.read(dataset.images.data(), dataset.images.size());
    const std::uint32_t computed = reader.crc();
    const auto stored = reader.number<std::uint32_t>();
    if (!reader.ok() || stored != computed) return std::nullopt;
    for (std::uint8_t label : dataset.labels)
        if (label >= class_count) return std::nullopt;
    skipped = std::move(lines);
    return dataset;
}

}  // namespace

std::vector<std::string> find_classes(const fs::path& directory) {
    if (!is_folder(directory)) {
        std::error_code error;
        if (fs::exists(directory, error)) throw Error(directory.string() + ": a file, where a folder of class folders was expected");
        throw Error(directory.string() + ": folder not found (an image folder holds train/<class>/*.png, test/<class>/*.png)");
    }
    std::vector<std::string> classes;
    std::error_code error;
    fs::directory_iterator entries(directory, error);
    if (error) throw Error(directory.string() + ": cannot list the folder (" + error.message() + ")");
    for (const fs::directory_entry& entry : entries) {
        std::error_code type_error;
        if (entry.is_directory(type_error)) classes.push_back(entry.path().filename().native());
    }
    // std::string compares as unsigned char: the byte order of UTF-8 is the code point order.
    std::sort(classes.begin(), classes.end());
    if (classes.empty())
        throw Error(directory.string() + ": holds no class folders (expected one subfolder per class, e.g. " +
                    (directory / "cat").string() + "/1.png)");
    if (classes.size() > kMaxClasses)
        throw Error(directory.string() + ": holds " + std::to_string(classes.size()) + " class folders, more than the " +
                    std::to_string(kMaxClasses) + " convnet's datasets can label (labels are bytes)");
    return classes;
}

bool is_image_folder(const fs::path& root) {
    const fs::path train = root / "train";
    if (!is_folder(train)) return false;
    std::error_code error;
    fs::directory_iterator entries(train, error);
    if (error) return false;
    for (const fs::directory_entry& entry : entries) {
        std::error_code type_error;
        if (entry.is_directory(type_error)) return true;
    }
    return false;
}

fs::path image_folder_cache_file(const fs::path& root, std::string_view split, const ImageFolderOptions& options) {
    std::error_code error;
    fs::path absolute = fs::weakly_canonical(root, error);
    if (error) absolute = fs::absolute(root).lexically_normal();
    Hash hash;
    hash.text(absolute.native());
    hash_options(hash, split, options);
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash.value()));
    return options.cache_dir / ("image-folder-" + std::string(split) + "-" + hex + ".cache");
}

Dataset read_image_folder(const fs::path& root, std::string_view split, const ImageFolderOptions& options,
                          std::vector<std::string>* skipped) {
    check_options(options);
    if (split != "train" && split != "val" && split != "test")
        throw Error("image folder: no split \"" + std::string(split) + "\" (train, val or test)");
    if (!is_folder(root)) throw Error(root.string() + ": image folder not found");
    const std::vector<std::string> classes = consistent_classes(root);

    // Which folder the split reads, and whether part of train/ is held out.
    const bool has_val_folder = is_folder(root / "val");
    if (has_val_folder && options.val_split > 0.0)
        throw Error((root / "val").string() + ": exists, and val_split " + std::to_string(options.val_split) +
                    " asks for another validation set taken from train/; use one or the other");
    if (split == "val" && !has_val_folder && options.val_split == 0.0)
        throw Error(root.string() + ": has no val/ folder; set a val_split (--val-split F) to hold out part of train/ instead");
    const bool derived = !has_val_folder && options.val_split > 0.0 && split != "test";
    const fs::path directory = root / (derived ? "train" : std::string(split));
    if (!is_folder(directory)) throw Error(directory.string() + ": folder not found (the " + std::string(split) + " split)");

    std::vector<Sample> samples = make_dataset(directory, classes);
    if (derived) {
        const std::vector<bool> out = held_out(samples, classes.size(), options.val_split, options.split_seed);
        const bool keep_held_out = split == "val";
        std::size_t kept = 0;
        for (std::size_t i = 0; i < samples.size(); ++i)
            if (out[i] == keep_held_out) samples[kept++] = std::move(samples[i]);
        samples.resize(kept);
    }

    std::vector<std::string> skipped_lines;
    const std::uint64_t key = fingerprint(split, options, classes, samples);
    fs::path cache_file;
    if (!options.cache_dir.empty()) {
        cache_file = image_folder_cache_file(root, split, options);
        if (std::optional<Dataset> cached = read_cache(cache_file, key, options, classes, skipped_lines)) {
            if (skipped) *skipped = std::move(skipped_lines);
            return std::move(*cached);
        }
    }

    Dataset dataset;
    dataset.channels = options.channels;
    dataset.height = options.height;
    dataset.width = options.width;
    dataset.class_names = classes;
    const std::size_t image_bytes = static_cast<std::size_t>(dataset.image_size());
    const auto count = static_cast<std::int64_t>(samples.size());
    dataset.images.resize(samples.size() * image_bytes);
    std::vector<std::string> problems(samples.size());
    // Files in parallel, each into its own slot: the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto index = static_cast<std::size_t>(i);
        problems[index] = convert(samples[index], options, dataset.images.data() + index * image_bytes);
    }

    std::vector<std::size_t> loaded_per_class(classes.size(), 0), skipped_per_class(classes.size(), 0);
    std::vector<std::string> first_skipped(classes.size());
    dataset.labels.reserve(samples.size());
    std::size_t kept = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const std::uint8_t label = samples[i].label;
        if (!problems[i].empty()) {
            if (!options.skip_bad) throw Error(problems[i] + " (--skip-bad leaves unreadable images out)");
            if (skipped_per_class[label]++ == 0) first_skipped[label] = problems[i];
            skipped_lines.push_back(std::move(problems[i]));
            continue;
        }
        if (kept != i) std::memmove(dataset.images.data() + kept * image_bytes, dataset.images.data() + i * image_bytes, image_bytes);
        dataset.labels.push_back(label);
        ++loaded_per_class[label];
        ++kept;
    }
    for (std::size_t label = 0; label < classes.size(); ++label)
        if (loaded_per_class[label] == 0 && skipped_per_class[label] > 0)
            throw Error((directory / classes[label]).string() + ": class " + quoted(classes[label]) + " has no readable images (all " +
                        std::to_string(skipped_per_class[label]) + " were skipped; the first: " + first_skipped[label] + ")");
    if (kept < samples.size()) {
        dataset.images.resize(kept * image_bytes);
        dataset.images.shrink_to_fit();
    }
    dataset.count = static_cast<std::int64_t>(kept);

    if (!cache_file.empty()) write_cache(cache_file, key, dataset, skipped_lines);
    if (skipped) *skipped = std::move(skipped_lines);
    return dataset;
}

}  // namespace convnet
