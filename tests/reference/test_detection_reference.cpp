// Agreement with torchvision.ops (0.14, Debian's python3-torchvision): nms and batched_nms keep
// exactly the same indices in the same order on the seeded random boxes that
// scripts/make_reference.py writes (its NMS_CASES), and box_iou and generalized_box_iou agree in
// float64. Without torchvision the cases are not made and these tests are skipped, saying how to
// install it (docs/REFERENCE_TESTS.md).
#include "npy.h"

#include <convnet/nn/detection.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace convnet::testing::detection_reference {
namespace {

std::filesystem::path nms_reference_dir() {
    if (const char* dir = std::getenv("CONVNET_REFERENCE_DIR")) return dir;
    return std::filesystem::path(CONVNET_BINARY_DIR) / "reference";
}

// nms.txt: '#' comments, then "NAME boxes=N classes=C iou_threshold=T" a case, or one line
// "unavailable: WHY" when the script could not import torchvision.
struct NmsCase {
    std::string name;
    double iou_threshold = 0.0;
};

struct NmsIndex {
    std::vector<NmsCase> cases;
    std::string unavailable;  // why there are no cases, when there are none
    bool found = false;       // nms.txt exists
};

NmsIndex read_nms_index() {
    NmsIndex index;
    std::ifstream stream(nms_reference_dir() / "nms.txt");
    index.found = static_cast<bool>(stream);
    for (std::string line; std::getline(stream, line);) {
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("unavailable:", 0) == 0) {
            index.unavailable = line;
            continue;
        }
        std::istringstream words(line);
        NmsCase c;
        words >> c.name;
        for (std::string word; words >> word;)
            if (word.rfind("iou_threshold=", 0) == 0) c.iou_threshold = std::stod(word.substr(word.find('=') + 1));
        index.cases.push_back(c);
    }
    return index;
}

std::vector<NmsCase> nms_cases() { return read_nms_index().cases; }

void PrintTo(const NmsCase& c, std::ostream* out) { *out << c.name << " at IoU threshold " << c.iou_threshold; }

std::string indices_text(const std::vector<std::int64_t>& indices) {
    std::string text;
    for (std::size_t i = 0; i < indices.size() && i < 12; ++i) {
        if (i) text += ' ';
        text += std::to_string(indices[i]);
    }
    return text + (indices.size() > 12 ? " …" : "");
}

// The first position where two index lists differ, with both lists there: what a failure prints.
std::string first_difference(const std::vector<std::int64_t>& ours, const std::vector<std::int64_t>& theirs) {
    std::size_t at = 0;
    while (at < ours.size() && at < theirs.size() && ours[at] == theirs[at]) ++at;
    std::ostringstream text;
    text << "ours keeps " << ours.size() << ", torchvision " << theirs.size() << "; first difference at position " << at << ": ours "
         << (at < ours.size() ? std::to_string(ours[at]) : "(end)") << ", torchvision "
         << (at < theirs.size() ? std::to_string(theirs[at]) : "(end)") << "\n  ours:        " << indices_text(ours)
         << "\n  torchvision: " << indices_text(theirs);
    return text.str();
}

std::vector<std::int64_t> indices_from(const NpyArray& array) {
    std::vector<std::int64_t> indices;
    for (const double value : array.values) indices.push_back(static_cast<std::int64_t>(value));
    return indices;
}

TEST(NmsReferenceCases, Exist) {
    const NmsIndex index = read_nms_index();
    ASSERT_TRUE(index.found) << nms_reference_dir() / "nms.txt"
                             << " is missing: the build runs scripts/make_reference.py (needs python3-torch); see docs/REFERENCE_TESTS.md";
    if (!index.unavailable.empty()) GTEST_SKIP() << index.unavailable;
    EXPECT_FALSE(index.cases.empty()) << (nms_reference_dir() / "nms.txt").string() + " lists no case";
}

class NmsReference : public ::testing::TestWithParam<NmsCase> {};

TEST_P(NmsReference, KeepsWhatTorchvisionKeeps) {
    const NmsCase& c = GetParam();
    const std::filesystem::path folder = nms_reference_dir() / "nms" / c.name;
    const NpyArray box_values = read_npy(folder / "boxes.npy"), score_values = read_npy(folder / "scores.npy"),
                   label_values = read_npy(folder / "labels.npy");
    const std::size_t count = static_cast<std::size_t>(score_values.size());
    ASSERT_EQ(box_values.values.size(), 4 * count) << "boxes.npy " << box_values.shape_text();
    ASSERT_EQ(label_values.values.size(), count) << "labels.npy " << label_values.shape_text();
    std::vector<Box> boxes(count);
    std::vector<float> scores(count);
    std::vector<int> labels(count);
    for (std::size_t i = 0; i < count; ++i) {
        boxes[i] = {static_cast<float>(box_values.values[4 * i]), static_cast<float>(box_values.values[4 * i + 1]),
                    static_cast<float>(box_values.values[4 * i + 2]), static_cast<float>(box_values.values[4 * i + 3])};
        scores[i] = static_cast<float>(score_values.values[i]);
        labels[i] = static_cast<int>(label_values.values[i]);
    }

    const std::vector<std::int64_t> nms_expected = indices_from(read_npy(folder / "nms_keep.npy"));
    const std::vector<std::int64_t> nms_ours = nms(boxes, scores, c.iou_threshold);
    EXPECT_EQ(nms_ours, nms_expected) << "nms: " << first_difference(nms_ours, nms_expected);
    const std::vector<std::int64_t> batched_expected = indices_from(read_npy(folder / "batched_nms_keep.npy"));
    const std::vector<std::int64_t> batched_ours = batched_nms(boxes, scores, labels, c.iou_threshold);
    EXPECT_EQ(batched_ours, batched_expected) << "batched_nms: " << first_difference(batched_ours, batched_expected);

    // box_iou and generalized_box_iou of the first boxes: torchvision in float64 from the same float32
    // corners, as ours computes. 1e-12: the same operations, one rounding apart at most.
    for (const char* name : {"box_iou", "generalized_box_iou"}) {
        const NpyArray expected = read_npy(folder / (std::string(name) + ".npy"));
        const std::size_t first = expected.shape.empty() ? 0 : static_cast<std::size_t>(expected.shape[0]);
        ASSERT_LE(first, count);
        double worst = 0.0;
        std::size_t worst_a = 0, worst_b = 0;
        for (std::size_t a = 0; a < first; ++a)
            for (std::size_t b = 0; b < first; ++b) {
                const double ours = name[0] == 'b' ? box_iou(boxes[a], boxes[b]) : generalized_box_iou(boxes[a], boxes[b]);
                const double difference = std::abs(ours - expected.values[a * first + b]);
                if (!(difference <= worst)) {  // also NaN
                    worst = difference;
                    worst_a = a;
                    worst_b = b;
                }
            }
        EXPECT_LE(worst, 1e-12) << name << ": worst at boxes " << worst_a << " and " << worst_b << ": torchvision "
                                << expected.values[worst_a * first + worst_b];
    }
}

INSTANTIATE_TEST_SUITE_P(Nms, NmsReference, ::testing::ValuesIn(nms_cases()),
                         [](const ::testing::TestParamInfo<NmsCase>& info) { return info.param.name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(NmsReference);

}  // namespace
}  // namespace convnet::testing::detection_reference
