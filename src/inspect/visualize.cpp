// Pictures of a network (visualize.h): the canvas, its font and colour maps, and the filter and
// activation sheets laid out on it.
#include <convnet/inspect/visualize.h>

#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include "font5x7.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace convnet {

namespace {

constexpr Rgb kFrameGrey{185, 185, 185};
constexpr Rgb kRuleGrey{225, 225, 225};
constexpr Rgb kTextGrey{90, 90, 90};
constexpr std::int64_t kMargin = 12;
constexpr std::int64_t kLargestSide = 16384;

std::uint8_t channel(double value) { return static_cast<std::uint8_t>(std::lround(std::clamp(value, 0.0, 255.0))); }

Rgb mix(Rgb a, Rgb b, double t) {
    return {channel(a.red + (b.red - a.red) * t), channel(a.green + (b.green - a.green) * t), channel(a.blue + (b.blue - a.blue) * t)};
}

// The largest |v|, or 1 when every value is 0 (a scale must not be 0); NaN is left out.
double largest_magnitude(std::span<const float> values) {
    double largest = 0.0;
    for (float value : values)
        if (std::isfinite(value)) largest = std::max(largest, static_cast<double>(std::fabs(value)));
    return largest > 0.0 ? largest : 1.0;
}

}  // namespace

Rgb diverging_colour(float t) {
    if (std::isnan(t)) return kBlack;
    static constexpr std::array<Rgb, 5> stops{{{33, 102, 172}, {146, 197, 222}, {255, 255, 255}, {244, 165, 130}, {178, 24, 43}}};
    const double position = (std::clamp(static_cast<double>(t), -1.0, 1.0) + 1.0) * 2.0;  // 0..4
    const int stop = std::min(3, static_cast<int>(position));
    return mix(stops[static_cast<std::size_t>(stop)], stops[static_cast<std::size_t>(stop) + 1], position - stop);
}

Rgb grey_colour(float t) {
    if (std::isnan(t)) return {255, 0, 0};
    const std::uint8_t level = channel(255.0 * std::clamp(static_cast<double>(t), 0.0, 1.0));
    return {level, level, level};
}

Picture::Picture(std::int64_t width, std::int64_t height, Rgb background) : width_(width), height_(height) {
    if (width < 1 || height < 1 || width > kLargestSide || height > kLargestSide)
        throw Error("a picture of " + std::to_string(width) + "x" + std::to_string(height) + " pixels is outside 1..16384 a side");
    planes_.resize(static_cast<std::size_t>(3 * width * height));
    fill(0, 0, width, height, background);
}

Rgb Picture::pixel(std::int64_t x, std::int64_t y) const {
    const std::size_t plane = static_cast<std::size_t>(width_ * height_), at = static_cast<std::size_t>(y * width_ + x);
    return {planes_[at], planes_[plane + at], planes_[2 * plane + at]};
}

void Picture::set(std::int64_t x, std::int64_t y, Rgb colour) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    const std::size_t plane = static_cast<std::size_t>(width_ * height_), at = static_cast<std::size_t>(y * width_ + x);
    planes_[at] = colour.red;
    planes_[plane + at] = colour.green;
    planes_[2 * plane + at] = colour.blue;
}

void Picture::fill(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height, Rgb colour) {
    for (std::int64_t row = std::max<std::int64_t>(y, 0); row < std::min(y + height, height_); ++row)
        for (std::int64_t column = std::max<std::int64_t>(x, 0); column < std::min(x + width, width_); ++column) set(column, row, colour);
}

void Picture::frame(std::int64_t x, std::int64_t y, std::int64_t width, std::int64_t height, Rgb colour) {
    fill(x - 1, y - 1, width + 2, 1, colour);
    fill(x - 1, y + height, width + 2, 1, colour);
    fill(x - 1, y, 1, height, colour);
    fill(x + width, y, 1, height, colour);
}

bool glyph_pixel(char character, int x, int y) {
    if (character < font5x7::kFirst || character > font5x7::kLast) character = '?';
    return font5x7::kGlyphs[character - font5x7::kFirst][y * font5x7::kWidth + x] == '#';
}

std::int64_t text_width(std::string_view text, std::int64_t scale) {
    return text.empty() ? 0 : static_cast<std::int64_t>(text.size()) * 6 * scale - scale;
}

std::int64_t Picture::text(std::int64_t x, std::int64_t y, std::string_view text, Rgb colour, std::int64_t scale) {
    for (std::size_t i = 0; i < text.size(); ++i)
        for (int row = 0; row < font5x7::kHeight; ++row)
            for (int column = 0; column < font5x7::kWidth; ++column)
                if (glyph_pixel(text[i], column, row))
                    fill(x + (static_cast<std::int64_t>(i) * 6 + column) * scale, y + row * scale, scale, scale, colour);
    return text_width(text, scale);
}

std::string short_number(double value, int digits) {
    if (value == 0.0) return "0";  // not "-0"
    char text[32];
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    return text;
}

std::int64_t draw_colour_bar(Picture& picture, std::int64_t x, std::int64_t y, std::int64_t width, ColourMap map, double low, double high,
                             std::string_view caption) {
    constexpr std::int64_t bar_height = 10;
    for (std::int64_t column = 0; column < width; ++column) {
        const double t = width > 1 ? static_cast<double>(column) / static_cast<double>(width - 1) : 0.5;  // 0..1 along the bar
        const Rgb colour =
            map == ColourMap::diverging ? diverging_colour(static_cast<float>(2.0 * t - 1.0)) : grey_colour(static_cast<float>(t));
        picture.fill(x + column, y, 1, bar_height, colour);
    }
    picture.frame(x, y, width, bar_height, kFrameGrey);
    const std::array<std::string, 3> labels{short_number(low), short_number((low + high) / 2.0), short_number(high)};
    const std::array<std::int64_t, 3> ticks{x, x + (width - 1) / 2, x + width - 1};
    const std::int64_t label_y = y + bar_height + 5;
    for (std::size_t i = 0; i < 3; ++i) {
        picture.fill(ticks[i], y + bar_height + 1, 1, 3, kBlack);
        const std::int64_t label_width = text_width(labels[i]);
        const std::int64_t left = i == 0 ? x : i == 2 ? x + width - label_width : ticks[i] - label_width / 2;
        picture.text(left, label_y, labels[i], kBlack);
    }
    if (!caption.empty()) picture.text(x + width + 10, y + 2, caption, kBlack);
    return label_y + kTextHeight - y;
}

void write_picture(const std::filesystem::path& path, const Picture& picture) {
    write_png(path, picture.planes(), 3, picture.height(), picture.width());
}

// --- Filters.

Picture filter_sheet(std::span<const float> weight, const Shape& shape, const FilterSheetOptions& options) {
    if (shape.rank() != 4 || static_cast<std::int64_t>(weight.size()) != shape.element_count() || shape.element_count() == 0)
        throw Error("filter_sheet: expected a convolution weight (out, in, kernel height, kernel width) and its values, got shape " +
                    shape.to_string() + " with " + std::to_string(weight.size()) + " values");
    const std::int64_t filters = shape[0], inputs = shape[1], kernel_height = shape[2], kernel_width = shape[3];
    const std::int64_t filter_size = inputs * kernel_height * kernel_width, kernel_size = kernel_height * kernel_width;
    const bool colour = options.colour && inputs == 3;
    // About 25 pixels a tile: a 5x5 kernel at 5 pixels a weight, a 3x3 at 8.
    const std::int64_t zoom =
        std::max<std::int64_t>(1, (24 + std::max(kernel_height, kernel_width) - 1) / std::max(kernel_height, kernel_width));
    const std::int64_t tile_width = kernel_width * zoom, tile_height = kernel_height * zoom, tile_gap = 3;
    const std::int64_t tiles = colour ? 1 : inputs;
    const double shared_limit = largest_magnitude(weight);
    std::vector<double> limits(static_cast<std::size_t>(filters), shared_limit);
    std::vector<std::string> limit_labels(static_cast<std::size_t>(filters));
    if (options.per_filter)
        for (std::int64_t o = 0; o < filters; ++o) {
            limits[static_cast<std::size_t>(o)] = largest_magnitude(weight.subspan(static_cast<std::size_t>(o * filter_size), filter_size));
            limit_labels[static_cast<std::size_t>(o)] = short_number(limits[static_cast<std::size_t>(o)], 2);
        }

    std::int64_t cell_width = tiles * tile_width + (tiles - 1) * tile_gap;
    for (std::int64_t o = 0; o < filters; ++o)
        cell_width = std::max({cell_width, text_width(std::to_string(o)), text_width(limit_labels[static_cast<std::size_t>(o)])});
    const std::int64_t cell_height = kLineHeight + tile_height + (options.per_filter ? kLineHeight + 1 : 0);
    const std::int64_t gap_x = 12, gap_y = 10, widest = 960;
    // A grid about as wide as high, balanced (16 cells: 4x4, not 5+5+5+1), at most `widest` wide.
    std::int64_t columns = static_cast<std::int64_t>(std::ceil(std::sqrt(static_cast<double>(filters * cell_height) / cell_width)));
    columns = std::clamp<std::int64_t>(columns, 1, std::max<std::int64_t>(1, (widest - 2 * kMargin + gap_x) / (cell_width + gap_x)));
    columns = std::min(columns, filters);
    const std::int64_t rows = (filters + columns - 1) / columns;
    columns = (filters + rows - 1) / rows;

    std::vector<std::string> lines;
    char line[256];
    std::snprintf(line, sizeof(line), "%lld filters (output channels) x %lld input channel%s, each %lldx%lld weights at %lld px a weight",
                  static_cast<long long>(filters), static_cast<long long>(inputs), inputs == 1 ? "" : "s",
                  static_cast<long long>(kernel_height), static_cast<long long>(kernel_width), static_cast<long long>(zoom));
    lines.emplace_back(line);
    if (colour)
        lines.emplace_back("one tile per filter: input channels 0, 1, 2 as red, green, blue; the number above is the filter's index");
    else if (inputs > 1)
        lines.emplace_back("per filter (index above): one tile per input channel, 0 to " + std::to_string(inputs - 1) + " left to right");
    else lines.emplace_back("one tile per filter; the number above is the filter's index");
    std::string caption;
    if (colour && options.per_filter) caption = "each channel: 0.5 + w / (2 max|w| of its filter), max|w| under the filter; mid-grey = 0";
    else if (colour) caption = "weight, each colour channel on this scale (mid-grey = 0), one scale for all filters";
    else if (options.per_filter) caption = "weight / max|w| of its filter (written under it); white = 0";
    else caption = "weight, one scale for every tile; white = 0";

    const std::int64_t bar_width = 200;
    std::int64_t header_width = std::max(text_width(options.title, 2), bar_width + 10 + text_width(caption));
    for (const std::string& text : lines) header_width = std::max(header_width, text_width(text));
    const std::int64_t grid_width = columns * cell_width + (columns - 1) * gap_x;
    const std::int64_t header_height =
        (options.title.empty() ? 0 : 2 * kLineHeight) + static_cast<std::int64_t>(lines.size()) * kLineHeight + 30;
    const std::int64_t width = 2 * kMargin + std::max(header_width, grid_width);
    const std::int64_t height = 2 * kMargin + header_height + rows * (cell_height + gap_y) - gap_y;
    Picture picture(width, height);

    std::int64_t y = kMargin;
    if (!options.title.empty()) {
        picture.text(kMargin, y, options.title, kBlack, 2);
        y += 2 * kLineHeight;
    }
    for (const std::string& text : lines) {
        picture.text(kMargin, y, text, kTextGrey);
        y += kLineHeight;
    }
    y += 3;
    if (colour)
        draw_colour_bar(picture, kMargin, y, bar_width, ColourMap::grey, options.per_filter ? -1.0 : -shared_limit,
                        options.per_filter ? 1.0 : shared_limit, caption);
    else
        draw_colour_bar(picture, kMargin, y, bar_width, ColourMap::diverging, options.per_filter ? -1.0 : -shared_limit,
                        options.per_filter ? 1.0 : shared_limit, caption);
    const std::int64_t grid_top = kMargin + header_height;

    for (std::int64_t o = 0; o < filters; ++o) {
        const std::int64_t cell_x = kMargin + (o % columns) * (cell_width + gap_x);
        const std::int64_t cell_y = grid_top + (o / columns) * (cell_height + gap_y);
        const double limit = limits[static_cast<std::size_t>(o)];
        picture.text(cell_x, cell_y, std::to_string(o), kTextGrey);
        const std::int64_t tile_y = cell_y + kLineHeight;
        const float* filter = weight.data() + o * filter_size;
        for (std::int64_t tile = 0; tile < tiles; ++tile) {
            const std::int64_t tile_x = cell_x + tile * (tile_width + tile_gap);
            for (std::int64_t ky = 0; ky < kernel_height; ++ky)
                for (std::int64_t kx = 0; kx < kernel_width; ++kx) {
                    Rgb colour_of_weight;
                    const std::int64_t at = ky * kernel_width + kx;
                    if (colour) {
                        auto level = [&](std::int64_t c) { return channel(255.0 * (0.5 + 0.5 * filter[c * kernel_size + at] / limit)); };
                        colour_of_weight = {level(0), level(1), level(2)};
                    } else {
                        colour_of_weight = diverging_colour(static_cast<float>(filter[tile * kernel_size + at] / limit));
                    }
                    picture.fill(tile_x + kx * zoom, tile_y + ky * zoom, zoom, zoom, colour_of_weight);
                }
            picture.frame(tile_x, tile_y, tile_width, tile_height, kFrameGrey);
        }
        if (options.per_filter) picture.text(cell_x, tile_y + tile_height + 3, limit_labels[static_cast<std::size_t>(o)], kTextGrey);
    }
    return picture;
}

// --- Activations.

std::vector<LayerActivation> observe_activations(const Network& network, const Tensor& image, Tensor& logits) {
    std::vector<LayerActivation> layers;
    const Shape& sample = network.sample_shape();
    layers.push_back({"input", "input", sample, std::vector<float>(image.data(), image.data() + image.size())});
    if (image.size() != sample.element_count())
        throw Error("observe_activations: one image of " + sample.to_string() + " expected, got " + image.shape().to_string());
    network.observe(image, logits, [&](std::size_t, const LayerPlan& plan, const Tensor& output) {
        std::vector<std::int64_t> dims(output.shape().dims().begin() + 1, output.shape().dims().end());  // without the batch
        layers.push_back({plan.name, plan.layer->type(), Shape(dims), std::vector<float>(output.data(), output.data() + output.size())});
    });
    return layers;
}

namespace {

// How one layer's band is laid out: maps (C, H, W) as tiles, or a vector (F) as cells.
struct Band {
    bool maps = false;
    std::int64_t count = 0;                                  // maps, or features
    std::int64_t tile_width = 0, tile_height = 0, zoom = 1;  // maps: one tile; vectors: one cell
    std::int64_t per_row = 1, rows = 1, gap_x = 4, gap_y = 4;
    bool labelled = false;  // a short vector: names and values under the cells
    std::int64_t width() const { return per_row * tile_width + (per_row - 1) * gap_x; }
    std::int64_t height() const { return rows * tile_height + (rows - 1) * gap_y + (labelled ? 2 * kLineHeight + 2 : 0); }
};

Band plan_band(const LayerActivation& layer, std::int64_t room) {
    Band band;
    const Shape& shape = layer.shape;
    if (shape.rank() == 3) {
        band.maps = true;
        band.count = shape[0];
        band.zoom = std::max<std::int64_t>(1, std::lround(48.0 / static_cast<double>(std::max(shape[1], shape[2]))));
        band.tile_width = shape[2] * band.zoom;
        band.tile_height = shape[1] * band.zoom;
        const std::int64_t fits = std::clamp<std::int64_t>((room + band.gap_x) / (band.tile_width + band.gap_x), 1, 16);
        band.per_row =
            (band.count + (band.count + fits - 1) / fits - 1) / ((band.count + fits - 1) / fits);  // balanced rows: 8 + 8, not 13 + 3
    } else {
        band.count = shape.element_count();
        band.labelled = band.count <= 16;
        band.tile_width = band.labelled ? 48 : 2;
        band.tile_height = band.labelled ? 16 : 10;
        band.gap_x = band.labelled ? 4 : 0;  // a long vector: one strip, wrapped, a frame around each row
        band.gap_y = 3;
        band.per_row = std::clamp<std::int64_t>(band.labelled ? band.count : std::min<std::int64_t>(392, room / 2), 1, band.count);
    }
    band.rows = (band.count + band.per_row - 1) / band.per_row;
    return band;
}

}  // namespace

Picture activation_sheet(const std::vector<LayerActivation>& layers, const ActivationSheetOptions& options) {
    if (layers.empty()) throw Error("activation_sheet: no layers to draw");
    const std::int64_t legend_width = 100, band_gap = 14, widest_maps = 16 * 52;
    std::int64_t label_width = legend_width;
    for (const LayerActivation& layer : layers)
        label_width = std::max({label_width, text_width(layer.name), text_width(layer.type), text_width(layer.shape.to_string())});
    label_width += 16;
    std::vector<Band> bands;
    std::int64_t maps_width = 0, bands_height = 0;
    for (const LayerActivation& layer : layers) {
        if (static_cast<std::int64_t>(layer.values.size()) != layer.shape.element_count() || layer.shape.element_count() == 0 ||
            (layer.shape.rank() != 1 && layer.shape.rank() != 3))
            throw Error("activation_sheet: layer " + layer.name + " has shape " + layer.shape.to_string() + " and " +
                        std::to_string(layer.values.size()) + " values; expected (C, H, W) or (F) and as many values");
        bands.push_back(plan_band(layer, widest_maps));
        maps_width = std::max(maps_width, bands.back().width());
        bands_height += std::max<std::int64_t>(3 * kLineHeight + 24, bands.back().height()) + band_gap;
    }
    std::int64_t header_width = text_width(options.title, 2);
    for (const std::string& line : options.subtitle) header_width = std::max(header_width, text_width(line));
    const std::string note = "each row: one layer's output, its maps on one colour scale (legend under its name); white = 0";
    header_width = std::max(header_width, text_width(note));
    const std::int64_t header_height =
        (options.title.empty() ? 0 : 2 * kLineHeight) + static_cast<std::int64_t>(options.subtitle.size() + 1) * kLineHeight + 8;
    Picture picture(2 * kMargin + std::max(header_width, label_width + maps_width), 2 * kMargin + header_height + bands_height - band_gap);

    std::int64_t y = kMargin;
    if (!options.title.empty()) {
        picture.text(kMargin, y, options.title, kBlack, 2);
        y += 2 * kLineHeight;
    }
    for (const std::string& line : options.subtitle) {
        picture.text(kMargin, y, line, kBlack);
        y += kLineHeight;
    }
    picture.text(kMargin, y, note, kTextGrey);
    y += kLineHeight + 8;

    for (std::size_t index = 0; index < layers.size(); ++index) {
        const LayerActivation& layer = layers[index];
        const Band& band = bands[index];
        const bool input = index == 0 && layer.type == "input";
        const auto [low_value, high_value] = std::minmax_element(layer.values.begin(), layer.values.end());
        double low = -largest_magnitude(layer.values), high = -low;
        if (input) {
            low = std::isfinite(*low_value) ? *low_value : 0.0;
            high = std::isfinite(*high_value) && *high_value > low ? *high_value : low + 1.0;
        }
        auto colour_of = [&](float value) {
            return input ? grey_colour(static_cast<float>((value - low) / (high - low)))
                         : diverging_colour(static_cast<float>(value / high));
        };
        if (index > 0) picture.fill(kMargin, y - band_gap / 2, picture.width() - 2 * kMargin, 1, kRuleGrey);
        picture.text(kMargin, y, layer.name, kBlack);
        picture.text(kMargin, y + kLineHeight, layer.type, kTextGrey);
        picture.text(kMargin, y + 2 * kLineHeight, layer.shape.to_string(), kBlack);
        draw_colour_bar(picture, kMargin, y + 3 * kLineHeight + 2, legend_width, input ? ColourMap::grey : ColourMap::diverging, low, high,
                        "");

        const std::int64_t left = kMargin + label_width;
        if (band.maps) {
            const std::int64_t map_height = layer.shape[1], map_width = layer.shape[2];
            for (std::int64_t c = 0; c < band.count; ++c) {
                const std::int64_t tile_x = left + (c % band.per_row) * (band.tile_width + band.gap_x);
                const std::int64_t tile_y = y + (c / band.per_row) * (band.tile_height + band.gap_y);
                const float* map = layer.values.data() + c * map_height * map_width;
                for (std::int64_t row = 0; row < map_height; ++row)
                    for (std::int64_t column = 0; column < map_width; ++column)
                        picture.fill(tile_x + column * band.zoom, tile_y + row * band.zoom, band.zoom, band.zoom,
                                     colour_of(map[row * map_width + column]));
                picture.frame(tile_x, tile_y, band.tile_width, band.tile_height, kFrameGrey);
            }
        } else {
            const bool last = index + 1 == layers.size();
            for (std::int64_t f = 0; f < band.count; ++f) {
                const std::int64_t cell_x = left + (f % band.per_row) * (band.tile_width + band.gap_x);
                const std::int64_t cell_y = y + (f / band.per_row) * (band.tile_height + band.gap_y);
                const float value = layer.values[static_cast<std::size_t>(f)];
                picture.fill(cell_x, cell_y, band.tile_width, band.tile_height, colour_of(value));
                if (band.labelled) {
                    picture.frame(cell_x, cell_y, band.tile_width, band.tile_height, kFrameGrey);
                    std::string name = last && f < static_cast<std::int64_t>(options.output_names.size())
                                           ? options.output_names[static_cast<std::size_t>(f)]
                                           : std::to_string(f);
                    if (name.size() > 8) name = name.substr(0, 7) + ".";
                    picture.text(cell_x, cell_y + band.tile_height + 3, name, kBlack);
                    picture.text(cell_x, cell_y + band.tile_height + 3 + kLineHeight, short_number(value), kTextGrey);
                }
            }
            if (!band.labelled)
                for (std::int64_t row = 0; row < band.rows; ++row) {
                    const std::int64_t cells = std::min(band.per_row, band.count - row * band.per_row);
                    picture.frame(left, y + row * (band.tile_height + band.gap_y), cells * band.tile_width, band.tile_height, kFrameGrey);
                }
        }
        y += std::max<std::int64_t>(3 * kLineHeight + 24, band.height()) + band_gap;
    }
    return picture;
}

}  // namespace convnet
