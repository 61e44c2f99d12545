// Labelled image datasets: IDX files (MNIST, Fashion-MNIST), with channels; reading, checking,
// and the class names. Images stay as bytes; conversion to floats happens per batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// Labels are bytes: a dataset has at most this many classes.
inline constexpr std::size_t kMaxClasses = 256;

// The mask value of a pixel whose class is not known, which the loss and the metrics leave out
// (as Pascal VOC's and Cityscapes' 255; torch.nn.CrossEntropyLoss(ignore_index=255)). So a
// segmentation set has at most 255 classes.
inline constexpr std::uint8_t kIgnoreIndex = 255;

// What a dataset's targets are, and so which task (task.h) trains and judges a network on it.
enum class TaskKind {
    classify,  // one class per image: Dataset::labels
    segment,   // one class per pixel: Dataset::masks
    detect,    // a list of boxes per image: Dataset::boxes
};

// A rectangle by its corners, as torchvision.ops takes boxes ("xyxy"): x1 <= x2, y1 <= y2, x
// across, y down. In a Dataset and in Targets the unit is the image's width and height (0 to 1,
// so that resizing an image leaves its boxes as they are); detections are in input pixels.
struct Box {
    float x1 = 0.0f, y1 = 0.0f, x2 = 0.0f, y2 = 0.0f;
    float width() const { return x2 - x1; }
    float height() const { return y2 - y1; }
};

// One object in an image: its box and its class (an index into the dataset's class names).
struct ObjectBox {
    Box box;
    int label = 0;
};

// The share of a box's area that must stay inside the image after a crop (an augmentation's, or a
// center_crop resize's) for the box to be kept, clipped to the image; a box with less in sight is
// dropped, the object then being mostly out of the picture. (Ultralytics' random_perspective keeps
// boxes with 10% of their area; convnet keeps fewer slivers, whose class the network cannot see.)
inline constexpr double kMinimumVisibleFraction = 0.4;

struct Dataset {
    std::vector<std::uint8_t> images;  // (count, channels, height, width), planes per image, 0..255
    std::vector<std::uint8_t> labels;  // (count): at most 256 classes; empty for segmentation and detection
    // Segmentation (task.h): (count, height, width) class indices per pixel, kIgnoreIndex where no
    // class is known; empty for classification.
    std::vector<std::uint8_t> masks;
    // Detection (task.h): the objects of every image, image after image; image n's are
    // boxes[box_offsets[n], box_offsets[n + 1]) (an image may have none). box_offsets has count + 1
    // entries for a detection set and is empty otherwise.
    std::vector<ObjectBox> boxes;
    std::vector<std::int64_t> box_offsets;
    std::int64_t count = 0;
    int channels = 1;  // 1 (grey: IDX files) or 3 (RGB: CIFAR files, image folders)
    int height = 0;
    int width = 0;
    std::vector<std::string> class_names;  // index = label
    int num_classes() const { return static_cast<int>(class_names.size()); }
    std::int64_t image_size() const { return std::int64_t{channels} * height * width; }  // bytes per image
    const std::uint8_t* image(std::int64_t index) const { return images.data() + index * image_size(); }
    std::int64_t mask_size() const { return std::int64_t{height} * width; }  // bytes per mask
    const std::uint8_t* mask(std::int64_t index) const { return masks.data() + index * mask_size(); }
    bool has_masks() const { return !masks.empty(); }
    bool has_boxes() const { return !box_offsets.empty(); }
    std::span<const ObjectBox> objects(std::int64_t index) const {
        return std::span(boxes).subspan(static_cast<std::size_t>(box_offsets[static_cast<std::size_t>(index)]),
                                        static_cast<std::size_t>(box_offsets[static_cast<std::size_t>(index) + 1] -
                                                                 box_offsets[static_cast<std::size_t>(index)]));
    }
    TaskKind task() const { return has_boxes() ? TaskKind::detect : has_masks() ? TaskKind::segment : TaskKind::classify; }
};

enum class Split { train, test };

// A 64-bit FNV-1a digest of a dataset's shape, labels, every image byte, and its masks or its
// boxes (their corners, classes and grouping by image): what a checkpoint records of its training
// data, so that a run resumed on other data is refused.
std::uint64_t dataset_fingerprint(const Dataset& dataset);

// Reads an IDX image file (magic 0x00000803) and its label file (0x00000801), raw or gzip.
// Throws convnet::Error naming the file and the fault: wrong magic, truncated data, counts that
// disagree, a label outside 0..255 classes, or a header that claims more than fits the file.
Dataset read_idx_pair(const std::filesystem::path& images_file, const std::filesystem::path& labels_file);

// The class names of a dataset folder: classes.txt there (one name a line), else "0".."9".
std::vector<std::string> read_class_names(const std::filesystem::path& directory);

// Loads the train or test split of a dataset folder holding the official file names
// (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...; each raw or with .gz).
// Class names come from classes.txt in that folder (one a line) when present, else "0".."9".
// A missing folder or file gives an error saying how to get the data (`make data`).
Dataset load_split(const std::filesystem::path& directory, Split split);

}  // namespace convnet
