// Image folders as torchvision's ImageFolder reads them (ROOT/train/<class>/*.png|jpg, ROOT/val/...,
// ROOT/test/...), converted once at load to the model's input bytes and cached. Not a file format
// of its own: the cache is a private copy, rebuilt whenever the folder or the options change.
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/image.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// How a split of an image folder becomes a Dataset. Every image is decoded (decode_image: PNG or
// JPEG, told apart by their bytes), fitted to channels×height×width by to_network_input (colour to
// grey by BT.601 luma or grey to RGB, alpha onto black, `resize` with PIL's antialiased bilinear
// filter; no invert, mean or std) and stored as bytes round(255·x), so 16-bit images keep 8 bits.
struct ImageFolderOptions {
    int channels = 1;  // 1 or 3, whatever the files hold (mixed grey and colour files are fine)
    int height = 28;
    int width = 28;
    ResizePolicy resize = ResizePolicy::stretch;
    // Without a val/ folder: the fraction of train/ held out as "val", per class (stratified), in
    // [0, 1). Each class's files are shuffled by a generator seeded from split_seed and the class
    // index; the first round(n·val_split) of them (at most n − 1) are held out. Both splits keep
    // the files' sorted order. With a val/ folder a non-zero val_split is refused.
    double val_split = 0.0;
    std::uint64_t split_seed = 0;
    // false: the first file (in load order) that cannot be read or decoded throws, naming it.
    // true: such files are left out and listed in read_image_folder's `skipped`.
    bool skip_bad = false;
    // Where converted splits are kept between runs; empty: no cache. Created when missing.
    std::filesystem::path cache_dir;
    // Per file, checked on its header before its pixels are allocated.
    ImageLimits limits;
};

// The file extensions read, compared in lower case: ImageFolder's IMG_EXTENSIONS that convnet can
// decode. Files with others of IMG_EXTENSIONS (.bmp .pgm .ppm .tif .tiff .webp) are bad files
// (refused, or skipped with skip_bad), so that no image ImageFolder would load is lost silently;
// any other file (.txt, .DS_Store, ...) is ignored, as ImageFolder ignores it.
inline constexpr std::string_view kImageFolderExtensions[] = {".png", ".jpg", ".jpeg"};

// torchvision's find_classes: the names of the subfolders of `directory` (links to folders count,
// hidden ones too), sorted as Python's sorted() sorts str, by Unicode code point (byte order of
// their UTF-8). Throws convnet::Error naming the folder when it is missing or holds none, or holds
// more than 256 (labels are bytes).
std::vector<std::string> find_classes(const std::filesystem::path& directory);

// Whether `root` looks like an image folder: root/train is a folder with at least one subfolder.
bool is_image_folder(const std::filesystem::path& root);

// The "train", "val" or "test" split of the image folder at `root`, labelled by find_classes of
// root/train, in ImageFolder's order: class by class, within a class its folders walked
// recursively (links followed) and sorted by path, their files by name. "val" is root/val when
// present, else the val_split part of train/. Throws convnet::Error naming the file or folder for:
// a missing split folder, classes that differ between train/, val/ and test/, a class with no
// image files (as ImageFolder, "Found no valid file"), a file that cannot be read or decoded
// (unless skip_bad; a class left with none is still refused), bad options. `skipped`, when given,
// receives one "PATH: reason" a file left out. With options.cache_dir the result is read from the
// cache when it matches the folder (every file's path, size and modification time) and the
// options, else built and written there atomically; a damaged cache is rebuilt.
Dataset read_image_folder(const std::filesystem::path& root, std::string_view split, const ImageFolderOptions& options,
                          std::vector<std::string>* skipped = nullptr);

// The cache file read_image_folder uses for (root, split, options): one per combination, named by
// a hash of the absolute root, the split and the options, overwritten when the folder changes.
std::filesystem::path image_folder_cache_file(const std::filesystem::path& root, std::string_view split, const ImageFolderOptions& options);

}  // namespace convnet
