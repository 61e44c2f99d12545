// The detection task's boxes on the picture and its drawings (detection_picture.h).
#include <convnet/data/detection_folder.h>
#include <convnet/inspect/detection_picture.h>
#include <convnet/core/error.h>
#include <convnet/inspect/segmentation.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace convnet {

namespace {

constexpr Rgb kDetectionRim{255, 255, 255};

// The picture's pixels, (channels, height, width) in [0, 1], enlarged `scale` times.
Picture detection_enlarged_image(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width, std::int64_t scale) {
    Picture picture(width * scale, height * scale, kBlack);
    const std::int64_t plane = height * width;
    for (std::int64_t y = 0; y < height; ++y)
        for (std::int64_t x = 0; x < width; ++x) {
            std::uint8_t rgb[3];
            for (int c = 0; c < 3; ++c)
                rgb[c] = static_cast<std::uint8_t>(
                    255.0 * std::clamp(double(image[(channels == 3 ? c : 0) * plane + y * width + x]), 0.0, 1.0) + 0.5);
            picture.fill(x * scale, y * scale, scale, scale, Rgb{rgb[0], rgb[1], rgb[2]});
        }
    return picture;
}

// The outline's width and the font's scale for a picture of this size: thin lines and the plain
// 5x7 font up to about 500 pixels, then growing with it (Ultralytics' line width is 0.3% of the mean side).
std::int64_t detection_line_width(const Picture& picture) {
    return std::max<std::int64_t>(2, std::llround(0.003 * double(picture.width() + picture.height()) / 2.0));
}
std::int64_t detection_font_scale(const Picture& picture) {
    return std::max<std::int64_t>(1, std::min(picture.width(), picture.height()) / 400 + 1);
}

// One box outlined inside its edges (in picture pixels) and its tag.
void detection_draw_box(Picture& picture, const Box& box, Rgb colour, const std::string& tag, std::int64_t scale) {
    if (!(std::isfinite(box.x1) && std::isfinite(box.y1) && std::isfinite(box.x2) && std::isfinite(box.y2))) return;  // NaN weights
    const auto at = [&](float value) {
        return static_cast<std::int64_t>(std::llround(std::clamp(double(value) * double(scale), -1e9, 1e9)));
    };
    if (at(box.x2) < 0 || at(box.y2) < 0 || at(box.x1) >= picture.width() || at(box.y1) >= picture.height()) return;  // out of sight
    // Clipped to the picture, at least a pixel each way (a box of no area shows as a point).
    const std::int64_t left = std::clamp<std::int64_t>(at(box.x1), 0, picture.width() - 1);
    const std::int64_t top = std::clamp<std::int64_t>(at(box.y1), 0, picture.height() - 1);
    const std::int64_t right = std::clamp<std::int64_t>(at(box.x2), left + 1, picture.width());
    const std::int64_t bottom = std::clamp<std::int64_t>(at(box.y2), top + 1, picture.height());
    const std::int64_t line = std::min({detection_line_width(picture), (right - left + 1) / 2, (bottom - top + 1) / 2});
    // A one-pixel light rim just outside, so that the palette's dark colours show on dark pictures.
    picture.frame(left, top, right - left, bottom - top, kDetectionRim);
    picture.fill(left, top, right - left, line, colour);
    picture.fill(left, bottom - line, right - left, line, colour);
    picture.fill(left, top, line, bottom - top, colour);
    picture.fill(right - line, top, line, bottom - top, colour);
    if (tag.empty()) return;
    // The tag: the text on the box's colour, above the box or, without room there, inside its top.
    const std::int64_t font = detection_font_scale(picture), padding = font;
    const std::int64_t tag_width = text_width(tag, font) + 2 * padding, tag_height = kTextHeight * font + 2 * padding;
    const std::int64_t tag_left = std::max<std::int64_t>(0, std::min(left, picture.width() - tag_width));
    const std::int64_t tag_top = top - tag_height >= 0 ? top - tag_height : top;
    picture.fill(tag_left, tag_top, tag_width, tag_height, colour);
    // BT.601 luma: white text on dark colours, black on light ones.
    const double luma = 0.299 * colour.red + 0.587 * colour.green + 0.114 * colour.blue;
    picture.text(tag_left + padding, tag_top + padding, tag, luma < 140.0 ? kWhite : kBlack, font);
}

// Copies `from` into `to` with its top-left corner at (x, y).
void detection_paste(Picture& to, const Picture& from, std::int64_t x, std::int64_t y) {
    for (std::int64_t row = 0; row < from.height(); ++row)
        for (std::int64_t column = 0; column < from.width(); ++column) to.set(x + column, y + row, from.pixel(column, row));
}

}  // namespace

std::string detection_class_name(int label, const std::vector<std::string>& names) {
    return label >= 0 && label < static_cast<int>(names.size()) ? names[static_cast<std::size_t>(label)] : std::to_string(label);
}

Box box_in_picture(const Box& box, std::int64_t height, std::int64_t width, std::int64_t image_height, std::int64_t image_width,
                   ResizePolicy policy) {
    const Box window = network_input_window(image_height, image_width, height, width, policy);  // checks the sizes
    const auto along = [](float value, std::int64_t input, float start, float end, std::int64_t picture) {
        const double normalised = double(start) + double(value) / double(input) * (double(end) - double(start));
        return static_cast<float>(std::clamp(normalised * double(picture), 0.0, double(picture)));
    };
    return Box{along(box.x1, width, window.x1, window.x2, image_width), along(box.y1, height, window.y1, window.y2, image_height),
               along(box.x2, width, window.x1, window.x2, image_width), along(box.y2, height, window.y1, window.y2, image_height)};
}

std::vector<Detection> detections_in_picture(std::span<const Detection> detections, std::int64_t height, std::int64_t width,
                                             std::int64_t image_height, std::int64_t image_width, ResizePolicy policy) {
    std::vector<Detection> mapped(detections.begin(), detections.end());
    for (Detection& detection : mapped) detection.box = box_in_picture(detection.box, height, width, image_height, image_width, policy);
    return mapped;
}

Rgb detection_colour(int label) {
    static const std::vector<std::array<std::uint8_t, 3>> palette = class_palette();
    const auto& entry = palette[static_cast<std::size_t>(1 + std::clamp(label, 0, 254))];
    return Rgb{entry[0], entry[1], entry[2]};
}

Picture detection_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                          std::span<const Detection> detections, const std::vector<std::string>& names, std::int64_t scale) {
    if (scale < 1) throw Error("detection_picture: scale must be at least 1, got " + std::to_string(scale));
    Picture picture = detection_enlarged_image(image, channels, height, width, scale);
    // By increasing score, so that the best box and its tag are on top.
    for (auto detection = detections.rbegin(); detection != detections.rend(); ++detection) {
        char score[32];
        std::snprintf(score, sizeof(score), " %.2f", double(detection->score));
        detection_draw_box(picture, detection->box, detection_colour(detection->label),
                           detection_class_name(detection->label, names) + score, scale);
    }
    return picture;
}

Picture detection_comparison_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                                     std::span<const ObjectBox> truth, std::span<const Detection> detections,
                                     const std::vector<std::string>& names, std::int64_t scale) {
    constexpr std::int64_t kMargin = 4, kCaption = 12;
    const Picture predicted = detection_picture(image, channels, height, width, detections, names, scale);
    Picture truth_panel = detection_enlarged_image(image, channels, height, width, scale);
    for (auto object = truth.rbegin(); object != truth.rend(); ++object)
        detection_draw_box(truth_panel, object->box, detection_colour(object->label), detection_class_name(object->label, names), scale);
    Picture picture(2 * predicted.width() + 3 * kMargin, kMargin + kCaption + predicted.height() + kMargin);
    picture.text(kMargin, kMargin, "truth");
    picture.text(2 * kMargin + predicted.width(), kMargin, "prediction");
    detection_paste(picture, truth_panel, kMargin, kMargin + kCaption);
    detection_paste(picture, predicted, 2 * kMargin + predicted.width(), kMargin + kCaption);
    return picture;
}

}  // namespace convnet
