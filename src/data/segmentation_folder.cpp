// Segmentation folders (segmentation_folder.h): images paired with masks by stem, converted
// together to the model's input size (bilinear for the image, nearest for the mask), checked, and
// cached as image folders are (folder_cache.h).
#include "folder_cache.h"
#include "../core/text_file.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/data/segmentation_folder.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

namespace convnet {

namespace {

namespace fs = std::filesystem;
using detail::is_folder;



struct Pair {
    std::string stem;
    fs::path image, mask;
};

// The class names of ROOT/classes.txt, required: a mask's values mean nothing without them.
std::vector<std::string> segmentation_classes(const fs::path& root) {
    const fs::path file = root / "classes.txt";
    std::error_code error;
    if (!fs::exists(file, error))
        throw Error(file.string() + ": not found; a segmentation folder needs one class name a line, line i naming mask value i "
                                    "(e.g. background first)");
    std::vector<std::string> names = read_class_names(root);
    if (names.size() >= kIgnoreIndex)
        throw Error(file.string() + ": " + std::to_string(names.size()) + " classes; masks are bytes and 255 means \"ignore\", so at most " +
                    std::to_string(kIgnoreIndex) + " classes");
    return names;
}

// Every image of split/images with its mask in split/masks; a file on one side only is refused.
std::vector<Pair> pair_files(const fs::path& directory) {
    const fs::path images = directory / "images", masks = directory / "masks";
    for (const fs::path& folder : {images, masks})
        if (!is_folder(folder)) throw Error(folder.string() + ": folder not found (a segmentation split holds images/ and masks/)");
    const std::map<std::string, fs::path> pictures = detail::files_by_stem(images, {".png", ".jpg", ".jpeg"}, "its mask");
    const std::map<std::string, fs::path> labels = detail::files_by_stem(masks, {".png"}, "its mask");
    std::vector<Pair> pairs;
    for (const auto& [stem, path] : pictures) {
        const auto mask = labels.find(stem);
        if (mask == labels.end())
            throw Error(path.string() + ": no mask for this image (expected " + (masks / (stem + ".png")).string() + ")");
        pairs.push_back(Pair{stem, path, mask->second});
    }
    for (const auto& [stem, path] : labels)
        if (!pictures.contains(stem))
            throw Error(path.string() + ": a mask without an image (expected " + (images / (stem + ".png")).string() + " or .jpg)");
    if (pairs.empty()) throw Error(images.string() + ": no images (PNG or JPEG)");
    return pairs;
}

// Reads and checks one mask against its image's size and the class count: its values, row by row.
std::vector<std::uint8_t> read_mask(const Pair& pair, std::int64_t image_height, std::int64_t image_width, std::size_t classes,
                                    const ImageLimits& limits) {
    const Image mask = decode_mask_png(pair.mask, limits);
    const std::string name = pair.mask.string();
    if (mask.channels >= 3)
        throw Error(name + ": an RGB" + std::string(mask.channels == 4 ? "A" : "") +
                    " mask; masks hold class indices: save it as 8-bit grey or palette PNG whose values are the class numbers "
                    "(e.g. in Python: Image.fromarray(index_array.astype(np.uint8)).save(...), mapping each colour to its index)");
    if (mask.channels == 2) throw Error(name + ": a grey mask with alpha; save it without the alpha channel (values = class indices)");
    if (mask.max_value != 255) throw Error(name + ": a 16-bit mask; save it as 8-bit (values = class indices, 255 = ignore)");
    if (mask.height != image_height || mask.width != image_width)
        throw Error(name + ": the mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) + " but its image " +
                    pair.image.string() + " is " + std::to_string(image_width) + "x" + std::to_string(image_height) +
                    " (width x height); a mask labels its image pixel for pixel");
    std::vector<std::uint8_t> values(mask.samples.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t value = mask.samples[i];
        if (value >= classes && value != kIgnoreIndex)
            throw Error(name + ": value " + std::to_string(value) + " at pixel (x " + std::to_string(std::int64_t(i) % mask.width) +
                        ", y " + std::to_string(std::int64_t(i) / mask.width) + ") is not a class index (0 to " +
                        std::to_string(classes - 1) + ", from classes.txt) nor 255 (ignore)" +
                        (mask.indexed ? "" : value > 3 * classes ? "; a mask saved as a picture (0 and 255, or colours)?" : ""));
        values[i] = static_cast<std::uint8_t>(value);
    }
    return values;
}

// One pair into the dataset's slots: "" or the problem, naming the file.
std::string convert_pair(const Pair& pair, const ImageFolderOptions& options, std::size_t classes, std::uint8_t* image_out,
                         std::uint8_t* mask_out) {
    try {
        std::int64_t height = 0, width = 0;
        const std::string problem = detail::convert_picture(pair.image, options, image_out, &height, &width);
        if (!problem.empty()) return problem;
        const std::vector<std::uint8_t> mask = read_mask(pair, height, width, classes, options.limits);
        const std::vector<std::uint8_t> fitted = resize_mask(mask, height, width, options.height, options.width, options.resize);
        std::copy(fitted.begin(), fitted.end(), mask_out);
        return "";
    } catch (const Error& error) {
        return error.what();
    } catch (const std::exception& error) {
        return pair.image.string() + ": cannot decode (" + error.what() + ")";
    }
}

std::uint64_t fingerprint(std::string_view split, const ImageFolderOptions& options, const std::vector<std::string>& classes,
                          const std::vector<Pair>& pairs) {
    detail::Hash hash;
    detail::hash_folder_options(hash, split, options);
    hash.text("segmentation");
    hash.number(classes.size());
    for (const std::string& name : classes) hash.text(name);
    hash.number(pairs.size());
    for (const Pair& pair : pairs)
        for (const fs::path& path : {pair.image, pair.mask}) {
            hash.text(path.filename().native());
            hash.file_stamp(path);
        }
    return hash.value();
}

}  // namespace

bool is_segmentation_folder(const fs::path& root) { return is_folder(root / "train" / "images") && is_folder(root / "train" / "masks"); }

std::vector<std::uint8_t> resize_mask(const std::vector<std::uint8_t>& mask, std::int64_t height, std::int64_t width,
                                      std::int64_t output_height, std::int64_t output_width, ResizePolicy policy) {
    // The geometry of to_network_input: the size before cropping, and the window.
    std::int64_t resized_height = output_height, resized_width = output_width, top = 0, left = 0;
    if (policy == ResizePolicy::center_crop) {
        if (output_height * width >= output_width * height) resized_width = std::max(output_width, output_height * width / height);
        else resized_height = std::max(output_height, output_width * height / width);
        top = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_height - output_height) / 2.0));
        left = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_width - output_width) / 2.0));
    }
    std::vector<std::uint8_t> out(static_cast<std::size_t>(output_height * output_width));
    const auto source = [](std::int64_t index, std::int64_t size, std::int64_t resized) {
        // PIL's NEAREST: the source pixel under the output pixel's centre.
        return std::min(size - 1, static_cast<std::int64_t>((static_cast<double>(index) + 0.5) * static_cast<double>(size) /
                                                             static_cast<double>(resized)));
    };
    for (std::int64_t y = 0; y < output_height; ++y) {
        const std::int64_t from_y = source(y + top, height, resized_height);
        for (std::int64_t x = 0; x < output_width; ++x)
            out[static_cast<std::size_t>(y * output_width + x)] = mask[static_cast<std::size_t>(from_y * width + source(x + left, width, resized_width))];
    }
    return out;
}

Dataset read_segmentation_folder(const fs::path& root, std::string_view split, const ImageFolderOptions& options,
                                 std::vector<std::string>* skipped) {
    if (split != "train" && split != "val" && split != "test")
        throw Error("segmentation folder: no split \"" + std::string(split) + "\" (train, val or test)");
    if (options.channels != 1 && options.channels != 3)
        throw Error("segmentation folder: channels must be 1 (grey) or 3 (RGB), got " + std::to_string(options.channels));
    if (!(options.val_split >= 0.0 && options.val_split < 1.0))
        throw Error("segmentation folder: val_split must be in [0, 1), got " + std::to_string(options.val_split));
    const std::vector<std::string> classes = segmentation_classes(root);
    const bool has_val_folder = is_folder(root / "val");
    if (has_val_folder && options.val_split > 0.0)
        throw Error((root / "val").string() + ": exists, and val_split " + std::to_string(options.val_split) +
                    " asks for another validation set taken from train/; use one or the other");
    if (split == "val" && !has_val_folder && options.val_split == 0.0)
        throw Error(root.string() + ": has no val/ folder; set a val_split (--val-split F) to hold out part of train/ instead");
    const bool derived = !has_val_folder && options.val_split > 0.0 && split != "test";
    const fs::path directory = root / (derived ? "train" : std::string(split));
    if (!is_folder(directory)) throw Error(directory.string() + ": folder not found (the " + std::string(split) + " split)");
    std::vector<Pair> pairs = pair_files(directory);
    if (derived) {
        // Both keep their order.
        const std::vector<bool> held = detail::held_out_by_image(pairs.size(), options.val_split, options.split_seed);
        std::vector<Pair> kept;
        for (std::size_t i = 0; i < pairs.size(); ++i)
            if (held[i] == (split == "val")) kept.push_back(std::move(pairs[i]));
        pairs = std::move(kept);
    }

    std::vector<std::string> skipped_lines;
    const std::uint64_t key = fingerprint(split, options, classes, pairs);
    fs::path cache_file;
    if (!options.cache_dir.empty()) {
        cache_file = detail::folder_cache_file("segmentation-folder", root, split, options);
        if (std::optional<Dataset> cached = detail::read_folder_cache(cache_file, key, options, classes, TaskKind::segment, skipped_lines)) {
            if (skipped) *skipped = std::move(skipped_lines);
            return std::move(*cached);
        }
    }
    Dataset dataset;
    dataset.channels = options.channels;
    dataset.height = options.height;
    dataset.width = options.width;
    dataset.class_names = classes;
    const auto image_bytes = static_cast<std::size_t>(dataset.image_size()), mask_bytes = static_cast<std::size_t>(dataset.mask_size());
    dataset.images.resize(pairs.size() * image_bytes);
    dataset.masks.resize(pairs.size() * mask_bytes);
    std::vector<std::string> problems(pairs.size());
    const auto count = static_cast<std::int64_t>(pairs.size());
    // Pairs in parallel, each into its own slots: the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto index = static_cast<std::size_t>(i);
        problems[index] = convert_pair(pairs[index], options, classes.size(), dataset.images.data() + index * image_bytes,
                                       dataset.masks.data() + index * mask_bytes);
    }
    std::size_t kept = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (!problems[i].empty()) {
            if (!options.skip_bad) throw Error(problems[i]);
            skipped_lines.push_back(std::move(problems[i]));
            continue;
        }
        if (kept != i) {
            std::memmove(dataset.images.data() + kept * image_bytes, dataset.images.data() + i * image_bytes, image_bytes);
            std::memmove(dataset.masks.data() + kept * mask_bytes, dataset.masks.data() + i * mask_bytes, mask_bytes);
        }
        ++kept;
    }
    if (kept == 0) throw Error(directory.string() + ": no readable image and mask pair (all " + std::to_string(pairs.size()) + " skipped)");
    dataset.images.resize(kept * image_bytes);
    dataset.masks.resize(kept * mask_bytes);
    dataset.count = static_cast<std::int64_t>(kept);
    if (!cache_file.empty()) detail::write_folder_cache(cache_file, key, dataset, skipped_lines);
    if (skipped) *skipped = std::move(skipped_lines);
    return dataset;
}

}  // namespace convnet
