// Image folders (ROOT/{train,val,test}/<class>/...): listing in torchvision ImageFolder's order,
// the seeded stratified val split, conversion of every file to the model's input bytes (decoded one
// file a thread at a time, so memory stays the Dataset plus a picture per thread), and the cache
// (folder_cache.h). The fingerprint hashes the format version, the split, the options and every
// listed file's class, relative path, size and modification time.
#include "folder_cache.h"

#include <convnet/core/error.h>
#include <convnet/core/random.h>
#include <convnet/data/image_folder.h>

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
using detail::Hash;
using detail::is_folder;
using detail::lower_ascii;

// The IMG_EXTENSIONS of torchvision that convnet cannot decode: listed, then refused or skipped.
constexpr std::string_view kUndecodableExtensions[] = {".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp"};

struct Sample {
    fs::path path;         // root/split/class/...
    std::string relative;  // class/... with '/', for the fingerprint and messages
    std::uint8_t label = 0;
    bool undecodable = false;  // an IMG_EXTENSIONS file convnet does not read
};

std::string quoted(const std::string& name) { return "'" + name + "'"; }

// 0: ignored, 1: read, 2: an image convnet cannot read.
int file_kind(const std::string& name) {
    const std::string lower = lower_ascii(name);
    for (std::string_view extension : kImageFolderExtensions)
        if (lower.ends_with(extension)) return 1;
    for (std::string_view extension : kUndecodableExtensions)
        if (lower.ends_with(extension)) return 2;
    return 0;
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
    detail::hash_folder_options(hash, split, options);
    hash.number(classes.size());
    for (const std::string& name : classes) hash.text(name);
    hash.number(samples.size());
    for (const Sample& sample : samples) {
        hash.text(sample.relative);
        hash.number(sample.label);
        hash.file_stamp(sample.path);  // missing (a broken link): refused or skipped; when it appears, the key changes
    }
    return hash.value();
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
    return detail::folder_cache_file("image-folder", root, split, options);
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
        if (std::optional<Dataset> cached =
                detail::read_folder_cache(cache_file, key, options, classes, TaskKind::classify, skipped_lines)) {
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
        const Sample& sample = samples[index];
        problems[index] = sample.undecodable
                              ? sample.path.string() + ": convnet reads PNG and JPEG only (this is " + sample.path.extension().string() +
                                    ", which torchvision's ImageFolder would load); convert it to PNG"
                              : detail::convert_picture(sample.path, options, dataset.images.data() + index * image_bytes);
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

    if (!cache_file.empty()) detail::write_folder_cache(cache_file, key, dataset, skipped_lines);
    if (skipped) *skipped = std::move(skipped_lines);
    return dataset;
}

}  // namespace convnet
