// Segmentation folders: images and their masks of class indices, in the layout Pascal VOC and
// Cityscapes users keep (docs/SEGMENTATION.md):
//   ROOT/classes.txt            one name a line, line i = class index i
//   ROOT/train/images/NAME.png|jpg, ROOT/train/masks/NAME.png   (the same stem)
//   ROOT/test/...  ROOT/val/... (optional)
// converted once to the model's input size, images and masks together, and cached.
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/image_folder.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// Whether `root` looks like a segmentation folder: root/train/images and root/train/masks are folders.
bool is_segmentation_folder(const std::filesystem::path& root);

// The "train", "val" or "test" split of the segmentation folder at `root`, pairs in the order of
// the images' file names. Each image is fitted to the options' channels×height×width as an image
// folder's are (to_network_input: antialiased bilinear, `resize` policy); its mask, which must be an
// 8-bit grey or palette PNG of the image's own size, is resized with the same geometry by nearest
// neighbour (as torchvision's Resize(interpolation=NEAREST) on masks), so class indices never blend.
// Mask values are class indices below the number of names in classes.txt, or 255 (kIgnoreIndex:
// no class, left out of the loss and the metrics). "val" is root/val when present, else the
// options' val_split share of train/ (by image, seeded). Throws convnet::Error naming the file and
// the fault: no classes.txt (or more than 255 names), a missing split folder, an image without a
// mask or a mask without an image, a mask of another size than its image, a colour (RGB) mask (with
// how to convert it), a 16-bit or alpha mask, a value ≥ the number of classes that is not 255 (with
// its pixel), a file that cannot be decoded (unless skip_bad: the pair is then left out and listed
// in `skipped`). With options.cache_dir the converted split is kept and reused as image folders' is.
Dataset read_segmentation_folder(const std::filesystem::path& root, std::string_view split, const ImageFolderOptions& options,
                                 std::vector<std::string>* skipped = nullptr);

// `mask` (height, width) resized to (output_height, output_width) by nearest neighbour with
// `policy`'s geometry (stretch, or center_crop as to_network_input crops): output pixel (y, x)
// takes source ⌊(y + top + 0.5)·height / resized_height⌋ (PIL's NEAREST), likewise for x.
std::vector<std::uint8_t> resize_mask(const std::vector<std::uint8_t>& mask, std::int64_t height, std::int64_t width,
                                      std::int64_t output_height, std::int64_t output_width, ResizePolicy policy = ResizePolicy::stretch);

}  // namespace convnet
