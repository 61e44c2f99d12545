// Data augmentation of training images (docs/DATA.md): what it does, and its command-line form.
#pragma once

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

// What evaluation does to each image besides taking it as it is: flip also evaluates it mirrored
// left to right and averages the two logits (test-time augmentation, as the airbench recipes
// use for networks trained with flips); twice the compute.
enum class TestTimeAugmentation { none, flip };
// "none" or "flip"; throws convnet::Error naming the expected forms.
TestTimeAugmentation parse_test_time_augmentation(const std::string& text);
const char* test_time_augmentation_name(TestTimeAugmentation augmentation);

}  // namespace convnet
