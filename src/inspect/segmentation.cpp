// The segmentation task's pictures and its networks at other sizes (segmentation.h).
#include <convnet/data/data.h>
#include <convnet/core/error.h>
#include <convnet/nn/loss.h>
#include <convnet/inspect/segmentation.h>

#include <algorithm>
#include <cstdio>

namespace convnet {

std::vector<std::array<std::uint8_t, 3>> class_palette() {
    std::vector<std::array<std::uint8_t, 3>> palette(256);
    for (int index = 0; index < 256; ++index) {
        int bits = index;
        std::array<std::uint8_t, 3> colour{};
        // Bit 0 of the index goes to red's bit 7, bit 1 to green's, bit 2 to blue's; then bits 3–5 to bit 6, ...
        for (int shift = 7; shift >= 0 && bits > 0; --shift, bits >>= 3)
            for (int c = 0; c < 3; ++c) colour[static_cast<std::size_t>(c)] |= static_cast<std::uint8_t>(((bits >> c) & 1) << shift);
        palette[static_cast<std::size_t>(index)] = colour;
    }
    return palette;
}

std::vector<std::uint8_t> class_map(const Tensor& logits, std::int64_t n) {
    const Shape& shape = logits.shape();
    if (shape.rank() != 4 || n < 0 || n >= shape[0]) throw Error("class_map: expected scores (N, K, H, W), got " + shape.to_string());
    const std::int64_t classes = shape[1], positions = shape[2] * shape[3];
    const float* image = logits.data() + n * classes * positions;
    std::vector<std::uint8_t> map(static_cast<std::size_t>(positions));
    std::vector<float> scores(static_cast<std::size_t>(classes));
    for (std::int64_t p = 0; p < positions; ++p) {
        for (std::int64_t k = 0; k < classes; ++k) scores[static_cast<std::size_t>(k)] = image[k * positions + p];
        map[static_cast<std::size_t>(p)] = static_cast<std::uint8_t>(std::min<std::int64_t>(argmax(scores.data(), classes), 254));
    }
    return map;
}

std::vector<double> class_shares(const std::vector<std::uint8_t>& classes, std::int64_t count) {
    std::vector<double> shares(static_cast<std::size_t>(count), 0.0);
    for (const std::uint8_t c : classes)
        if (c < count) shares[c] += 1.0;
    for (double& share : shares) share /= classes.empty() ? 1.0 : double(classes.size());
    return shares;
}

Picture overlay_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                        const std::vector<std::uint8_t>& classes, const std::vector<std::string>& names, std::int64_t scale) {
    const std::vector<std::array<std::uint8_t, 3>> palette = class_palette();
    const std::int64_t count = std::max<std::int64_t>(static_cast<std::int64_t>(names.size()),
                                                      classes.empty() ? 0 : *std::max_element(classes.begin(), classes.end()) + 1);
    const std::vector<double> shares = class_shares(classes, count);
    std::vector<std::string> legend;
    std::vector<std::int64_t> legend_class;
    for (std::int64_t c = 0; c < count; ++c) {
        if (shares[static_cast<std::size_t>(c)] == 0.0) continue;
        char share[32];
        std::snprintf(share, sizeof(share), " %.1f%%", 100.0 * shares[static_cast<std::size_t>(c)]);
        legend.push_back((c < static_cast<std::int64_t>(names.size()) ? names[static_cast<std::size_t>(c)] : std::to_string(c)) + share);
        legend_class.push_back(c);
    }
    constexpr std::int64_t kMargin = 4, kLine = 12, kSwatch = 9;
    std::int64_t legend_width = 0;
    for (const std::string& line : legend) legend_width = std::max(legend_width, kSwatch + 4 + text_width(line));
    Picture picture(std::max(width * scale, legend_width + 2 * kMargin),
                    height * scale + kMargin + kLine * static_cast<std::int64_t>(legend.size()) + kMargin);
    const std::int64_t plane = height * width;
    for (std::int64_t y = 0; y < height; ++y)
        for (std::int64_t x = 0; x < width; ++x) {
            const std::int64_t p = y * width + x;
            double rgb[3];
            for (int c = 0; c < 3; ++c) rgb[c] = 255.0 * std::clamp(double(image[(channels == 3 ? c : 0) * plane + p]), 0.0, 1.0);
            const std::uint8_t label = classes[static_cast<std::size_t>(p)];
            if (label != 0)  // the background shows the image itself
                for (int c = 0; c < 3; ++c) rgb[c] = 0.5 * rgb[c] + 0.5 * palette[label][static_cast<std::size_t>(c)];
            const Rgb colour{static_cast<std::uint8_t>(rgb[0] + 0.5), static_cast<std::uint8_t>(rgb[1] + 0.5),
                             static_cast<std::uint8_t>(rgb[2] + 0.5)};
            picture.fill(x * scale, y * scale, scale, scale, colour);
        }
    for (std::size_t i = 0; i < legend.size(); ++i) {
        const std::int64_t top = height * scale + kMargin + kLine * static_cast<std::int64_t>(i);
        const auto& colour = palette[static_cast<std::size_t>(legend_class[i])];
        picture.fill(kMargin, top, kSwatch, kSwatch, Rgb{colour[0], colour[1], colour[2]});
        picture.frame(kMargin, top, kSwatch, kSwatch, kBlack);
        picture.text(kMargin + kSwatch + 4, top + 1, legend[i]);
    }
    return picture;
}

Picture comparison_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                           const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& predicted,
                           const std::vector<std::string>& names, std::int64_t scale) {
    const std::vector<std::array<std::uint8_t, 3>> palette = class_palette();
    constexpr std::int64_t kMargin = 4, kCaption = 12, kLine = 12, kSwatch = 9;
    const std::int64_t panel = width * scale;
    // The legend: every class in the truth or the prediction (and "ignore" when the truth has it).
    std::vector<bool> shown(256, false);
    for (const auto* classes : {&truth, &predicted})
        for (const std::uint8_t c : *classes) shown[c] = true;
    std::vector<std::pair<std::uint8_t, std::string>> legend;
    for (int c = 0; c < 256; ++c)
        if (shown[static_cast<std::size_t>(c)])
            legend.emplace_back(static_cast<std::uint8_t>(c), c == kIgnoreIndex ? "ignore (255)"
                                                              : c < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(c)]
                                                                                                 : std::to_string(c));
    // The legend flows in columns under the three panels.
    std::int64_t column_width = 0;
    for (const auto& entry : legend) column_width = std::max(column_width, kSwatch + 4 + text_width(entry.second) + 8);
    const std::int64_t total_width = 3 * panel + 4 * kMargin;
    const std::int64_t columns = std::max<std::int64_t>(1, (total_width - 2 * kMargin) / std::max<std::int64_t>(column_width, 1));
    const std::int64_t rows = (static_cast<std::int64_t>(legend.size()) + columns - 1) / columns;
    Picture picture(std::max(total_width, column_width + 2 * kMargin), kMargin + kCaption + height * scale + kMargin + rows * kLine + kMargin);
    const char* captions[] = {"image", "truth", "prediction"};
    const std::int64_t plane = height * width;
    for (int p = 0; p < 3; ++p) {
        const std::int64_t left = kMargin + p * (panel + kMargin), top = kMargin + kCaption;
        picture.text(left, kMargin, captions[p]);
        for (std::int64_t y = 0; y < height; ++y)
            for (std::int64_t x = 0; x < width; ++x) {
                const std::int64_t i = y * width + x;
                Rgb colour;
                if (p == 0) {
                    double rgb[3];
                    for (int c = 0; c < 3; ++c) rgb[c] = 255.0 * std::clamp(double(image[(channels == 3 ? c : 0) * plane + i]), 0.0, 1.0);
                    colour = Rgb{static_cast<std::uint8_t>(rgb[0] + 0.5), static_cast<std::uint8_t>(rgb[1] + 0.5),
                                 static_cast<std::uint8_t>(rgb[2] + 0.5)};
                } else {
                    const auto& entry = palette[(p == 1 ? truth : predicted)[static_cast<std::size_t>(i)]];
                    colour = Rgb{entry[0], entry[1], entry[2]};
                }
                picture.fill(left + x * scale, top + y * scale, scale, scale, colour);
            }
    }
    for (std::size_t i = 0; i < legend.size(); ++i) {
        const std::int64_t column = static_cast<std::int64_t>(i) / rows, row = static_cast<std::int64_t>(i) % rows;
        const std::int64_t left = kMargin + column * column_width, top = kMargin + kCaption + height * scale + kMargin + row * kLine;
        const auto& colour = palette[legend[i].first];
        picture.fill(left, top, kSwatch, kSwatch, Rgb{colour[0], colour[1], colour[2]});
        picture.frame(left, top, kSwatch, kSwatch, kBlack);
        picture.text(left + kSwatch + 4, top + 1, legend[i].second);
    }
    return picture;
}

std::unique_ptr<Network> network_for_size(const Network& trained, std::int64_t height, std::int64_t width, std::int64_t& padded_height,
                                          std::int64_t& padded_width) {
    ModelSpec spec = parse_model(format_model(trained.layer_plans(), trained.sample_shape()), trained.source());
    std::string last_problem;
    for (std::int64_t multiple = 1; multiple <= 64; multiple *= 2) {
        padded_height = (height + multiple - 1) / multiple * multiple;
        padded_width = (width + multiple - 1) / multiple * multiple;
        spec.input = Shape{trained.sample_shape()[0], padded_height, padded_width};
        try {
            auto network = std::make_unique<Network>(spec);
            const Shape& output = network->layer_plan(network->layer_count() - 1).output;
            if (output.rank() != 4 || output[2] != padded_height || output[3] != padded_width) {
                last_problem = "at " + std::to_string(padded_width) + "x" + std::to_string(padded_height) + " it gives " + output.to_string();
                continue;
            }
            network->load_state_dict(trained.state_dict(), /*strict=*/true);
            return network;
        } catch (const Error& error) {
            last_problem = error.what();
        }
    }
    throw Error(trained.source() + ": cannot run on a " + std::to_string(width) + "x" + std::to_string(height) +
                " image, even padded to a multiple of 64 (" + last_problem + "); resize it to the model's input " +
                trained.sample_shape().to_string());
}

}  // namespace convnet
