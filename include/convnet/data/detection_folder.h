// Detection folders: images and their objects' boxes in the Darknet/YOLO layout that detection
// users already keep (docs/DETECTION.md, "The data: the YOLO layout"):
//   ROOT/classes.txt            one name a line, line i = class index i
//   ROOT/train/images/NAME.png|jpg|jpeg, ROOT/train/labels/NAME.txt   (the same stem)
//   ROOT/test/...  ROOT/val/... (optional)
// converted once to the model's input size, the boxes moved with their images, and cached. Not
// the detector itself (the task, the head and the loss are elsewhere).
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/image_folder.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// The most objects one image's label file may list: more is refused (a bound on what a damaged
// or mistaken file can make the reader allocate). Crowded sets (SKU-110K, CrowdHuman) stay below.
inline constexpr std::size_t kMaxObjectsPerImage = 1000;

// The largest label file read, in bytes (1000 objects at 1 KiB a line).
inline constexpr std::uintmax_t kMaxLabelFileBytes = 1u << 20;

// Whether `root` looks like a detection folder: root/train/images and root/train/labels are folders.
bool is_detection_folder(const std::filesystem::path& root);

// The objects of one YOLO label file's `text`, one a line: `class cx cy w h`, separated by spaces
// or tabs, the centre and size normalised to [0, 1] by the image's width and height. Each becomes
// an ObjectBox with corners x1 = cx − w/2, x2 = cx + w/2 (likewise y) clipped to [0, 1], as
// Darknet clips a box that extends past the image. Blank lines, leading and trailing spaces, CRLF
// or lone-CR line ends and a UTF-8 byte-order mark are fine; an empty text has no objects.
// Throws convnet::Error "FILE:LINE: ..." (`file` names the text) naming what was expected for:
//   a line of other than 5 fields, or a field that is not a number;
//   a non-finite value (nan, inf);
//   a class that is not an integer, or is negative or ≥ `classes` (the names in classes.txt);
//   a centre outside [0, 1] (pixel coordinates, not normalised);
//   a width or height ≤ 0, or > 1 (larger than the image: pixel units; Ultralytics refuses these too);
//   a box with no area left after clipping and rounding to float;
//   more than kMaxObjectsPerImage objects.
std::vector<ObjectBox> parse_yolo_labels(std::string_view text, int classes, const std::string& file);

// Where to_network_input's output lies in a picture of image_height×image_width, as a box in the
// picture's normalised coordinates: (0, 0, 1, 1) under stretch; under center_crop the window of
// the resized picture that is kept (image.h, step 4). A point u of the output (normalised) is
// picture point window.x1 + u·window.width(), likewise for y: how predictions map back.
Box network_input_window(std::int64_t image_height, std::int64_t image_width, std::int64_t height, std::int64_t width,
                         ResizePolicy policy);

// `box` (normalised to its picture) seen through `window` (a rectangle in the same coordinates,
// which may reach past the picture): the part inside the window, normalised to the window, or
// nullopt when the visible part's area is less than `minimum_visible` of the box's own area (or
// the box has no area): data.h's kMinimumVisibleFraction by default, the rule for every crop of boxes.
std::optional<Box> crop_box(const Box& box, const Box& window, double minimum_visible = kMinimumVisibleFraction);

// The objects of a picture of image_height×image_width after to_network_input fits it to
// height×width by `policy`: under stretch the same boxes (normalised coordinates do not change);
// under center_crop each box through crop_box with network_input_window, order kept.
std::vector<ObjectBox> fit_boxes(std::span<const ObjectBox> objects, std::int64_t image_height, std::int64_t image_width,
                                 std::int64_t height, std::int64_t width, ResizePolicy policy);

// The "train", "val" or "test" split of the detection folder at `root`, in the order of the
// images' file names, with boxes and box_offsets filled (labels and masks empty). Each image is
// fitted to the options' channels×height×width as an image folder's are (to_network_input with
// the `resize` policy) and its boxes with it (fit_boxes). An image whose label file is missing has
// no objects and gets a line in `warnings` (an empty file: no objects, no warning). A file
// labels/classes.txt (where LabelImg writes its class list) is not a label file unless an image
// is named classes. "val" is root/val when present, else the options' val_split share of train/
// (by image, seeded, as segmentation folders do). Throws convnet::Error naming the file and the
// fault: no classes.txt (or more than 256 names), a missing split folder, a label file without
// an image, two images of one stem, a label file that parse_yolo_labels refuses (FILE:LINE) or
// over kMaxLabelFileBytes, a picture that cannot be decoded (unless skip_bad: the image is then
// left out and listed in `skipped`, and so is one whose label file is refused). With
// options.cache_dir the converted split is kept and reused as image folders' is.
Dataset read_detection_folder(const std::filesystem::path& root, std::string_view split, const ImageFolderOptions& options,
                              std::vector<std::string>* skipped = nullptr, std::vector<std::string>* warnings = nullptr);

}  // namespace convnet
