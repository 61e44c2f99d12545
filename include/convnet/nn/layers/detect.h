// The detection head (docs/DETECTION.md): a convolution that scores every cell of the last
// feature map's grid with a box, an objectness and the classes, as YOLO's head does — one stride,
// anchor-free. `detect classes=K` in a model file; the output (N, 5 + K, GH, GW) is raw (logits), so
// the loss (detection_loss.h) and ONNX export see the same numbers; decode_detections turns it into
// boxes.
//
// Channel layout of each cell (i, j), as YOLOv5's: 0 tx, 1 ty, 2 tw, 3 th, 4 objectness, 5… the
// K class scores. With the network input H×W and the grid GH×GW (stride H/GH, W/GW), cell (i, j)'s
// box in input pixels is
//   centre x = (j + σ(tx))·W/GW,  centre y = (i + σ(ty))·H/GH,  width = σ(tw)·W,  height = σ(th)·H,
// its score σ(objectness)·softmax(class scores)[k] for its most likely class k. The centre stays in
// its cell and the size in (0, image): bounded, so no exp() can overflow and no anchors need tuning.
#pragma once

#include <convnet/nn/detection.h>
#include <convnet/nn/layers/conv2d.h>

#include <vector>

namespace convnet {

struct DetectOptions {
    std::int64_t in_channels = 1;
    std::int64_t classes = 1;
    std::int64_t kernel_size = 1;  // odd: padded by kernel_size / 2, so the grid is the input's
    // The loss's gains (detection_loss.h), kept with the head as Darknet's [yolo] section keeps its own.
    double box_weight = 5.0;
    double objectness_weight = 1.0;
    double class_weight = 1.0;
};

class Detect : public Conv2d {
public:
    static constexpr std::int64_t kBoxChannels = 5;  // tx, ty, tw, th, objectness
    // Throws convnet::Error for an even kernel or classes < 1.
    explicit Detect(const DetectOptions& options);

    std::string type() const override { return "detect"; }
    std::vector<Attribute> attributes() const override;
    // Conv2d's initialisation, then the objectness bias at log(0.01 / 0.99), so that every cell
    // starts out 1% sure of an object (the prior of Lin et al. 2017, RetinaNet): the many empty
    // cells then do not swamp the first steps' loss.
    void initialize(Random& random) override;
    const DetectOptions& detect_options() const { return detect_options_; }

private:
    DetectOptions detect_options_;
};

// The head's output of a batch read as boxes: for image n of `head` (N, 5 + K, GH, GW) from an
// input of input_height×input_width pixels, every cell's box (in input pixels, as the layout above),
// its score and class, those scoring below options.score_threshold dropped, batched_nms at
// options.iou_threshold, at most options.max_detections kept, by decreasing score. Throws
// convnet::Error when the head has fewer than 6 channels.
std::vector<std::vector<Detection>> decode_detections(const Tensor& head, std::int64_t input_height, std::int64_t input_width,
                                                      const DetectionOptions& options);

// One cell's raw scores decoded (what explain shows when a cell is clicked): the box in input
// pixels, σ(objectness), and the K class probabilities.
struct CellPrediction {
    Box box;
    float objectness = 0.0f;
    std::vector<float> class_probabilities;
};
CellPrediction decode_cell(const Tensor& head, std::int64_t n, std::int64_t row, std::int64_t column, std::int64_t input_height,
                           std::int64_t input_width);

}  // namespace convnet
