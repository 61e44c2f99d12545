// The command-line form of Augmentation and its per-image draws (load_batch applies them to images, the task to targets).
#include <convnet/data/augmentation.h>
#include <convnet/core/error.h>
#include <convnet/core/random.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

namespace convnet {

AugmentationDraw draw_augmentation(const Augmentation& augmentation, std::uint64_t seed, int epoch, std::int64_t index) {
    AugmentationDraw draw;
    Random random((seed ^ 0xa06e7a7e5eedull) +
                  0x9E3779B97F4A7C15ull * ((static_cast<std::uint64_t>(epoch) << 32) + static_cast<std::uint64_t>(index)));
    if (augmentation.crop_padding > 0) {
        draw.crop_y = static_cast<int>(random.below(static_cast<std::uint64_t>(2 * augmentation.crop_padding + 1)));
        draw.crop_x = static_cast<int>(random.below(static_cast<std::uint64_t>(2 * augmentation.crop_padding + 1)));
    }
    if (augmentation.flip) draw.mirror = (random.next() >> 63) != 0;
    if (augmentation.alternating_flip) {
        // The image's own first parity, from the seed and its index alone; then every other epoch.
        Random parity((seed ^ 0xa17e12a7ef11bull) + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(index));
        draw.mirror = (((parity.next() >> 63) + static_cast<std::uint64_t>(epoch)) & 1) != 0;
    }
    return draw;
}

void apply_draw(const std::uint8_t* source, std::uint8_t* target, int height, int width, int padding, const AugmentationDraw& draw,
                std::uint8_t fill) {
    for (int y = 0; y < height; ++y) {
        std::uint8_t* row = target + static_cast<std::int64_t>(y) * width;
        const int source_y = y + draw.crop_y - padding;
        if (source_y < 0 || source_y >= height) {
            std::fill(row, row + width, fill);
            continue;
        }
        const std::uint8_t* source_row = source + static_cast<std::int64_t>(source_y) * width;
        for (int x = 0; x < width; ++x) {
            const int source_x = (draw.mirror ? width - 1 - x : x) + draw.crop_x - padding;
            row[x] = source_x >= 0 && source_x < width ? source_row[source_x] : fill;
        }
    }
}

std::string Augmentation::describe() const {
    std::string text;
    const auto add = [&](const std::string& item) { text += (text.empty() ? "" : ",") + item; };
    if (crop_padding > 0) add("crop:" + std::to_string(crop_padding));
    if (flip) add("flip");
    if (alternating_flip) add("alternating-flip");
    return text.empty() ? "none" : text;
}

Augmentation parse_augmentation(const std::string& text) {
    Augmentation augmentation;
    if (text == "none") return augmentation;
    const std::string forms = "expected none, or crop:N (N from 1 to 64), flip and alternating-flip separated by commas (e.g. flip,crop:2)";
    std::stringstream items(text);
    std::string item;
    std::set<std::string> seen;
    while (std::getline(items, item, ',')) {
        if (item == "flip") {
            augmentation.flip = true;
        } else if (item == "alternating-flip") {
            augmentation.alternating_flip = true;
        } else if (item.starts_with("crop:")) {
            int padding = 0;
            const char* first = item.data() + 5;
            const char* last = item.data() + item.size();
            const auto [end, error] = std::from_chars(first, last, padding);
            if (error != std::errc() || end != last || padding < 1 || padding > 64) throw Error("'" + item + "': " + forms);
            augmentation.crop_padding = padding;
        } else {
            const std::string nearest = nearest_name(item.substr(0, item.find(':')), {"crop", "flip", "alternating-flip"});
            throw Error("'" + item + "'" + (nearest.empty() ? "" : " (did you mean " + nearest + "?)") + ": " + forms);
        }
        if (!seen.insert(item.substr(0, item.find(':'))).second) throw Error("'" + item + "' is given twice");
    }
    if (item.empty() || text.empty()) throw Error("'" + text + "': " + forms);
    if (augmentation.flip && augmentation.alternating_flip)
        throw Error("flip and alternating-flip exclude each other: flip mirrors at random, alternating-flip every other epoch");
    return augmentation;
}

TestTimeAugmentation parse_test_time_augmentation(const std::string& text) {
    if (text == "none") return TestTimeAugmentation::none;
    if (text == "flip") return TestTimeAugmentation::flip;
    throw Error("test-time augmentation '" + text + "': expected none or flip");
}

const char* test_time_augmentation_name(TestTimeAugmentation augmentation) {
    return augmentation == TestTimeAugmentation::flip ? "flip" : "none";
}

}  // namespace convnet
