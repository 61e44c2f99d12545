// Object detection's box arithmetic (docs/DETECTION.md): overlaps, non-maximum suppression as
// torchvision.ops does it, and COCO-style average precision. The head that finds the boxes is
// layers/detect.h; its loss is detection_loss.h.
#pragma once

#include <convnet/data/data.h>

#include <cstdint>
#include <span>
#include <vector>

namespace convnet {

// A box the network found: where (in the unit of its caller, input pixels for decode_detections),
// how sure it is (0 to 1) and of which class.
struct Detection {
    Box box;
    float score = 0.0f;
    int label = 0;
};

// (x2 − x1)·(y2 − y1) in double, as torchvision.ops.box_area (a box with x2 < x1 has a negative
// area; no caller makes one).
double box_area(const Box& box);

// Intersection over union in double, as torchvision.ops.box_iou for one pair of float64 boxes; 0
// when the union is empty (two empty boxes), where torchvision divides 0 by 0.
double box_iou(const Box& a, const Box& b);

// IoU − (C − U)/C with C the smallest box holding both, as torchvision.ops.generalized_box_iou
// (Rezatofighi et al. 2019); from −1 to 1. An empty union counts as IoU 0 and an empty hull as
// no penalty, where torchvision divides 0 by 0.
double generalized_box_iou(const Box& a, const Box& b);

// Greedy non-maximum suppression, as torchvision.ops.nms: boxes by decreasing score (equal scores:
// the lower index first, as a stable sort; a NaN score first, as torch sorts it), each kept unless
// its IoU with a box already kept is greater than iou_threshold (equal is kept). The IoU is computed
// in float as torchvision's kernel does, so that one on the threshold is decided alike (3/10 is
// 0.30000001 in float: above 0.3). Returns the kept indices in that order. Throws convnet::Error
// when boxes and scores differ in length.
std::vector<std::int64_t> nms(std::span<const Box> boxes, std::span<const float> scores, double iou_threshold);

// nms within each class separately, as torchvision.ops.batched_nms(boxes, scores, idxs, iou_threshold):
// a box only suppresses boxes of its own label. Returns the kept indices by decreasing score (ties:
// lower index first). Throws convnet::Error when the three spans differ in length. (torchvision
// shifts each class's boxes apart in float before one nms, which can round an IoU across the
// threshold, and above 1000 boxes orders equal scores by an unstable sort; we compute each IoU on
// the boxes as given.)
std::vector<std::int64_t> batched_nms(std::span<const Box> boxes, std::span<const float> scores, std::span<const int> labels,
                                      double iou_threshold);

// What keeps a raw detection: decode_detections drops those scoring below score_threshold, runs
// batched_nms at iou_threshold and keeps the max_detections best of each image.
// Defaults as YOLOv5's and Ultralytics' prediction; evaluation uses kEvaluationDetectionOptions.
struct DetectionOptions {
    double score_threshold = 0.25;
    double iou_threshold = 0.5;
    std::int64_t max_detections = 100;
};
// COCO's evaluation keeps up to 100 detections an image, and nearly every score counts towards
// the precision-recall curve: the threshold is as low as YOLOv5's val.py (0.001).
inline constexpr DetectionOptions kEvaluationDetectionOptions{0.001, 0.5, 100};

// COCO-style average precision, as pycocotools' COCOeval with iouType="bbox" (every area, maxDets
// 100, no crowd boxes) computes it to the last bit but the order of summation, per class and
// summarised. For each IoU threshold t in 0.50, 0.55, …, 0.95 and each class:
//  - in each image, the class's detections by decreasing score (ties: their order in the list; at
//    most the best 100 of each image and class, COCOeval's maxDets, which decode_detections' 100 an
//    image makes moot) each in turn take, of the class's ground-truth boxes in that image not yet
//    taken, the one of largest IoU ≥ t (of equal IoUs the later box): a true positive; a detection
//    that finds none is a false positive;
//  - the class's detections of all images by decreasing score (ties: earlier image, then the order
//    above) give recall tp/objects and precision tp/(tp + fp + 2⁻⁵²) after each; precision is made
//    non-increasing from the right and read at the 101 recall points np.linspace(0, 1, 101) (the
//    first detection whose recall reaches the point; 0 past the last), and averaged.
// AP is the mean over the ten thresholds. A class with no ground-truth box has no AP (NaN) and is
// left out of the means. IoU is box_iou in double (COCOeval's bbIou for the same boxes). docs/DETECTION.md.
struct DetectionMetrics {
    std::vector<double> ap;              // per class: the mean over the ten IoU thresholds (COCO's AP)
    std::vector<double> ap50;            // per class: at IoU 0.5 (Pascal VOC's threshold, 101 points)
    std::vector<double> precision;       // per class, at IoU 0.5 over the detections scoring ≥ score_threshold
                                         // (true positives / those detections; NaN when there are none)
    std::vector<double> recall;          // likewise: matched ground-truth boxes / all of the class (NaN without any)
    std::vector<std::int64_t> objects;   // per class: ground-truth boxes
    std::vector<std::int64_t> detected;  // per class: detections scoring ≥ score_threshold
    double map = 0.0;                    // COCO mAP@[.50:.95]: the mean of ap over classes with objects (NaN: none)
    double map50 = 0.0;                  // mAP@0.5: the mean of ap50 over those classes
};

// The metrics of `detections` against `truths` (one list each per image, the same count; any one
// unit for the boxes of both), for labels 0 to classes − 1; `score_threshold` picks the
// detections that precision and recall count (predict's default 0.25: what predict would draw).
// Throws convnet::Error when the lists differ in length, classes < 1 or a label is outside [0, classes).
DetectionMetrics evaluate_detections(std::span<const std::vector<Detection>> detections,
                                     std::span<const std::vector<ObjectBox>> truths, int classes,
                                     double score_threshold = DetectionOptions{}.score_threshold);

}  // namespace convnet
