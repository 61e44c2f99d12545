// Pictures of a network, composed in memory and written as PNG: an RGB canvas with a built-in
// 5x7 bitmap font for labels, a diverging blue–white–red colour map (zero is white), colour-bar
// legends, and the two sheets of `convnet visualize` (a layer's filters; every layer's outputs
// for one input). Not a plotting library: only what these sheets need.
#pragma once

#include <convnet/nn/network.h>
#include <convnet/core/tensor.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

struct Rgb {
    std::uint8_t red = 0, green = 0, blue = 0;
    bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

// ColorBrewer's RdBu, negative blue: t = −1 → (33, 102, 172), −0.5 → (146, 197, 222),
// 0 → white, 0.5 → (244, 165, 130), 1 → (178, 24, 43), linear in between; t outside [−1, 1] is
// clipped (a value past the scale shows as the end colour); NaN is black.
Rgb diverging_colour(float t);
// Grey from black (t = 0) to white (t = 1), clipped; NaN is red (grey has no room for it).
Rgb grey_colour(float t);

// An RGB picture with a white background. Drawing outside it is clipped, never an error.
class Picture {
public:
    // Throws convnet::Error for a size outside 1..16384 (what write_png accepts).
    Picture(std::int64_t width, std::int64_t height, Rgb background = kWhite);

    std::int64_t width() const { return width_; }
    std::int64_t height() const { return height_; }
    Rgb pixel(std::int64_t x, std::int64_t y) const;
    void set(std::int64_t x, std::int64_t y, Rgb colour);
    void fill(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height, Rgb colour);
    // A one-pixel outline just outside the rectangle (x, y, width, height).
    void frame(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height, Rgb colour);
    // `text` in the 5x7 font, each pixel a scale×scale square, top-left at (x, y); printable ASCII
    // only (anything else is drawn as '?'). Returns the width drawn, text_width(text, scale).
    std::int64_t text(std::int64_t x, std::int64_t y, std::string_view text, Rgb colour = kBlack, std::int64_t scale = 1);

    // The planes (3, height, width) that write_png takes.
    const std::vector<std::uint8_t>& planes() const { return planes_; }

private:
    std::int64_t width_, height_;
    std::vector<std::uint8_t> planes_;
};

// Each character advances 6 pixels (5 and a space) at scale 1; a line is 7 high, 9 apart.
std::int64_t text_width(std::string_view text, std::int64_t scale = 1);
inline constexpr std::int64_t kTextHeight = 7;
inline constexpr std::int64_t kLineHeight = 11;
// Whether the 5x7 glyph of `character` (printable ASCII) has its pixel at column x (0..4), row y (0..6).
bool glyph_pixel(char character, int x, int y);

// `value` in at most `digits` significant digits, as %g writes it ("0.412", "-1.3e-05").
std::string short_number(double value, int digits = 3);

// A horizontal colour bar `width` × 10 at (x, y) with ticks and numbers under it at its ends and
// middle (−limit, 0, +limit for the diverging map; 0 and `limit` in grey, or the labels given),
// and `caption` to its right. Returns the height used (bar, ticks and numbers).
enum class ColourMap { diverging, grey };
std::int64_t draw_colour_bar(Picture& picture, std::int64_t x, std::int64_t y, std::int64_t width, ColourMap map, double low, double high,
                             std::string_view caption);

// Writes `picture` as a PNG (write_png, atomically).
void write_picture(const std::filesystem::path& path, const Picture& picture);

// --- The filter sheet: every kernel of one convolution layer.
struct FilterSheetOptions {
    std::string title;        // first line, e.g. "conv1.weight of convnet1.safetensors"
    bool per_filter = false;  // each filter on its own scale (its largest |w|, written under it), not one shared scale
    bool colour = true;       // a filter that reads 3 channels drawn as one RGB tile
};

// `weight` of shape (O, I, KH, KW) (OIHW, a convolution's weight): one cell per filter, in order
// (its index above it), laid out in a grid about as wide as high and at most 960 pixels wide; a cell holds the filter's I
// kernels side by side (input channel 0 at the left), each KH×KW weights magnified to about 25
// pixels, in the diverging map on one scale for the whole layer: ±(the layer's largest |w|),
// with its legend. With I = 3 and `colour`, a filter is one RGB tile instead: each channel
// 0.5 + w / (2·limit), mid-grey for zero. Throws convnet::Error for a shape of another rank or
// values of another count.
Picture filter_sheet(std::span<const float> weight, const Shape& shape, const FilterSheetOptions& options);

// --- The activation sheet: every layer's output for one input.
struct LayerActivation {
    std::string name;  // "conv1", or "input"
    std::string type;  // "conv2d"
    Shape shape;       // one image's: (C, H, W) or (F)
    std::vector<float> values;
};

// The network's input and every layer's output for one image (C, H, W) or a batch of one, in
// layer order, from Network::observe (the reference layers); `logits` receives the network's
// output. The input is first, named "input".
std::vector<LayerActivation> observe_activations(const Network& network, const Tensor& image, Tensor& logits);

struct ActivationSheetOptions {
    std::string title;                      // first line
    std::vector<std::string> subtitle;      // further lines under it (the prediction)
    std::vector<std::string> output_names;  // names for the last layer's features (class names), if known
};

// One band per layer, top to bottom: its name, type and shape written on the left, then its maps
// (one tile per channel, magnified so that a map is about 48 pixels high, wrapped in balanced
// rows of at most 16 tiles and about 830 pixels) with a 1-pixel grey frame. Each layer has its own scale, shared by its maps and shown
// by its own legend: ±(the layer's largest |value|) in the diverging map, or for the input its
// range in grey. A vector (F) is a strip of cells; up to 16 features get cells with their names
// (output_names for the last layer, else indexes) and values written under them.
Picture activation_sheet(const std::vector<LayerActivation>& layers, const ActivationSheetOptions& options);

}  // namespace convnet
