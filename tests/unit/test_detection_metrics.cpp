// Box arithmetic, non-maximum suppression and COCO-style average precision (detection.h) on
// hand-computed cases, and evaluate_detections against a brute-force implementation written here
// from the definitions. torchvision's own nms and batched_nms results: tests/reference/test_detection_reference.cpp.
#include <convnet/nn/detection.h>
#include <convnet/core/error.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

// A namespace of its own: the tests are built in unity batches, and other files' helpers may share
// these short names.
namespace convnet::detection_metrics_test {
namespace {

using Indices = std::vector<std::int64_t>;
using Images = std::vector<std::vector<Detection>>;
using Truths = std::vector<std::vector<ObjectBox>>;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

Detection detection(float x1, float y1, float x2, float y2, float score, int label = 0) { return {{x1, y1, x2, y2}, score, label}; }
ObjectBox object(float x1, float y1, float x2, float y2, int label = 0) { return {{x1, y1, x2, y2}, label}; }

// ---------------------------------------------------------------------------------------------
// Box arithmetic (values as torchvision.ops.box_iou and generalized_box_iou print them in float64).

TEST(DetectionBoxes, Area) {
    EXPECT_EQ(box_area({1, 2, 5, 5}), 12.0);
    EXPECT_EQ(box_area({3, 0, 1, 1}), -2.0);  // x2 < x1: negative, as torchvision's
    EXPECT_EQ(box_area({1, 1, 1, 4}), 0.0);
}

TEST(DetectionBoxes, IouAndGeneralizedIou) {
    const Box a{0, 0, 2, 2}, b{1, 1, 3, 3};
    EXPECT_DOUBLE_EQ(box_iou(a, b), 1.0 / 7.0);                          // 1 / (4 + 4 − 1)
    EXPECT_DOUBLE_EQ(generalized_box_iou(a, b), 1.0 / 7.0 - 2.0 / 9.0);  // hull 3×3 = 9, union 7
    EXPECT_DOUBLE_EQ(box_iou(b, a), box_iou(a, b));
    EXPECT_EQ(box_iou(a, a), 1.0);
    EXPECT_EQ(generalized_box_iou(a, a), 1.0);
    // Apart: IoU 0; GIoU −(hull − union)/hull = −(3 − 2)/3; far apart it nears −1.
    EXPECT_EQ(box_iou({0, 0, 1, 1}, {2, 0, 3, 1}), 0.0);
    EXPECT_DOUBLE_EQ(generalized_box_iou({0, 0, 1, 1}, {2, 0, 3, 1}), -1.0 / 3.0);
    EXPECT_NEAR(generalized_box_iou({0, 0, 1, 1}, {1000, 1000, 1001, 1001}), -1.0, 1e-5);
    // Touching edges: no intersection.
    EXPECT_EQ(box_iou({0, 0, 1, 1}, {1, 0, 2, 1}), 0.0);
    // Nested: IoU = small/large, the hull is the large box (no penalty).
    EXPECT_DOUBLE_EQ(box_iou({0, 0, 4, 4}, {1, 1, 2, 2}), 1.0 / 16.0);
    EXPECT_DOUBLE_EQ(generalized_box_iou({0, 0, 4, 4}, {1, 1, 2, 2}), 1.0 / 16.0);
    // Empty boxes, where torchvision divides 0 by 0: IoU 0, and no penalty for an empty hull.
    EXPECT_EQ(box_iou({1, 1, 1, 1}, {1, 1, 1, 1}), 0.0);
    EXPECT_EQ(generalized_box_iou({1, 1, 1, 1}, {1, 1, 1, 1}), 0.0);
    EXPECT_DOUBLE_EQ(generalized_box_iou({1, 1, 1, 1}, {2, 1, 2, 3}), -1.0);  // union 0, hull 1×2
}

// ---------------------------------------------------------------------------------------------
// Non-maximum suppression (each expectation as torchvision.ops.nms / batched_nms 0.14 returns it).

TEST(DetectionNms, EmptyAndSingle) {
    EXPECT_EQ(nms({}, {}, 0.5), Indices{});
    const std::vector<Box> one{{0, 0, 1, 1}};
    EXPECT_EQ(nms(one, std::vector<float>{0.3f}, 0.5), Indices{0});
    EXPECT_EQ(batched_nms({}, {}, {}, 0.5), Indices{});
}

TEST(DetectionNms, KeepsTheBestOfOverlappingBoxesByDecreasingScore) {
    const std::vector<Box> boxes{{0, 0, 10, 10}, {50, 50, 60, 60}, {1, 1, 11, 11}, {51, 50, 61, 60}};
    const std::vector<float> scores{0.6f, 0.7f, 0.9f, 0.2f};
    // 2 (0.9) suppresses 0 (IoU 81/119 = 0.68); 1 (0.7) suppresses 3 (90/110).
    EXPECT_EQ(nms(boxes, scores, 0.5), (Indices{2, 1}));
    // At 0.7 nothing reaches the threshold but 3 against 1 (0.82).
    EXPECT_EQ(nms(boxes, scores, 0.7), (Indices{2, 1, 0}));
}

TEST(DetectionNms, SuppressesOnlyAboveTheThreshold) {
    // IoU exactly 2/4 = 0.5: torchvision suppresses IoU > threshold, so both stay at 0.5.
    const std::vector<Box> boxes{{0, 0, 4, 1}, {0, 0, 2, 1}};
    const std::vector<float> scores{0.9f, 0.8f};
    EXPECT_EQ(nms(boxes, scores, 0.5), (Indices{0, 1}));
    EXPECT_EQ(nms(boxes, scores, 0.49), Indices{0});
}

TEST(DetectionNms, ComputesTheIouInFloatAsTorchvision) {
    // IoU 3/10 is 0.300000012 in float (0.3 in double): torchvision's float kernel finds it above
    // the threshold 0.3 and suppresses the box; so do we.
    const std::vector<Box> boxes{{0, 0, 10, 1}, {0, 0, 3, 1}};
    EXPECT_EQ(nms(boxes, std::vector<float>{0.9f, 0.8f}, 0.3), Indices{0});
    EXPECT_DOUBLE_EQ(box_iou(boxes[0], boxes[1]), 0.3);  // box_iou is double
}

TEST(DetectionNms, IsGreedy) {
    // 1 overlaps 0 (IoU 70/130) and 2 (70/130); 0 and 2 overlap 40/160. 0 suppresses 1, so 2 stays.
    const std::vector<Box> boxes{{0, 0, 10, 10}, {0, 3, 10, 13}, {0, 6, 10, 16}};
    EXPECT_EQ(nms(boxes, std::vector<float>{0.9f, 0.8f, 0.7f}, 0.5), (Indices{0, 2}));
}

TEST(DetectionNms, EqualScoresGoByIndex) {
    const std::vector<Box> boxes{{20, 0, 30, 10}, {0, 0, 10, 10}, {0, 0, 10, 10}, {40, 0, 50, 10}};
    // All equal: order 0, 1, 2, 3; 1 suppresses its copy 2.
    EXPECT_EQ(nms(boxes, std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}, 0.5), (Indices{0, 1, 3}));
    // 3 first, then the tie 1, 2 by index.
    EXPECT_EQ(nms(boxes, std::vector<float>{0.1f, 0.5f, 0.5f, 0.9f}, 0.5), (Indices{3, 1, 0}));
}

TEST(DetectionNms, NanScoreComesFirstAsTorchSortsIt) {
    // torch.sort(descending=True) puts NaN first: torchvision keeps the NaN-scored box 1, which then
    // suppresses 0 and 3 (both [0, 10]², IoU 81/119 with it); 2 overlaps nothing.
    const std::vector<Box> boxes{{0, 0, 10, 10}, {1, 1, 11, 11}, {20, 20, 30, 30}, {0, 0, 10, 10}};
    const std::vector<float> scores{0.5f, std::numeric_limits<float>::quiet_NaN(), 0.7f, 0.9f};
    EXPECT_EQ(nms(boxes, scores, 0.5), (Indices{1, 2}));
}

TEST(DetectionNms, LengthsMustAgree) {
    const std::vector<Box> boxes{{0, 0, 1, 1}, {0, 0, 2, 2}};
    EXPECT_THROW(nms(boxes, std::vector<float>{0.5f}, 0.5), Error);
    EXPECT_THROW(batched_nms(boxes, std::vector<float>{0.5f, 0.4f}, std::vector<int>{0}, 0.5), Error);
    EXPECT_THROW(batched_nms(boxes, std::vector<float>{0.5f}, std::vector<int>{0, 1}, 0.5), Error);
}

TEST(DetectionBatchedNms, SuppressesWithinALabelAndMergesByScore) {
    // 0 and 1 overlap (IoU 0.68) with different labels: both stay. 2 is 0's copy in label 0, 3 is
    // 1's copy in label 1 with 1's score: each is suppressed by the better of its label.
    const std::vector<Box> boxes{{0, 0, 10, 10}, {1, 1, 11, 11}, {0, 0, 10, 10}, {1, 1, 11, 11}, {30, 30, 40, 40}};
    const std::vector<float> scores{0.6f, 0.8f, 0.5f, 0.8f, 0.6f};
    const std::vector<int> labels{0, 1, 0, 1, 7};
    // By score: 1 (0.8), 3 (0.8, suppressed by 1), 0 and 4 (0.6, index order), 2 (suppressed by 0).
    EXPECT_EQ(batched_nms(boxes, scores, labels, 0.5), (Indices{1, 0, 4}));
    // One label for all: plain nms.
    const std::vector<int> same(boxes.size(), 3);
    EXPECT_EQ(batched_nms(boxes, scores, same, 0.5), nms(boxes, scores, 0.5));
    EXPECT_EQ(nms(boxes, scores, 0.5), (Indices{1, 4}));
}

// ---------------------------------------------------------------------------------------------
// evaluate_detections on hand-computed cases. COCOeval's precision is tp / (tp + fp + 2⁻⁵²), so a
// curve that starts with a lone true positive reads 1 − 2⁻⁵² there, not 1: EXPECT_DOUBLE_EQ
// (4 ulps) or EXPECT_NEAR(…, 1e-12) below.

void expect_nan(double value, const char* what) { EXPECT_TRUE(std::isnan(value)) << what << " = " << value << ", expected NaN"; }

TEST(DetectionMetrics, PerfectPredictionHasApOne) {
    const Truths truths{{object(0, 0, 10, 10, 0), object(20, 20, 40, 30, 1)}, {object(5, 5, 15, 25, 1)}};
    const Images found{{detection(0, 0, 10, 10, 0.9f, 0), detection(20, 20, 40, 30, 0.8f, 1)}, {detection(5, 5, 15, 25, 0.7f, 1)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 2);
    for (int k = 0; k < 2; ++k) {
        EXPECT_DOUBLE_EQ(metrics.ap[k], 1.0) << "class " << k;
        EXPECT_DOUBLE_EQ(metrics.ap50[k], 1.0) << "class " << k;
        EXPECT_EQ(metrics.precision[k], 1.0) << "class " << k;
        EXPECT_EQ(metrics.recall[k], 1.0) << "class " << k;
    }
    EXPECT_EQ(metrics.objects, (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(metrics.detected, (std::vector<std::int64_t>{1, 2}));
    EXPECT_DOUBLE_EQ(metrics.map, 1.0);
    EXPECT_DOUBLE_EQ(metrics.map50, 1.0);
}

TEST(DetectionMetrics, MissHasApZero) {
    // An object nobody found, and a detection on empty ground: AP 0, recall 0, precision 0.
    const Truths truths{{object(0, 0, 10, 10)}, {}};
    const Images found{{}, {detection(0, 0, 10, 10, 0.9f)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 1);
    EXPECT_EQ(metrics.ap[0], 0.0);
    EXPECT_EQ(metrics.ap50[0], 0.0);
    EXPECT_EQ(metrics.recall[0], 0.0);
    EXPECT_EQ(metrics.precision[0], 0.0);
    EXPECT_EQ(metrics.map, 0.0);
    // Nothing detected at all: precision has nothing to count (NaN), recall is 0.
    const DetectionMetrics none = evaluate_detections(Images{{}, {}}, truths, 1);
    EXPECT_EQ(none.ap[0], 0.0);
    EXPECT_EQ(none.recall[0], 0.0);
    expect_nan(none.precision[0], "precision without detections");
    EXPECT_EQ(none.detected[0], 0);
}

TEST(DetectionMetrics, DuplicateIsAFalsePositive) {
    // Two objects; by score: a hit on A (0.9), a second box on A (0.8: A is taken, so a false
    // positive), a hit on B (0.7). At every threshold (all IoUs are 1):
    //   recall    1/2, 1/2, 1       precision 1, 1/2, 2/3   envelope 1, 2/3, 2/3
    // The 51 recall points 0, 0.01, …, 0.50 read the first detection (1); the 50 points 0.51 … 1
    // read the third (2/3): AP = (51 · 1 + 50 · 2/3) / 101 = 253/303 = 0.83498…
    const Truths truths{{object(0, 0, 10, 10), object(20, 0, 30, 10)}};
    const Images found{{detection(0, 0, 10, 10, 0.9f), detection(0, 0, 10, 10, 0.8f), detection(20, 0, 30, 10, 0.7f)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 1);
    EXPECT_NEAR(metrics.ap50[0], 253.0 / 303.0, 1e-12);
    EXPECT_NEAR(metrics.ap[0], 253.0 / 303.0, 1e-12);
    EXPECT_DOUBLE_EQ(metrics.precision[0], 2.0 / 3.0);
    EXPECT_EQ(metrics.recall[0], 1.0);
    EXPECT_EQ(metrics.detected[0], 3);
}

TEST(DetectionMetrics, LowIouHitCountsOnlyAtLowThresholds) {
    // IoU 60/100 = 0.6 exactly: a hit at 0.50, 0.55 and 0.60 (IoU ≥ t: equality counts), a miss at
    // 0.65 … 0.95. AP is 1 at three thresholds of ten: mAP@0.5 = 1, mAP = 0.3.
    const Truths truths{{object(0, 0, 10, 10)}};
    const Images found{{detection(0, 0, 10, 6, 0.9f)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 1);
    EXPECT_DOUBLE_EQ(metrics.map50, 1.0);
    EXPECT_NEAR(metrics.map, 0.3, 1e-12);
    EXPECT_EQ(metrics.recall[0], 1.0);
    // IoU 0.59: a hit at 0.50 and 0.55 only.
    const Images lower{{detection(0, 0, 10, 5.9f, 0.9f)}};
    EXPECT_NEAR(evaluate_detections(lower, truths, 1).map, 0.2, 1e-12);
}

TEST(DetectionMetrics, ClassWithoutObjectsIsNanAndLeftOutOfTheMeans) {
    // Class 1: objects, found perfectly. Class 0: nothing. Class 2: only a false detection.
    const Truths truths{{object(0, 0, 10, 10, 1)}};
    const Images found{{detection(0, 0, 10, 10, 0.9f, 1), detection(50, 50, 60, 60, 0.8f, 2)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 3);
    for (int k : {0, 2}) {
        expect_nan(metrics.ap[k], "ap");
        expect_nan(metrics.ap50[k], "ap50");
        expect_nan(metrics.recall[k], "recall");
        EXPECT_EQ(metrics.objects[k], 0);
    }
    expect_nan(metrics.precision[0], "precision of a class without detections");
    EXPECT_EQ(metrics.precision[2], 0.0);
    EXPECT_DOUBLE_EQ(metrics.map, 1.0);  // class 1 alone
    EXPECT_DOUBLE_EQ(metrics.map50, 1.0);
    // No class with objects: no mean.
    const DetectionMetrics empty = evaluate_detections(Images{{detection(0, 0, 1, 1, 0.5f)}}, Truths{{}}, 2);
    expect_nan(empty.map, "map");
    expect_nan(empty.map50, "map50");
}

TEST(DetectionMetrics, EqualScoresGoByImageThenByOrderInTheImage) {
    // One object, in image 1. Both detections score 0.5: image 0's (a false positive) ranks first.
    //   recall 0, 1   precision 0, 1/2   envelope 1/2, 1/2: every point reads 1/2.
    const Truths truths{{}, {object(0, 0, 10, 10)}};
    EXPECT_NEAR(evaluate_detections(Images{{detection(0, 0, 10, 10, 0.5f)}, {detection(0, 0, 10, 10, 0.5f)}}, truths, 1).ap[0], 0.5, 1e-12);
    // The images swapped: the true positive first, recall 1 from the start: AP 1.
    const Truths swapped{{object(0, 0, 10, 10)}, {}};
    EXPECT_DOUBLE_EQ(evaluate_detections(Images{{detection(0, 0, 10, 10, 0.5f)}, {detection(0, 0, 10, 10, 0.5f)}}, swapped, 1).ap[0], 1.0);
    // Within one image, the given order: a false positive listed first ranks first.
    const Truths one{{object(0, 0, 10, 10)}};
    EXPECT_NEAR(evaluate_detections(Images{{detection(50, 50, 60, 60, 0.5f), detection(0, 0, 10, 10, 0.5f)}}, one, 1).ap[0], 0.5, 1e-12);
    EXPECT_DOUBLE_EQ(evaluate_detections(Images{{detection(0, 0, 10, 10, 0.5f), detection(50, 50, 60, 60, 0.5f)}}, one, 1).ap[0], 1.0);
}

TEST(DetectionMetrics, MatchesTheBestIouAndEqualIousGoToTheLaterObject) {
    // A detection overlapping two free objects takes the one of larger IoU, not the first above the
    // threshold: [3, 13] overlaps object [0, 10] by 70/130 = 0.54 and object [3, 13] by 1. Then a
    // detection exactly on [0, 10]. Both hit with IoU 1 at every threshold: AP 1. (Had the first
    // taken [0, 10], both would hit with 0.54, at 0.50 alone: AP 0.1.)
    const Truths two{{object(0, 0, 10, 10), object(3, 0, 13, 10)}};
    const Images best{{detection(3, 0, 13, 10, 0.9f), detection(0, 0, 10, 10, 0.8f)}};
    EXPECT_DOUBLE_EQ(evaluate_detections(best, two, 1).ap[0], 1.0);
    // Equal IoUs: detection [2, 12] overlaps objects [0, 10] and [4, 14] by 80/120 each, and
    // COCOeval gives it the later, [4, 14]. The next detection, [5, 15], overlaps only [4, 14]
    // (90/110; [0, 10]: 50/150): a false positive. recall 1/2, 1/2; precision 1, 1/2: the points
    // 0 … 0.50 read 1, the others 0: AP50 = 51/101. (Given the earlier object, both would hit: 1.)
    const Truths tied{{object(0, 0, 10, 10), object(4, 0, 14, 10)}};
    const Images found{{detection(2, 0, 12, 10, 0.9f), detection(5, 0, 15, 10, 0.8f)}};
    EXPECT_NEAR(evaluate_detections(found, tied, 1).ap50[0], 51.0 / 101.0, 1e-12);
}

TEST(DetectionMetrics, RecallPointsAreNumpysLinspace) {
    // 7 of 10 objects found, each perfectly. Recall reaches 7/10, which rounds to the double 0.7;
    // COCOeval's recall point "0.70" is np.linspace(0, 1, 101)[70] = 70 · 0.01 = 0.7 + 1 ulp, which
    // it does not reach: 70 points (0 … 0.69) read 1, not 71. AP = 70/101.
    Truths truths(1);
    Images found(1);
    for (int i = 0; i < 10; ++i) {
        truths[0].push_back(object(20.0f * i, 0, 20.0f * i + 10, 10));
        if (i < 7) found[0].push_back(detection(20.0f * i, 0, 20.0f * i + 10, 10, 0.9f - 0.01f * i));
    }
    EXPECT_NEAR(evaluate_detections(found, truths, 1).ap[0], 70.0 / 101.0, 1e-12);
}

TEST(DetectionMetrics, KeepsTheBest100DetectionsOfEachImageAndClass) {
    // 100 false positives outscore the one true hit of class 0 in image 0: COCOeval's maxDets keeps
    // the 100 best of an image and class, so the hit is dropped (and not counted as detected).
    Truths truths{{object(0, 0, 10, 10, 0), object(0, 0, 10, 10, 1)}};
    Images found(1);
    for (int i = 0; i < 100; ++i) found[0].push_back(detection(100.0f + 20 * i, 0, 110.0f + 20 * i, 10, 0.9f, 0));
    found[0].push_back(detection(0, 0, 10, 10, 0.5f, 0));
    // Class 1 has its own 100: its hit is the 100th best of its class (and the 201st of the image).
    for (int i = 0; i < 99; ++i) found[0].push_back(detection(100.0f + 20 * i, 0, 110.0f + 20 * i, 10, 0.9f, 1));
    found[0].push_back(detection(0, 0, 10, 10, 0.5f, 1));
    const DetectionMetrics metrics = evaluate_detections(found, truths, 2);
    EXPECT_EQ(metrics.ap[0], 0.0);
    EXPECT_EQ(metrics.recall[0], 0.0);
    EXPECT_EQ(metrics.detected[0], 100);
    EXPECT_EQ(metrics.recall[1], 1.0);
    EXPECT_NEAR(metrics.ap[1], 0.01, 1e-12);  // precision 1/100 at every recall point
}

TEST(DetectionMetrics, ScoreThresholdPicksWhatPrecisionAndRecallCount) {
    const Truths truths{{object(0, 0, 10, 10), object(20, 0, 30, 10)}};
    const Images found{{detection(0, 0, 10, 10, 0.9f), detection(50, 0, 60, 10, 0.3f), detection(20, 0, 30, 10, 0.2f)}};
    const DetectionMetrics metrics = evaluate_detections(found, truths, 1, 0.25);
    EXPECT_EQ(metrics.detected[0], 2);
    EXPECT_EQ(metrics.precision[0], 0.5);
    EXPECT_EQ(metrics.recall[0], 0.5);
    // AP counts every detection: recall 1/2, 1/2, 1; precision 1, 1/2, 2/3: as the duplicate case.
    EXPECT_NEAR(metrics.ap50[0], 253.0 / 303.0, 1e-12);
    const DetectionMetrics all = evaluate_detections(found, truths, 1, 0.0);  // a score equal to the threshold counts
    EXPECT_EQ(all.detected[0], 3);
    EXPECT_EQ(evaluate_detections(found, truths, 1, 0.2f).detected[0], 3);
}

TEST(DetectionMetrics, RefusesMismatchedListsAndLabelsOutOfRange) {
    const Truths truths{{object(0, 0, 1, 1)}};
    EXPECT_THROW(evaluate_detections(Images{}, truths, 1), Error);
    EXPECT_THROW(evaluate_detections(Images{{detection(0, 0, 1, 1, 0.5f, 2)}}, truths, 2), Error);
    EXPECT_THROW(evaluate_detections(Images{{detection(0, 0, 1, 1, 0.5f, -1)}}, truths, 2), Error);
    EXPECT_THROW(evaluate_detections(Images{{}}, Truths{{object(0, 0, 1, 1, 5)}}, 5), Error);
    EXPECT_THROW(evaluate_detections(Images{{}}, Truths{{}}, 0), Error);
    try {
        evaluate_detections(Images{{}, {detection(0, 0, 1, 1, 0.5f, 0), detection(0, 0, 1, 1, 0.5f, 7)}}, Truths{{}, {}}, 3);
        FAIL() << "no exception";
    } catch (const Error& error) {
        EXPECT_STREQ(error.what(), "evaluate_detections: image 1, detection 1 has label 7, outside [0, 3)");
    }
}

// ---------------------------------------------------------------------------------------------
// An independent implementation, from the definitions rather than COCOeval's loops: for each class
// and threshold, every cut-off K of the ranking gives a point (recall_K, precision_K), and the
// interpolated precision at recall r is the best precision of any cut-off whose recall reaches r.

// COCOeval's p.iouThrs as NumPy prints them (float.hex): not all are the nearest doubles to
// the decimals (0.85 and 0.9 are one ulp below).
constexpr std::array<double, 10> kBruteIouThresholds{0x1.0000000000000p-1, 0x1.199999999999ap-1, 0x1.3333333333333p-1, 0x1.4cccccccccccdp-1,
                                                     0x1.6666666666666p-1, 0x1.8000000000000p-1, 0x1.999999999999ap-1, 0x1.b333333333333p-1,
                                                     0x1.cccccccccccccp-1, 0x1.e666666666666p-1};

double brute_iou(const Box& a, const Box& b) {
    const double overlap_x = std::min<double>(a.x2, b.x2) - std::max<double>(a.x1, b.x1);
    const double overlap_y = std::min<double>(a.y2, b.y2) - std::max<double>(a.y1, b.y1);
    if (overlap_x <= 0 || overlap_y <= 0) return 0.0;
    const double area_a = (double(a.x2) - a.x1) * (double(a.y2) - a.y1), area_b = (double(b.x2) - b.x1) * (double(b.y2) - b.y1);
    return overlap_x * overlap_y / (area_a + area_b - overlap_x * overlap_y);
}

struct BruteRanked {
    float score;
    std::size_t image, rank;
    bool hit;
};

DetectionMetrics brute_force_metrics(const Images& found, const Truths& truths, int classes, double score_threshold) {
    DetectionMetrics result;
    double ap_total = 0, ap50_total = 0;
    int counted = 0;
    for (int label = 0; label < classes; ++label) {
        std::int64_t objects = 0;
        for (const auto& image : truths)
            for (const ObjectBox& truth : image) objects += truth.label == label;
        std::array<double, 10> ap_at{};
        std::int64_t detected = 0, hits = 0;
        for (std::size_t t = 0; t < kBruteIouThresholds.size(); ++t) {
            std::vector<BruteRanked> ranked;
            for (std::size_t n = 0; n < found.size(); ++n) {
                std::vector<std::size_t> mine;  // this class's detections, best first, ties by position
                for (std::size_t i = 0; i < found[n].size(); ++i)
                    if (found[n][i].label == label) mine.push_back(i);
                std::sort(mine.begin(), mine.end(), [&](std::size_t a, std::size_t b) {
                    return found[n][a].score != found[n][b].score ? found[n][a].score > found[n][b].score : a < b;
                });
                mine.resize(std::min<std::size_t>(mine.size(), 100));
                std::vector<bool> taken(truths[n].size(), false);
                for (std::size_t rank = 0; rank < mine.size(); ++rank) {
                    // The free object of this class with the largest IoU ≥ t, the last one among equals.
                    std::ptrdiff_t chosen = -1;
                    for (std::size_t g = truths[n].size(); g-- > 0;) {
                        if (taken[g] || truths[n][g].label != label) continue;
                        const double iou = brute_iou(found[n][mine[rank]].box, truths[n][g].box);
                        if (iou >= kBruteIouThresholds[t] &&
                            (chosen < 0 || iou > brute_iou(found[n][mine[rank]].box, truths[n][chosen].box)))
                            chosen = static_cast<std::ptrdiff_t>(g);
                    }
                    if (chosen >= 0) taken[static_cast<std::size_t>(chosen)] = true;
                    ranked.push_back({found[n][mine[rank]].score, n, rank, chosen >= 0});
                }
            }
            std::sort(ranked.begin(), ranked.end(), [](const BruteRanked& a, const BruteRanked& b) {
                if (a.score != b.score) return a.score > b.score;
                return a.image != b.image ? a.image < b.image : a.rank < b.rank;
            });
            if (t == 0) {
                for (const BruteRanked& r : ranked) {
                    if (r.score < score_threshold) continue;
                    ++detected;
                    hits += r.hit;
                }
            }
            std::vector<double> recall_at, precision_at;  // per cut-off K = 1 … size
            std::int64_t true_positives = 0;
            for (std::size_t cut = 1; cut <= ranked.size(); ++cut) {
                true_positives += ranked[cut - 1].hit;
                recall_at.push_back(double(true_positives) / double(objects));
                precision_at.push_back(double(true_positives) / (double(cut) + DBL_EPSILON));
            }
            double sum = 0;
            for (int point = 0; point <= 100; ++point) {
                const double recall = point == 100 ? 1.0 : point * 0.01;  // np.linspace(0, 1, 101)
                double best = 0;
                for (std::size_t k = 0; k < recall_at.size(); ++k)
                    if (recall_at[k] >= recall) best = std::max(best, precision_at[k]);
                sum += best;
            }
            ap_at[t] = sum / 101;
        }
        result.objects.push_back(objects);
        result.detected.push_back(detected);
        result.precision.push_back(detected ? double(hits) / double(detected) : kNan);
        result.recall.push_back(objects ? double(hits) / double(objects) : kNan);
        result.ap.push_back(objects ? std::accumulate(ap_at.begin(), ap_at.end(), 0.0) / 10 : kNan);
        result.ap50.push_back(objects ? ap_at[0] : kNan);
        if (objects) ap_total += result.ap.back(), ap50_total += result.ap50.back(), ++counted;
    }
    result.map = counted ? ap_total / counted : kNan;
    result.map50 = counted ? ap50_total / counted : kNan;
    return result;
}

// A scene: a few images with objects of a few classes; near each object zero to two detections
// (jittered, now and then of another class), plus detections on empty ground. Even seeds put the
// boxes on whole pixels (exact IoU ties) and the scores on tenths (ties across and within images);
// one in seven scenes puts 120 detections on one image and class (past COCOeval's 100).
struct Scene {
    Images found;
    Truths truths;
    int classes = 1;
};

Scene random_scene(unsigned seed) {
    std::mt19937 random(seed);
    auto uniform = [&](double low, double high) { return std::uniform_real_distribution<double>(low, high)(random); };
    auto integer = [&](int low, int high) { return std::uniform_int_distribution<int>(low, high)(random); };
    const bool whole = seed % 2 == 0;
    auto coordinate = [&](double value) { return whole ? std::round(static_cast<float>(value)) : static_cast<float>(value); };
    auto score = [&] { return whole ? static_cast<float>(integer(0, 10)) / 10.0f : static_cast<float>(uniform(0, 1)); };
    Scene scene;
    scene.classes = integer(1, 4);
    const int images = integer(1, 6);
    scene.found.resize(static_cast<std::size_t>(images));
    scene.truths.resize(static_cast<std::size_t>(images));
    for (int n = 0; n < images; ++n) {
        auto& found = scene.found[static_cast<std::size_t>(n)];
        for (int i = integer(0, 5); i > 0; --i) {
            const float x = coordinate(uniform(0, 60)), y = coordinate(uniform(0, 60));
            const ObjectBox truth{{x, y, x + coordinate(uniform(2, 30)), y + coordinate(uniform(2, 30))}, integer(0, scene.classes - 1)};
            scene.truths[static_cast<std::size_t>(n)].push_back(truth);
            for (int d = integer(0, 2); d > 0; --d) {
                Box box{coordinate(truth.box.x1 + uniform(-4, 4)), coordinate(truth.box.y1 + uniform(-4, 4)), 0, 0};
                box.x2 = std::max(box.x1 + 1, coordinate(truth.box.x2 + uniform(-4, 4)));
                box.y2 = std::max(box.y1 + 1, coordinate(truth.box.y2 + uniform(-4, 4)));
                const int label = integer(0, 9) == 0 ? integer(0, scene.classes - 1) : truth.label;
                found.insert(found.begin() + integer(0, static_cast<int>(found.size())), Detection{box, score(), label});
            }
        }
        for (int i = integer(0, 2); i > 0; --i) {
            const float x = coordinate(uniform(0, 60)), y = coordinate(uniform(0, 60));
            found.push_back(
                {{x, y, x + coordinate(uniform(2, 30)), y + coordinate(uniform(2, 30))}, score(), integer(0, scene.classes - 1)});
        }
    }
    if (seed % 7 == 3) {
        for (int i = 0; i < 120; ++i) {
            const float x = coordinate(uniform(0, 60)), y = coordinate(uniform(0, 60));
            scene.found[0].push_back({{x, y, x + 20, y + 20}, score(), 0});
        }
        scene.truths[0].push_back({{10, 10, 30, 30}, 0});
    }
    return scene;
}

void expect_same(double actual, double expected, double tolerance, const char* what, int label, unsigned seed) {
    if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(actual)) << what << " of class " << label << ", scene " << seed << ": " << actual << ", expected NaN";
    } else {
        EXPECT_NEAR(actual, expected, tolerance) << what << " of class " << label << ", scene " << seed;
    }
}

TEST(DetectionMetrics, AgreesWithABruteForceImplementationOnRandomScenes) {
    int hit_scenes = 0;
    for (unsigned seed = 1; seed <= 50; ++seed) {
        const Scene scene = random_scene(seed);
        const double score_threshold = seed % 3 == 0 ? 0.0 : 0.45;
        const DetectionMetrics actual = evaluate_detections(scene.found, scene.truths, scene.classes, score_threshold);
        const DetectionMetrics expected = brute_force_metrics(scene.found, scene.truths, scene.classes, score_threshold);
        for (int k = 0; k < scene.classes; ++k) {
            expect_same(actual.ap[k], expected.ap[k], 1e-12, "ap", k, seed);
            expect_same(actual.ap50[k], expected.ap50[k], 1e-12, "ap50", k, seed);
            expect_same(actual.precision[k], expected.precision[k], 1e-12, "precision", k, seed);
            expect_same(actual.recall[k], expected.recall[k], 1e-12, "recall", k, seed);
            EXPECT_EQ(actual.objects[k], expected.objects[k]) << "class " << k << ", scene " << seed;
            EXPECT_EQ(actual.detected[k], expected.detected[k]) << "class " << k << ", scene " << seed;
        }
        expect_same(actual.map, expected.map, 1e-12, "map", -1, seed);
        expect_same(actual.map50, expected.map50, 1e-12, "map50", -1, seed);
        hit_scenes += actual.map > 0 && actual.map < 1;
    }
    EXPECT_GT(hit_scenes, 25) << "the scenes should mostly be neither all hits nor all misses";
}

}  // namespace
}  // namespace convnet::detection_metrics_test
