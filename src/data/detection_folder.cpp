// Detection folders (detection_folder.h): images paired with YOLO label files by stem, the label
// lines parsed and checked, the images converted to the model's input size with their boxes moved
// the same way, and cached as image folders are (folder_cache.h).
#include "folder_cache.h"
#include "../core/text_file.h"

#include <convnet/data/detection_folder.h>
#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>

namespace convnet {

namespace {

namespace fs = std::filesystem;
using detail::is_folder;

// One image of a split and its label file (which may be missing: no objects).
struct DetectionItem {
    std::string stem;
    fs::path image, labels;
    bool has_labels = false;
};

// The class names of ROOT/classes.txt, required: a label file's class numbers mean nothing without them.
std::vector<std::string> detection_classes(const fs::path& root) {
    const fs::path file = root / "classes.txt";
    std::error_code error;
    if (!fs::exists(file, error))
        throw Error(file.string() + ": not found; a detection folder needs one class name a line, line i naming class i of the label "
                                    "files (as Darknet's obj.names)");
    std::vector<std::string> names = read_class_names(root);
    if (names.size() > kMaxClasses)
        throw Error(file.string() + ": " + std::to_string(names.size()) + " classes; convnet reads at most " + std::to_string(kMaxClasses));
    return names;
}

// Every image of split/images with its label file in split/labels (or none); a label file without
// an image is refused.
std::vector<DetectionItem> list_detection_items(const fs::path& directory) {
    const fs::path images = directory / "images", labels = directory / "labels";
    for (const fs::path& folder : {images, labels})
        if (!is_folder(folder))
            throw Error(folder.string() + ": folder not found (a detection split holds images/ and labels/, the YOLO layout)");
    const std::map<std::string, fs::path> pictures = detail::files_by_stem(images, {".png", ".jpg", ".jpeg"}, "its label file");
    const std::map<std::string, fs::path> texts = detail::files_by_stem(labels, {".txt"}, "its label file");
    std::vector<DetectionItem> items;
    for (const auto& [stem, path] : pictures) {
        const auto text = texts.find(stem);
        const bool found = text != texts.end();
        items.push_back(DetectionItem{stem, path, found ? text->second : labels / (stem + ".txt"), found});
    }
    for (const auto& [stem, path] : texts)
        if (!pictures.contains(stem) && stem != "classes")  // LabelImg writes its class list beside the label files
            throw Error(path.string() + ": a label file without an image (expected " + (images / (stem + ".png")).string() +
                        ", .jpg or .jpeg)");
    if (items.empty()) throw Error(images.string() + ": no images (PNG or JPEG)");
    return items;
}

// One image into its slot and its objects fitted to the model's input: "" or the problem, naming the file.
std::string convert_detection_item(const DetectionItem& item, const ImageFolderOptions& options, int classes, std::uint8_t* image_out,
                                   std::vector<ObjectBox>& objects) {
    try {
        std::vector<ObjectBox> read;
        if (item.has_labels)
            read = parse_yolo_labels(detail::read_small_file(item.labels, kMaxLabelFileBytes, "a label file"), classes, item.labels.string());
        std::int64_t height = 0, width = 0;
        const std::string problem = detail::convert_picture(item.image, options, image_out, &height, &width);
        if (!problem.empty()) return problem;
        objects = fit_boxes(read, height, width, options.height, options.width, options.resize);
        return "";
    } catch (const Error& error) {
        return error.what();
    } catch (const std::exception& error) {  // the picture's own are caught by convert_picture
        return item.labels.string() + ": cannot read (" + error.what() + ")";
    }
}

std::uint64_t detection_fingerprint(std::string_view split, const ImageFolderOptions& options, const std::vector<std::string>& classes,
                                    const std::vector<DetectionItem>& items) {
    detail::Hash hash;
    detail::hash_folder_options(hash, split, options);
    hash.text("detection");
    hash.number(kMinimumVisibleFraction);  // the crop policy changes the boxes
    hash.number(classes.size());
    for (const std::string& name : classes) hash.text(name);
    hash.number(items.size());
    for (const DetectionItem& item : items)
        for (const fs::path& path : {item.image, item.labels}) {  // a missing label file's stamp is −1
            hash.text(path.filename().native());
            hash.file_stamp(path);
        }
    return hash.value();
}

// A label field as a number: what std::from_chars reads whole (decimal or exponent form, inf,
// nan), with an optional leading '+'; "" when it is one, else what it is instead.
std::string parse_yolo_number(std::string_view token, double& value) {
    if (token.starts_with('+')) {
        token.remove_prefix(1);
        if (token.starts_with('+') || token.starts_with('-')) return "is not a number";
    }
    const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (end != token.data() + token.size() || (error != std::errc() && error != std::errc::result_out_of_range)) return "is not a number";
    if (error == std::errc::result_out_of_range) return "is out of the range of a double";
    if (!std::isfinite(value)) return "is not a finite number";
    return "";
}

// A field as a message shows it: visible bytes, and not all of a huge one.
std::string shown_field(std::string_view token) {
    constexpr std::size_t kShown = 40;
    return "'" + detail::visible(token.substr(0, kShown)) + (token.size() > kShown ? "...'" : "'");
}

}  // namespace

bool is_detection_folder(const fs::path& root) { return is_folder(root / "train" / "images") && is_folder(root / "train" / "labels"); }

std::vector<ObjectBox> parse_yolo_labels(std::string_view text, int classes, const std::string& file) {
    static constexpr std::array<const char*, 5> kFieldNames = {"class", "cx", "cy", "w", "h"};
    std::vector<ObjectBox> objects;
    std::size_t line_number = 0;
    for (const std::string& line : detail::text_lines(text)) {
        ++line_number;
        const std::string where = file + ":" + std::to_string(line_number) + ": ";
        std::array<std::string_view, 5> fields;
        std::size_t field_count = 0;
        const std::string_view rest = line;
        for (std::size_t at = 0;;) {
            at = rest.find_first_not_of(" \t\f\v", at);
            if (at == std::string_view::npos) break;
            const std::size_t end = std::min(rest.find_first_of(" \t\f\v", at), rest.size());
            if (field_count < fields.size()) fields[field_count] = rest.substr(at, end - at);
            ++field_count;
            at = end;
        }
        if (field_count == 0) continue;  // a blank line
        if (field_count != fields.size())
            throw Error(where + "expected 5 numbers `class cx cy w h` (the box centre and size normalised to [0, 1]), found " +
                        std::to_string(field_count) + (field_count == 1 ? " field" : " fields"));
        std::array<double, 5> values{};
        for (std::size_t i = 0; i < fields.size(); ++i)
            if (const std::string fault = parse_yolo_number(fields[i], values[i]); !fault.empty())
                throw Error(where + kFieldNames[i] + " " + shown_field(fields[i]) + " " + fault +
                            " (expected `class cx cy w h`, e.g. `0 0.5 0.5 0.25 0.4`)");
        const double label = values[0], cx = values[1], cy = values[2], w = values[3], h = values[4];
        if (label != std::floor(label))
            throw Error(where + "class " + shown_field(fields[0]) + " is not an integer (a class index: line i of classes.txt is class i)");
        if (label < 0.0 || label >= static_cast<double>(classes))
            throw Error(where + "class " + shown_field(fields[0]) + " is not a class index: expected 0 to " + std::to_string(classes - 1) +
                        " (classes.txt names " + std::to_string(classes) + (classes == 1 ? " class)" : " classes)"));
        if (!(cx >= 0.0 && cx <= 1.0 && cy >= 0.0 && cy <= 1.0))
            throw Error(where + "the centre (cx " + shown_field(fields[1]) + ", cy " + shown_field(fields[2]) +
                        ") is outside [0, 1]: cx and cy are the box centre divided by the image's width and height (pixel "
                        "coordinates must be divided so)");
        for (std::size_t i = 3; i < 5; ++i)
            if (!(values[i] > 0.0 && values[i] <= 1.0))
                throw Error(where + kFieldNames[i] + " " + shown_field(fields[i]) + " is not a " + (i == 3 ? "width" : "height") +
                            " in (0, 1]: the box's size divided by the image's " + (i == 3 ? "width" : "height") +
                            (values[i] > 1.0 ? " (more than 1 is larger than the image: pixel units?)" : " (a box must have a size)"));
        if (objects.size() == kMaxObjectsPerImage)
            throw Error(where + "more than " + std::to_string(kMaxObjectsPerImage) + " objects in one image (the most convnet reads)");
        // Darknet's clipping of a box that reaches past the image.
        const auto clip = [](double value) { return static_cast<float>(std::clamp(value, 0.0, 1.0)); };
        const Box box{clip(cx - w / 2.0), clip(cy - h / 2.0), clip(cx + w / 2.0), clip(cy + h / 2.0)};
        if (!(box.x2 > box.x1 && box.y2 > box.y1))
            throw Error(where + "the box (w " + shown_field(fields[3]) + ", h " + shown_field(fields[4]) +
                        ") has no area left after clipping to the image in float precision");
        objects.push_back(ObjectBox{box, static_cast<int>(label)});
    }
    return objects;
}

Box network_input_window(std::int64_t image_height, std::int64_t image_width, std::int64_t height, std::int64_t width,
                         ResizePolicy policy) {
    if (image_height < 1 || image_width < 1 || height < 1 || width < 1)
        throw Error("network_input_window: sizes must be positive, got a " + std::to_string(image_width) + "x" +
                    std::to_string(image_height) + " picture for a " + std::to_string(width) + "x" + std::to_string(height) + " input");
    if (policy == ResizePolicy::stretch) return Box{0.0f, 0.0f, 1.0f, 1.0f};
    // to_network_input's center_crop (image.h, step 4): the size before cropping, and the window.
    std::int64_t resized_height = height, resized_width = width;
    if (height * image_width >= width * image_height) resized_width = std::max(width, height * image_width / image_height);
    else resized_height = std::max(height, width * image_height / image_width);
    const auto top = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_height - height) / 2.0));
    const auto left = static_cast<std::int64_t>(std::nearbyint(static_cast<double>(resized_width - width) / 2.0));
    const auto fraction = [](std::int64_t part, std::int64_t whole) { return static_cast<float>(double(part) / double(whole)); };
    return Box{fraction(left, resized_width), fraction(top, resized_height), fraction(left + width, resized_width),
               fraction(top + height, resized_height)};
}

std::optional<Box> crop_box(const Box& box, const Box& window, double minimum_visible) {
    const double window_width = window.width(), window_height = window.height();
    const double area = double(box.width()) * double(box.height());
    if (!(area > 0.0) || !(window_width > 0.0 && window_height > 0.0)) return std::nullopt;
    const double x1 = std::max(box.x1, window.x1), y1 = std::max(box.y1, window.y1);
    const double x2 = std::min(box.x2, window.x2), y2 = std::min(box.y2, window.y2);
    if (!(x2 > x1 && y2 > y1) || (x2 - x1) * (y2 - y1) < minimum_visible * area) return std::nullopt;
    const auto to_window = [](double value, double start, double size) {
        return static_cast<float>(std::clamp((value - start) / size, 0.0, 1.0));
    };
    const Box cropped{to_window(x1, window.x1, window_width), to_window(y1, window.y1, window_height), to_window(x2, window.x1, window_width),
                      to_window(y2, window.y1, window_height)};
    if (!(cropped.x2 > cropped.x1 && cropped.y2 > cropped.y1)) return std::nullopt;  // a sliver lost to float rounding
    return cropped;
}

std::vector<ObjectBox> fit_boxes(std::span<const ObjectBox> objects, std::int64_t image_height, std::int64_t image_width,
                                 std::int64_t height, std::int64_t width, ResizePolicy policy) {
    const Box window = network_input_window(image_height, image_width, height, width, policy);
    if (policy == ResizePolicy::stretch) return {objects.begin(), objects.end()};
    std::vector<ObjectBox> fitted;
    for (const ObjectBox& object : objects)
        if (const std::optional<Box> box = crop_box(object.box, window)) fitted.push_back(ObjectBox{*box, object.label});
    return fitted;
}

Dataset read_detection_folder(const fs::path& root, std::string_view split, const ImageFolderOptions& options,
                              std::vector<std::string>* skipped, std::vector<std::string>* warnings) {
    if (split != "train" && split != "val" && split != "test")
        throw Error("detection folder: no split \"" + std::string(split) + "\" (train, val or test)");
    if (options.channels != 1 && options.channels != 3)
        throw Error("detection folder: channels must be 1 (grey) or 3 (RGB), got " + std::to_string(options.channels));
    if (!(options.val_split >= 0.0 && options.val_split < 1.0))
        throw Error("detection folder: val_split must be in [0, 1), got " + std::to_string(options.val_split));
    const std::vector<std::string> classes = detection_classes(root);
    const bool has_val_folder = is_folder(root / "val");
    if (has_val_folder && options.val_split > 0.0)
        throw Error((root / "val").string() + ": exists, and val_split " + std::to_string(options.val_split) +
                    " asks for another validation set taken from train/; use one or the other");
    if (split == "val" && !has_val_folder && options.val_split == 0.0)
        throw Error(root.string() + ": has no val/ folder; set a val_split (--val-split F) to hold out part of train/ instead");
    const bool derived = !has_val_folder && options.val_split > 0.0 && split != "test";
    const fs::path directory = root / (derived ? "train" : std::string(split));
    if (!is_folder(directory)) throw Error(directory.string() + ": folder not found (the " + std::string(split) + " split)");
    std::vector<DetectionItem> items = list_detection_items(directory);
    if (derived) {
        // By image, as segmentation folders; both keep their order.
        const std::vector<bool> held = detail::held_out_by_image(items.size(), options.val_split, options.split_seed);
        std::vector<DetectionItem> kept;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (held[i] == (split == "val")) kept.push_back(std::move(items[i]));
        items = std::move(kept);
    }
    // From the listing, so that a read from the cache warns as the first read did.
    if (warnings != nullptr) {
        warnings->clear();
        for (const DetectionItem& item : items)
            if (!item.has_labels)
                warnings->push_back(item.labels.string() + ": not found; " + item.image.filename().string() +
                                    " has no objects (an empty label file says so without this warning)");
    }

    std::vector<std::string> skipped_lines;
    const std::uint64_t key = detection_fingerprint(split, options, classes, items);
    fs::path cache_file;
    if (!options.cache_dir.empty()) {
        cache_file = detail::folder_cache_file("detection-folder", root, split, options);
        if (std::optional<Dataset> cached = detail::read_folder_cache(cache_file, key, options, classes, TaskKind::detect, skipped_lines)) {
            if (skipped) *skipped = std::move(skipped_lines);
            return std::move(*cached);
        }
    }
    Dataset dataset;
    dataset.channels = options.channels;
    dataset.height = options.height;
    dataset.width = options.width;
    dataset.class_names = classes;
    const auto image_bytes = static_cast<std::size_t>(dataset.image_size());
    dataset.images.resize(items.size() * image_bytes);
    std::vector<std::vector<ObjectBox>> objects(items.size());
    std::vector<std::string> problems(items.size());
    const auto count = static_cast<std::int64_t>(items.size());
    const int class_count = static_cast<int>(classes.size());
    // Images in parallel, each into its own slots: the result does not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < count; ++i) {
        const auto index = static_cast<std::size_t>(i);
        problems[index] =
            convert_detection_item(items[index], options, class_count, dataset.images.data() + index * image_bytes, objects[index]);
    }
    std::size_t kept = 0;
    dataset.box_offsets.push_back(0);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!problems[i].empty()) {
            if (!options.skip_bad) throw Error(problems[i]);
            skipped_lines.push_back(std::move(problems[i]));
            continue;
        }
        if (kept != i) std::memmove(dataset.images.data() + kept * image_bytes, dataset.images.data() + i * image_bytes, image_bytes);
        dataset.boxes.insert(dataset.boxes.end(), objects[i].begin(), objects[i].end());
        dataset.box_offsets.push_back(static_cast<std::int64_t>(dataset.boxes.size()));
        ++kept;
    }
    if (kept == 0) throw Error(directory.string() + ": no readable image with its labels (all " + std::to_string(items.size()) + " skipped)");
    dataset.images.resize(kept * image_bytes);
    dataset.count = static_cast<std::int64_t>(kept);
    if (!cache_file.empty()) detail::write_folder_cache(cache_file, key, dataset, skipped_lines);
    if (skipped) *skipped = std::move(skipped_lines);
    return dataset;
}

}  // namespace convnet
