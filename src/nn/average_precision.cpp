// COCO-style average precision: pycocotools' COCOeval (iouType "bbox", every area, maxDets 100,
// no crowd boxes) step by step, its floating-point details included (detection.h,
// docs/DETECTION.md). Not the box arithmetic: that is boxes.cpp.
#include <convnet/nn/detection.h>
#include <convnet/core/error.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

namespace convnet {

namespace detail {

constexpr int kApIouThresholdCount = 10;  // 0.50, 0.55, …, 0.95
constexpr int kApRecallPointCount = 101;  // 0, 0.01, …, 1
// COCOeval's maxDets[-1]: evaluateImg keeps the best 100 detections of each image *and class*.
constexpr std::size_t kApMaxDetections = 100;

// np.linspace(start, stop, count) as NumPy computes it: k·((stop − start)/(count − 1)) + start,
// the last value exactly `stop`. COCOeval's thresholds are these values, which are not always the
// decimals they stand for: the recall point "0.70" is 0.7 + 1 ulp, so 7 of 10 objects found
// (recall 7/10, which rounds to 0.7) does not reach it.
template <int count>
constexpr std::array<double, count> ap_linspace(double start, double stop) {
    std::array<double, count> values{};
    const double step = (stop - start) / (count - 1);
    for (int k = 0; k < count; ++k) values[static_cast<std::size_t>(k)] = static_cast<double>(k) * step + start;
    values[count - 1] = stop;
    return values;
}

// np.argsort(-scores, kind="mergesort"), COCOeval's order within an image and across images:
// decreasing score, equal scores in their given order, NaN last (NumPy sorts NaN after every number).
bool ap_scores_before(float a, float b) { return !std::isnan(a) && (std::isnan(b) || a > b); }

// One detection of the class being evaluated, after the matching in its image.
struct ApMatchedDetection {
    float score = 0.0f;
    std::array<bool, kApIouThresholdCount> true_positive{};  // matched at each IoU threshold
};

// evaluateImg for one image and one class: matches the image's detections of the class (best
// first, at most kApMaxDetections) to its ground-truth boxes of the class at every threshold and
// appends them to `matched`. pycocotools' rule: each detection in turn takes, among the
// ground-truth boxes not yet matched at that threshold, the one of largest IoU provided it is
// ≥ the threshold; of equal IoUs the later box (its loop replaces the best on IoU ≥ best).
void ap_match_image(std::span<const Detection> detections, std::span<const ObjectBox> truths, int label,
                    const std::array<double, kApIouThresholdCount>& iou_thresholds, std::vector<ApMatchedDetection>& matched) {
    std::vector<const Detection*> found;
    for (const Detection& detection : detections)
        if (detection.label == label) found.push_back(&detection);
    std::stable_sort(found.begin(), found.end(),
                     [](const Detection* a, const Detection* b) { return ap_scores_before(a->score, b->score); });
    if (found.size() > kApMaxDetections) found.resize(kApMaxDetections);
    std::vector<const Box*> objects;
    for (const ObjectBox& truth : truths)
        if (truth.label == label) objects.push_back(&truth.box);

    std::vector<double> ious(found.size() * objects.size());  // (detection, object)
    for (std::size_t d = 0; d < found.size(); ++d)
        for (std::size_t g = 0; g < objects.size(); ++g) ious[d * objects.size() + g] = box_iou(found[d]->box, *objects[g]);

    const std::size_t first = matched.size();
    for (const Detection* detection : found) matched.push_back({detection->score, {}});
    std::vector<char> object_taken(objects.size());
    for (int t = 0; t < kApIouThresholdCount; ++t) {
        std::fill(object_taken.begin(), object_taken.end(), 0);
        for (std::size_t d = 0; d < found.size(); ++d) {
            double best = std::min(iou_thresholds[static_cast<std::size_t>(t)], 1 - 1e-10);
            std::ptrdiff_t match = -1;
            for (std::size_t g = 0; g < objects.size(); ++g) {
                if (object_taken[g] || ious[d * objects.size() + g] < best) continue;
                best = ious[d * objects.size() + g];
                match = static_cast<std::ptrdiff_t>(g);
            }
            if (match < 0) continue;
            object_taken[static_cast<std::size_t>(match)] = 1;
            matched[first + d].true_positive[static_cast<std::size_t>(t)] = true;
        }
    }
}

// accumulate for one class and one threshold: the area under the interpolated precision-recall
// curve of `ranked` (the class's detections over all images, best first), read at the 101 points.
double ap_from_ranked(const std::vector<ApMatchedDetection>& ranked, std::size_t threshold, std::int64_t objects,
                      const std::array<double, kApRecallPointCount>& recall_points) {
    std::vector<double> recall(ranked.size()), precision(ranked.size());
    double true_positives = 0.0, false_positives = 0.0;
    for (std::size_t i = 0; i < ranked.size(); ++i) {
        (ranked[i].true_positive[threshold] ? true_positives : false_positives) += 1.0;
        recall[i] = true_positives / static_cast<double>(objects);
        // np.spacing(1) = DBL_EPSILON, as COCOeval adds it: a lone true positive has precision 1 − 2⁻⁵².
        precision[i] = true_positives / (false_positives + true_positives + DBL_EPSILON);
    }
    // The envelope: each precision raised to the best one at any larger recall.
    for (std::size_t i = ranked.size(); i-- > 1;)
        if (precision[i] > precision[i - 1]) precision[i - 1] = precision[i];
    double sum = 0.0;
    for (const double point : recall_points) {
        // np.searchsorted(recall, point, side="left"): the first detection whose recall reaches the point.
        const auto at = std::lower_bound(recall.begin(), recall.end(), point);
        if (at != recall.end()) sum += precision[static_cast<std::size_t>(at - recall.begin())];
    }
    return sum / kApRecallPointCount;
}

}  // namespace detail

DetectionMetrics evaluate_detections(std::span<const std::vector<Detection>> detections, std::span<const std::vector<ObjectBox>> truths,
                                     int classes, double score_threshold) {
    if (detections.size() != truths.size())
        throw Error("evaluate_detections: detections for " + std::to_string(detections.size()) + " images but ground truth for " +
                    std::to_string(truths.size()) + " (one list each per image expected)");
    if (classes < 1) throw Error("evaluate_detections: " + std::to_string(classes) + " classes, expected at least 1");
    for (std::size_t image = 0; image < detections.size(); ++image) {
        for (std::size_t i = 0; i < detections[image].size(); ++i)
            if (detections[image][i].label < 0 || detections[image][i].label >= classes)
                throw Error("evaluate_detections: image " + std::to_string(image) + ", detection " + std::to_string(i) + " has label " +
                            std::to_string(detections[image][i].label) + ", outside [0, " + std::to_string(classes) + ")");
        for (std::size_t i = 0; i < truths[image].size(); ++i)
            if (truths[image][i].label < 0 || truths[image][i].label >= classes)
                throw Error("evaluate_detections: image " + std::to_string(image) + ", ground-truth box " + std::to_string(i) +
                            " has label " + std::to_string(truths[image][i].label) + ", outside [0, " + std::to_string(classes) + ")");
    }

    // pycocotools' p.iouThrs and p.recThrs.
    constexpr auto iou_thresholds = detail::ap_linspace<detail::kApIouThresholdCount>(0.5, 0.95);
    constexpr auto recall_points = detail::ap_linspace<detail::kApRecallPointCount>(0.0, 1.0);
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    const auto class_count = static_cast<std::size_t>(classes);
    DetectionMetrics metrics;
    metrics.ap.assign(class_count, nan);
    metrics.ap50.assign(class_count, nan);
    metrics.precision.assign(class_count, nan);
    metrics.recall.assign(class_count, nan);
    metrics.objects.assign(class_count, 0);
    metrics.detected.assign(class_count, 0);

    double ap_sum = 0.0, ap50_sum = 0.0;
    int classes_with_objects = 0;
    std::vector<detail::ApMatchedDetection> ranked;
    for (int label = 0; label < classes; ++label) {
        const auto k = static_cast<std::size_t>(label);
        ranked.clear();
        for (std::size_t image = 0; image < detections.size(); ++image) {
            detail::ap_match_image(detections[image], truths[image], label, iou_thresholds, ranked);
            for (const ObjectBox& truth : truths[image]) metrics.objects[k] += truth.label == label;
        }
        // Image after image, each image's best first: a stable sort keeps that order for equal scores.
        std::stable_sort(ranked.begin(), ranked.end(), [](const detail::ApMatchedDetection& a, const detail::ApMatchedDetection& b) {
            return detail::ap_scores_before(a.score, b.score);
        });

        std::int64_t true_positives = 0;  // at IoU 0.5, among those scoring ≥ score_threshold
        for (const detail::ApMatchedDetection& detection : ranked) {
            if (!(detection.score >= score_threshold)) continue;
            ++metrics.detected[k];
            true_positives += detection.true_positive[0];
        }
        if (metrics.detected[k] > 0) metrics.precision[k] = static_cast<double>(true_positives) / static_cast<double>(metrics.detected[k]);
        if (metrics.objects[k] == 0) continue;  // no AP, no recall: COCOeval's −1 for an absent class
        metrics.recall[k] = static_cast<double>(true_positives) / static_cast<double>(metrics.objects[k]);

        double threshold_sum = 0.0;
        for (std::size_t t = 0; t < iou_thresholds.size(); ++t) {
            const double ap = detail::ap_from_ranked(ranked, t, metrics.objects[k], recall_points);
            if (t == 0) metrics.ap50[k] = ap;
            threshold_sum += ap;
        }
        metrics.ap[k] = threshold_sum / detail::kApIouThresholdCount;
        ap_sum += metrics.ap[k];
        ap50_sum += metrics.ap50[k];
        ++classes_with_objects;
    }
    metrics.map = classes_with_objects > 0 ? ap_sum / classes_with_objects : nan;
    metrics.map50 = classes_with_objects > 0 ? ap50_sum / classes_with_objects : nan;
    return metrics;
}

}  // namespace convnet
