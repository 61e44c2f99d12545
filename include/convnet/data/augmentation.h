// Data augmentation of training images (docs/DATA.md): what it does, and its command-line form.
#pragma once

#include <cstdint>
#include <string>

namespace convnet {

// Random changes to training images, applied per batch on the bytes, seeded and repeatable: an
// image's draws depend only on the seed, the epoch and the image's index in the dataset, so the
// same seed gives the same images whatever the thread count, and a resumed run draws what the
// unbroken one drew. Off by default.
struct Augmentation {
    // crop:N — pad N pixels of value 0 on every side, then cut out a random window of the image's
    // size (torchvision's RandomCrop(size, padding=N)); 0: none.
    int crop_padding = 0;
    // flip — mirror left to right with probability 1/2 (torchvision's RandomHorizontalFlip).
    bool flip = false;
    // alternating-flip — each image mirrored in every other epoch, starting from a random one, so
    // that over two epochs the network sees it both ways (airbench's trick for small data).
    bool alternating_flip = false;

    bool enabled() const { return crop_padding > 0 || flip || alternating_flip; }
    // "none", or the parse_augmentation form: "crop:4,flip".
    std::string describe() const;
};

// "none", or a comma-separated list of crop:N (N from 1 to 64), flip and alternating-flip
// ("flip,crop:2"). Throws convnet::Error naming the item and the forms expected, and for flip
// with alternating-flip (one excludes the other).
Augmentation parse_augmentation(const std::string& text);

// One image's draws of an Augmentation: a pure function of the seed, the epoch (1-based) and the
// image's index in its dataset, so that an image and its mask (or boxes) move together.
struct AugmentationDraw {
    int crop_y = 0, crop_x = 0;  // the window's offset in the padded image, 0 to 2·crop_padding
    bool mirror = false;         // left to right
};
AugmentationDraw draw_augmentation(const Augmentation& augmentation, std::uint64_t seed, int epoch, std::int64_t index);

// One height×width plane of bytes cropped and mirrored as `draw` says, with `padding` (the
// augmentation's crop_padding): target[y][x] = source[y + crop_y − padding][mirror(x) + crop_x −
// padding], and `fill` where that falls outside (0 for an image's bytes, 255 "ignore" for a mask).
void apply_draw(const std::uint8_t* source, std::uint8_t* target, int height, int width, int padding, const AugmentationDraw& draw,
                std::uint8_t fill);

// What evaluation does to each image besides taking it as it is: flip also evaluates it mirrored
// left to right and averages the two logits (test-time augmentation, as the airbench recipes
// use for networks trained with flips); twice the compute.
enum class TestTimeAugmentation { none, flip };
// "none" or "flip"; throws convnet::Error naming the expected forms.
TestTimeAugmentation parse_test_time_augmentation(const std::string& text);
const char* test_time_augmentation_name(TestTimeAugmentation augmentation);

}  // namespace convnet
