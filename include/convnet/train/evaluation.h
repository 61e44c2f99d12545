// What evaluating a network on a dataset finds: the loss, the figures of the task (accuracy;
// pixel accuracy and intersection over union), the confusion matrix and the surest mistakes.
#pragma once

#include <convnet/data/data.h>
#include <convnet/nn/detection.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace convnet {

// A wrong prediction kept by evaluate: the image and how sure the network was of the wrong class.
struct Mistake {
    std::int64_t index = 0;  // in the evaluated dataset
    int true_label = 0, predicted = 0;
    double probability = 0.0;  // the softmax probability the network gave `predicted`
};

// What evaluate found, for any task: classification counts images, segmentation the labelled
// pixels (mask values other than kIgnoreIndex), detection the objects.
struct Evaluation {
    TaskKind task = TaskKind::classify;
    double loss = 0.0;      // the mean cross-entropy over the counted targets (no class weights, no smoothing)
    double accuracy = 0.0;  // counted targets predicted right / counted (segmentation: pixel accuracy; detection: mAP@0.5)
    std::int64_t counted = 0;                              // images, or labelled pixels
    std::vector<std::int64_t> class_correct, class_total;  // per label
    std::int64_t classes = 0;                              // the network's outputs
    // (classes, classes), row-major: confusion[t * classes + p] images (pixels) of true label t
    // predicted as p (rows true, as sklearn's confusion_matrix).
    std::vector<std::int64_t> confusion;
    // Segmentation: per class TP / (TP + FP + FN) over the whole set from the confusion matrix,
    // NaN for a class absent from both the truth and the predictions; mean_iou the mean over the
    // other classes (as torchmetrics' JaccardIndex with absent classes left out). NaN for classification.
    std::vector<double> iou;
    double mean_iou = std::numeric_limits<double>::quiet_NaN();
    // The task's summary figures in order, named as the metrics file names them after "test_":
    // classification {accuracy}; segmentation {pixel_accuracy, miou}; detection {map50, map}.
    std::vector<std::pair<std::string, double>> figures;
    // Detection: what score() gathers, image by image in the dataset's order (boxes in the image's
    // unit, 0 to 1: detections kept as kEvaluationDetectionOptions keep them, and the true objects),
    // and the average precision finish() computes from them (class_total then counts objects).
    std::vector<std::vector<Detection>> detections;
    std::vector<std::vector<ObjectBox>> objects;
    DetectionMetrics detection;
    // For every (true, predicted) pair with mistakes, its kMistakesPerPair most confident ones
    // (highest probability of the wrong class), ordered by pair, then probability, highest first
    // (ties: the lower index first).
    std::vector<Mistake> mistakes;
    static constexpr std::size_t kMistakesPerPair = 4;

    std::int64_t confusion_at(int true_label, int predicted) const {
        return confusion[static_cast<std::size_t>(true_label * classes + predicted)];
    }
};

}  // namespace convnet
