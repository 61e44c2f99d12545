// The dataset dispatcher and the validation split of in-memory datasets.
#include "folder_cache.h"

#include <convnet/data/cifar.h>
#include <convnet/data/dataset.h>
#include <convnet/core/error.h>
#include <convnet/core/random.h>

#include <bit>
#include <cmath>
#include <numeric>

namespace convnet {

namespace {

// The images of `dataset` whose flag in `keep` is true, in order.
Dataset subset(const Dataset& dataset, const std::vector<bool>& take, bool wanted) {
    Dataset result;
    result.channels = dataset.channels;
    result.height = dataset.height;
    result.width = dataset.width;
    result.class_names = dataset.class_names;
    const std::int64_t size = dataset.image_size();
    for (std::int64_t n = 0; n < dataset.count; ++n) {
        if (take[static_cast<std::size_t>(n)] != wanted) continue;
        result.images.insert(result.images.end(), dataset.image(n), dataset.image(n) + size);
        result.labels.push_back(dataset.labels[static_cast<std::size_t>(n)]);
        ++result.count;
    }
    return result;
}

// Whether `directory` holds any IDX file of the official names (raw or gzip).
bool holds_idx_files(const std::filesystem::path& directory) {
    for (const char* name : {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"})
        for (const char* suffix : {"", ".gz"})
            if (std::filesystem::exists(directory / (std::string(name) + suffix))) return true;
    return false;
}

// What a --data folder that is none of the three kinds gets told.
std::string not_a_dataset(const std::filesystem::path& directory) {
    const std::string name = directory.string();
    if (name.ends_with(".tar.gz") || name.ends_with(".tgz"))
        return name + ": a tarball; extract it first (mkdir -p data/cifar-10 && tar -xzf " + name +
               " -C data/cifar-10 --strip-components=1) and give the folder";
    std::error_code error;
    const std::string state = !std::filesystem::exists(directory, error)         ? "does not exist"
                              : !std::filesystem::is_directory(directory, error) ? "is not a folder"
                                                                                 : "holds none of the dataset layouts convnet reads";
    return name + ": " + state + "; expected one of (docs/DATA.md):\n" +
           "  IDX files: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-... (`make data` fetches Fashion-MNIST "
           "and MNIST into data/)\n"
           "  CIFAR-10 binary batches: data_batch_1.bin ... data_batch_5.bin, test_batch.bin, batches.meta.txt "
           "(https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, extracted)\n"
           "  an image folder: " +
           name + "/train/<class>/*.png|jpg and " + name + "/test/<class>/... (a folder per class)\n" +
           "  a segmentation folder: " + name + "/classes.txt, " + name + "/train/images/*.png|jpg, " + name +
           "/train/masks/*.png and the same under test/ (docs/SEGMENTATION.md)\n"
           "  a detection folder (YOLO layout): " + name + "/classes.txt, " + name + "/train/images/*.png|jpg, " + name +
           "/train/labels/*.txt and the same under test/ (docs/DETECTION.md)";
}

}  // namespace

DatasetKind dataset_kind(const std::filesystem::path& directory, std::optional<TaskKind> task) {
    const std::string name = directory.string();
    const bool segmentation = is_segmentation_folder(directory), detection = is_detection_folder(directory);
    if (task == TaskKind::segment) {
        if (!segmentation)
            throw Error(name + ": --task segment needs a segmentation folder: " + name + "/train/images/ and " + name +
                        "/train/masks/ (PNG masks of class indices; docs/SEGMENTATION.md)" +
                        (detection ? "; " + name + "/train/labels/ makes it a detection folder (--task detect)" : ""));
        return DatasetKind::segmentation_folder;
    }
    if (task == TaskKind::detect) {
        if (!detection && !detail::is_folder(directory)) throw Error(name + ": no such folder (--task detect needs a detection folder; docs/DETECTION.md)");
        if (!detection)
            throw Error(name + ": --task detect needs a detection folder (the YOLO layout): " + name + "/train/images/ and " + name +
                        "/train/labels/ (a NAME.txt of `class cx cy w h` lines per image NAME.png|jpg; docs/DETECTION.md)" +
                        (detail::is_folder(directory / "train" / "images") ? "; " + name + "/train/labels/ is missing"
                                                                       : "; " + name + "/train/images/ is missing"));
        return DatasetKind::detection_folder;
    }
    if (is_cifar10_folder(directory)) return DatasetKind::cifar10;
    if (!task && segmentation && detection)
        throw Error(name + ": holds both train/masks/ (a segmentation folder) and train/labels/ (a detection folder); say which with "
                           "--task segment or --task detect");
    if (!task && segmentation) return DatasetKind::segmentation_folder;
    if (!task && detection) return DatasetKind::detection_folder;
    if (task == TaskKind::classify && detection)
        throw Error(name + ": a detection folder (train/images/ and train/labels/, the YOLO layout), not an image folder of a "
                           "folder per class; train a detector on it with --task detect (or leave --task out), or give "
                           "classification a folder DIR/train/<class>/*.png");
    if (is_image_folder(directory)) return DatasetKind::image_folder;
    return DatasetKind::idx;
}

std::string dataset_kind_name(DatasetKind kind) {
    switch (kind) {
        case DatasetKind::idx:
            return "IDX";
        case DatasetKind::cifar10:
            return "CIFAR-10";
        case DatasetKind::image_folder:
            return "image folder";
        case DatasetKind::segmentation_folder:
            return "segmentation folder";
        case DatasetKind::detection_folder:
            return "detection folder";
    }
    return "?";
}

std::uint64_t dataset_fingerprint(const Dataset& dataset) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    const auto mix = [&](std::uint64_t word) { hash = (hash ^ word) * 0x100000001b3ull; };
    for (const std::int64_t number :
         {dataset.count, std::int64_t{dataset.channels}, std::int64_t{dataset.height}, std::int64_t{dataset.width}})
        mix(static_cast<std::uint64_t>(number));
    // The masks of a segmentation set only: a classification set's fingerprint is what it was.
    std::vector<const std::vector<std::uint8_t>*> parts{&dataset.labels, &dataset.images};
    if (!dataset.masks.empty()) parts.push_back(&dataset.masks);
    for (const std::vector<std::uint8_t>* bytes : parts) {
        std::size_t i = 0;
        for (; i + 8 <= bytes->size(); i += 8) {  // a word at a time: 47 MB of Fashion-MNIST in milliseconds
            std::uint64_t word = 0;
            for (int b = 0; b < 8; ++b) word |= std::uint64_t{(*bytes)[i + static_cast<std::size_t>(b)]} << (8 * b);
            mix(word);
        }
        for (; i < bytes->size(); ++i) mix((*bytes)[i]);
    }
    // The objects of a detection set: each image's count, then every box's corners (their bits)
    // and class.
    if (dataset.has_boxes()) {
        for (const std::int64_t offset : dataset.box_offsets) mix(static_cast<std::uint64_t>(offset));
        for (const ObjectBox& object : dataset.boxes) {
            for (const float value : {object.box.x1, object.box.y1, object.box.x2, object.box.y2}) mix(std::bit_cast<std::uint32_t>(value));
            mix(static_cast<std::uint64_t>(static_cast<std::int64_t>(object.label)));
        }
    }
    return hash;
}

std::vector<bool> held_out_images(const Dataset& dataset, double fraction, std::uint64_t seed) {
    if (!(fraction >= 0.0 && fraction < 1.0)) throw Error("val split " + std::to_string(fraction) + ": expected a fraction in [0, 1)");
    std::vector<bool> held(static_cast<std::size_t>(dataset.count), false);
    std::vector<std::vector<std::int64_t>> by_class(256);
    for (std::int64_t n = 0; n < dataset.count; ++n) by_class[dataset.labels[static_cast<std::size_t>(n)]].push_back(n);
    for (std::size_t label = 0; label < by_class.size(); ++label) {
        std::vector<std::int64_t>& members = by_class[label];
        if (members.empty()) continue;
        const auto count =
            std::min<std::int64_t>(std::llround(double(members.size()) * fraction), static_cast<std::int64_t>(members.size()) - 1);
        Random random((seed ^ 0x5a11d5eedull) + 0x9E3779B97F4A7C15ull * (label + 1));
        for (std::size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[random.below(i)]);
        for (std::int64_t i = 0; i < count; ++i) held[static_cast<std::size_t>(members[static_cast<std::size_t>(i)])] = true;
    }
    return held;
}

Dataset load_dataset(const std::filesystem::path& directory, std::string_view split, const DataOptions& options,
                     std::vector<std::string>* skipped, std::vector<std::string>* warnings) {
    if (split != "train" && split != "val" && split != "test")
        throw Error("dataset split '" + std::string(split) + "': expected train, val or test");
    const DatasetKind kind = dataset_kind(directory, options.task);
    if (kind == DatasetKind::idx && !holds_idx_files(directory)) throw Error(not_a_dataset(directory));
    if (warnings != nullptr) warnings->clear();
    if (kind == DatasetKind::segmentation_folder) return read_segmentation_folder(directory, split, options.images, skipped);
    if (kind == DatasetKind::detection_folder) return read_detection_folder(directory, split, options.images, skipped, warnings);
    if (kind == DatasetKind::image_folder) return read_image_folder(directory, split, options.images, skipped);
    const auto read = [&](Split which) {
        return kind == DatasetKind::cifar10 ? read_cifar10(directory, which) : load_split(directory, which);
    };
    if (split == "test") return read(Split::test);
    const double fraction = options.images.val_split;
    if (split == "val" && fraction == 0.0)
        throw Error(directory.string() + ": " + dataset_kind_name(kind) +
                    " files have no validation split; hold out part of the "
                    "training images with --val-split F (e.g. 0.1)");
    Dataset train = read(Split::train);
    if (fraction == 0.0) return train;
    return subset(train, held_out_images(train, fraction, options.images.split_seed), split == "val");
}

}  // namespace convnet
