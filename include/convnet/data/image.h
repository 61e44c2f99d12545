// Images in and out of the library: PNG and JPEG files decoded as the samples they store
// (decode_image), turned into network inputs of any size (to_network_input: channels, PIL's
// antialiased bilinear resize, invert, per-channel normalisation), and tensors written as PNG.
#pragma once

#include <convnet/core/tensor.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

// A decoded picture: the samples its file stores, unconverted. Grey or RGB, with or without
// alpha, 8 or 16 bits a sample (PNGs under 8 bits are unpacked to 8: 1 → 255, 3 → 255, 15 → 255;
// palette entries are looked up, a tRNS chunk becomes alpha).
struct Image {
    std::string format;         // "PNG" or "JPEG"
    std::int64_t channels = 0;  // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
    std::int64_t height = 0, width = 0;
    std::uint32_t max_value = 255;       // the largest sample: 255 (8-bit) or 65535 (16-bit)
    std::vector<std::uint16_t> samples;  // (height, width, channels), interleaved as in the file
    bool indexed = false;                // decode_mask_png of a palette PNG: one channel of palette indices

    bool has_alpha() const { return channels == 2 || channels == 4; }
};

// What decode_image accepts, checked on the header before any pixel memory is allocated.
struct ImageLimits {
    std::int64_t largest_side = 16384;                         // pixels, width and height each
    std::int64_t largest_pixel_count = std::int64_t{1} << 26;  // 67,108,864 (64 Mpixel)
};

// Decodes a PNG or a JPEG, told apart by their first bytes (not by the file name), with libpng and
// libjpeg-turbo, without gamma, colour-profile or EXIF-orientation handling (as PIL's Image.open).
// Throws convnet::Error naming the file and the problem when the file is neither, is damaged or
// truncated, has an unsupported kind of data (a CMYK or 12-bit JPEG), or its header claims a size
// outside `limits`, or more pixels than its bytes can hold: a PNG's rows need more bytes than 1,032
// times the file (deflate's largest expansion), a JPEG more than 2,048 pixels per byte of the file
// (Huffman coding spends at least one bit per 8×8 block, and subsampling stretches a block over at
// most 4 times as many pixels; an arithmetic-coded JPEG that beats this is refused too).
Image decode_image(const std::filesystem::path& path, const ImageLimits& limits = {});

// Decodes a segmentation mask: a PNG whose samples are kept as stored, and whose palette indices
// (a palette PNG, as Pascal VOC's masks) are kept as one channel instead of being looked up
// (PIL's Image.open keeps mode "P" and numpy gives the indices); `indexed` says which. The caller
// checks the channels and depth. Throws convnet::Error as decode_image does, and for a file that is
// not a PNG.
Image decode_mask_png(const std::filesystem::path& path, const ImageLimits& limits = {});

// How a picture of another shape is fitted to the network's height×width.
enum class ResizePolicy {
    stretch,      // resized to height×width, the aspect ratio changes
    center_crop,  // scaled to cover height×width, aspect kept, then cropped in the middle:
                  // torchvision's Resize(int) + CenterCrop for a square input
};

// "stretch" or "center-crop", as the CLI takes them.
std::string_view resize_policy_name(ResizePolicy policy);
std::optional<ResizePolicy> resize_policy_from_name(std::string_view name);

// The steps between a decoded picture and the network's input, as parameters so that they can be
// stored with trained weights. The defaults give what read_png gives for an image of the right size.
struct Preprocessing {
    ResizePolicy resize = ResizePolicy::stretch;
    // x → 1 − x after scaling to [0, 1], for dark objects photographed on white (the training
    // images are light on black); transparency is then composited onto white, so that it still
    // reaches the network as 0.
    bool invert = false;
    // Per channel of the network input, applied last: (x − mean) / std, as
    // torchvision's Normalize. Empty: none. One value applies to every channel.
    std::vector<float> mean{}, std{};
};

// `image` as a (1, channels, height, width) network input, in this order:
//   1. transparency composited onto black (white with `invert`): (v·a + background·(max − a)) / max, rounded;
//   2. colour to grey by ITU-R BT.601 luma of the stored values, (19595 R + 38470 G + 7471 B +
//      32768) >> 16 (PIL's convert('L') in fixed point), or grey to RGB by repeating it;
//   3. scaling to [0, 1]: v / max_value (v/255 and 257·v/65535 are the same float);
//   4. resizing by `policy` with PIL's antialiased bilinear filter (resize_bilinear), for
//      center_crop to (H', W') with H' = height, W' = ⌊height·image.width / image.height⌋ when
//      height/image.height ≥ width/image.width (else the same with the roles swapped), then the
//      height×width window at top = round((H' − height) / 2), left = round((W' − width) / 2), halves to
//      even (torchvision's center_crop);
//   5. invert, then mean and standard deviation.
// Throws convnet::Error for channels other than 1 or 3, a size outside 1..16384, or mean/std
// counts that are neither 0, 1 nor `channels` (or a std of 0).
Tensor to_network_input(const Image& image, std::int64_t channels, std::int64_t height, std::int64_t width,
                        const Preprocessing& preprocessing = {});

// Resamples planes (channels, height, width) to (channels, output_height, output_width) as
// Pillow's Image.resize(..., Image.BILINEAR) does, which torchvision's Resize uses for PIL images:
// separable, rows first, with the triangle filter max(0, 1 − |t|) stretched by the reduction
// factor when shrinking (antialiasing). For an output column x of a row of `width` samples:
//   scale = width / output_width,  s = max(scale, 1),  centre = (x + 0.5)·scale,
//   inputs i from trunc(centre − s + 0.5) to trunc(centre + s + 0.5) − 1, clipped to [0, width),
//   weight(i) = max(0, 1 − |i + 0.5 − centre| / s), divided by their sum.
// Pillow rounds 8-bit images to integers after each pass; this does not (float arithmetic
// throughout), so values differ from Pillow's by at most about 1/255. Same size in and out: the
// same values.
std::vector<float> resize_bilinear(std::span<const float> planes, std::int64_t channels, std::int64_t height, std::int64_t width,
                                   std::int64_t output_height, std::int64_t output_width);

// Reads a PNG of exactly height×width as `channels` planes (1: grey, 3: RGB), scaled to [0, 1]
// like the training data: to_network_input of decode_image with the default preprocessing (the
// samples the file stores, value / 255 or / 65535; colour to grey by BT.601 luma; transparency
// composited onto black). Throws naming the file when it is not a PNG, is damaged, or has
// another size (checked on the header, before the pixels are read).
Tensor read_png(const std::filesystem::path& path, std::int64_t channels, std::int64_t height, std::int64_t width);

// Whether every value of `image` lies within `tolerance` of every other: a blank (or wholly
// transparent) picture, worth a warning before the network is asked about it.
bool nearly_uniform(const Tensor& image, float tolerance = 2.0f / 255.0f);

// 8-bit pixels, planes (channels, height, width) with 1 (grey) or 3 (RGB) channels, as the bytes
// of a PNG file (for pictures embedded in other files). Throws convnet::Error, naming `what`, for
// a size outside 1..16384 or a pixel count that does not match.
std::string encode_png(const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height, std::int64_t width,
                       const std::string& what = "PNG");

// 8-bit palette indices (height, width) with their RGB colours (at most 256) as the bytes of a
// palette PNG, which image viewers show in colour and readers of masks (PIL, decode_mask_png) read
// back as the indices. Throws convnet::Error, naming `what`, for a bad size or an index past the palette.
std::string encode_indexed_png(const std::vector<std::uint8_t>& indices, std::int64_t height, std::int64_t width,
                               const std::vector<std::array<std::uint8_t, 3>>& palette, const std::string& what = "PNG");

// encode_png's bytes written to `path`, atomically.
void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& planes, std::int64_t channels, std::int64_t height,
               std::int64_t width);

}  // namespace convnet
