// The command-line form of Augmentation; the draws themselves are in load_batch (train.cpp).
#include <convnet/augmentation.h>
#include <convnet/error.h>

#include <charconv>
#include <set>
#include <sstream>

namespace convnet {

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
