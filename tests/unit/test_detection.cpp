// Tests of the detection task's own parts: the detect head (its model-file form, prior and
// shape checks), decoding with NMS, the cell assignment, the loss's gradient against finite
// differences, boxes moved with their images, and a small detector trained end to end.
#include <convnet/nn/detection_loss.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/network.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <cmath>

namespace convnet {
namespace {

using testing::expect_error;

double logit(double p) { return std::log(p / (1.0 - p)); }

// A head (1, 5 + classes, grid, grid) of zeros with very negative objectness everywhere.
Tensor empty_head(std::int64_t classes, std::int64_t grid) {
    Tensor head(Shape{1, 5 + classes, grid, grid});
    head.fill(0.0f);
    for (std::int64_t cell = 0; cell < grid * grid; ++cell) head[4 * grid * grid + cell] = -20.0f;
    return head;
}

// Sets cell (row, column) of image 0 to predict `box` (in the image's unit) of class `label`
// with objectness probability `objectness`: the inverse of detect.h's decoding.
void predict_in_cell(Tensor& head, std::int64_t row, std::int64_t column, const Box& box, int label, double objectness) {
    const std::int64_t grid_height = head.shape()[2], grid_width = head.shape()[3], cells = grid_height * grid_width;
    const std::int64_t cell = row * grid_width + column;
    const double centre_x = 0.5 * (box.x1 + box.x2) * double(grid_width) - double(column);
    const double centre_y = 0.5 * (box.y1 + box.y2) * double(grid_height) - double(row);
    head[0 * cells + cell] = static_cast<float>(logit(centre_x));
    head[1 * cells + cell] = static_cast<float>(logit(centre_y));
    head[2 * cells + cell] = static_cast<float>(logit(box.x2 - box.x1));
    head[3 * cells + cell] = static_cast<float>(logit(box.y2 - box.y1));
    head[4 * cells + cell] = static_cast<float>(logit(objectness));
    head[(5 + label) * cells + cell] = 12.0f;
}

TEST(DetectHead, ModelFileFormShapeAndPrior) {
    Network network(parse_model("input 1x16x16\nconv2d out=4 kernel=3 pad=1\nmaxpool2d kernel=4\ndetect classes=3\n", "head.model"));
    network.initialize(1);
    const LayerPlan& head = network.layer_plan(network.layer_count() - 1);
    EXPECT_EQ(head.output, (Shape{1, 8, 4, 4}));
    EXPECT_EQ(head.name, "detect1");
    // Written back as it was read; the gains and kernel at their defaults are left out.
    EXPECT_NE(format_model(network.layer_plans(), network.sample_shape()).find("detect classes=3\n"), std::string::npos);
    const auto* detect = dynamic_cast<const Detect*>(&network.layer(network.layer_count() - 1));
    ASSERT_NE(detect, nullptr);
    EXPECT_NEAR(detect->bias()->value[4], std::log(0.01 / 0.99), 1e-6);  // 1% objectness at the start
    EXPECT_EQ(detect->weight().shape, (Shape{8, 4, 1, 1}));
    Network wide(parse_model("input 1x16x16\nconv2d out=4 kernel=3 pad=1\ndetect classes=2 kernel=3 box_weight=2.5\n", "wide.model"));
    EXPECT_EQ(wide.layer_plan(1).output, (Shape{1, 7, 16, 16}));  // padded: the grid keeps its size
    EXPECT_NE(format_model(wide.layer_plans(), wide.sample_shape()).find("detect classes=2 kernel=3 box_weight=2.5"), std::string::npos);
    expect_error([] { Network(parse_model("input 1x16x16\nconv2d out=4 kernel=3\ndetect classes=2 kernel=2\n", "even.model")); },
                 {"even.model:3", "odd"});
    expect_error([] { Network(parse_model("input 1x16x16\nconv2d out=4 kernel=3\ndetect\n", "none.model")); },
                 {"none.model:3", "classes="});
    expect_error([] { Network(parse_model("input 16\nlinear out=4\ndetect classes=2\n", "flat.model")); }, {"flat.model:3", "rank 4"});
}

TEST(DetectHead, DecodingGivesPixelBoxesAndSuppressesDuplicates) {
    Tensor head = empty_head(3, 4);                                        // a 4×4 grid over a 32×64 input: cells 8 high, 16 wide
    predict_in_cell(head, 1, 1, Box{0.20f, 0.30f, 0.70f, 0.60f}, 2, 0.9);  // centre (0.45, 0.45)
    predict_in_cell(head, 1, 2, Box{0.26f, 0.30f, 0.76f, 0.60f}, 2, 0.6);  // the same object again (IoU 0.79): suppressed
    predict_in_cell(head, 2, 1, Box{0.20f, 0.36f, 0.70f, 0.66f}, 1, 0.5);  // overlapping, of another class: kept
    predict_in_cell(head, 3, 3, Box{0.80f, 0.80f, 0.95f, 0.95f}, 0, 0.1);  // below the threshold
    const std::vector<std::vector<Detection>> detections = decode_detections(head, 32, 64, DetectionOptions{});
    ASSERT_EQ(detections.size(), 1u);
    ASSERT_EQ(detections[0].size(), 2u);
    const Detection& best = detections[0][0];
    EXPECT_EQ(best.label, 2);
    EXPECT_NEAR(best.score, 0.9, 1e-4);  // objectness × class probability ≈ 1
    EXPECT_NEAR(best.box.x1, 0.20 * 64, 1e-3);
    EXPECT_NEAR(best.box.y1, 0.30 * 32, 1e-3);
    EXPECT_NEAR(best.box.x2, 0.70 * 64, 1e-3);
    EXPECT_NEAR(best.box.y2, 0.60 * 32, 1e-3);
    EXPECT_EQ(detections[0][1].label, 1);
    DetectionOptions strict;
    strict.score_threshold = 0.7;
    EXPECT_EQ(decode_detections(head, 32, 64, strict)[0].size(), 1u);
    strict.score_threshold = 0.0;
    strict.max_detections = 3;
    EXPECT_EQ(decode_detections(head, 32, 64, strict)[0].size(), 3u);
}

TEST(DetectionLoss, ObjectsBelongToTheCellOfTheirCentreTheLargerWinning) {
    const std::vector<ObjectBox> objects = {
        {Box{0.0f, 0.0f, 0.2f, 0.2f}, 0},    // centre (0.1, 0.1): cell (0, 0)
        {Box{0.9f, 0.9f, 1.0f, 1.0f}, 1},    // centre (0.95, 0.95): the last cell
        {Box{0.02f, 0.0f, 0.18f, 0.3f}, 2},  // centre (0.1, 0.15): cell (0, 0) again, and larger
        {Box{0.5f, 0.5f, 1.0f, 1.0f}, 1},    // centre (0.75, 0.75) on a cell edge of a 4-grid: cell (3, 3)
    };
    const std::vector<std::int64_t> owner = assign_cells(objects, 4, 4);
    EXPECT_EQ(owner[0], 2);   // 0.16 × 0.3 = 0.048 beats 0.2 × 0.2 = 0.04
    EXPECT_EQ(owner[15], 3);  // 0.25 beats 0.01
    EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 14);
}

TEST(DetectionLoss, AnExactBoxHasNoBoxLoss) {
    Tensor head = empty_head(2, 3);
    const Box box{0.1f, 0.2f, 0.5f, 0.6f};
    predict_in_cell(head, 1, 0, box, 1, 0.5);
    const std::vector<ObjectBox> objects = {{box, 1}};
    const std::vector<std::int64_t> offsets = {0, 1};
    const LossResult boxes_only = detection_loss(head, objects, offsets, nullptr, DetectionLossOptions{1.0, 0.0, 0.0});
    EXPECT_NEAR(boxes_only.loss, 0.0, 1e-6);
    EXPECT_EQ(boxes_only.counted, 1);
    EXPECT_EQ(boxes_only.correct, 1);
    // Objectness 0.5 at the object's cell, ~0 elsewhere: −log 0.5 over one object.
    EXPECT_NEAR(detection_loss(head, objects, offsets, nullptr, DetectionLossOptions{0.0, 1.0, 0.0}).loss, std::log(2.0), 1e-5);
}

// The whole loss (every term, two images, two objects sharing a cell, an image without objects)
// against central differences.
TEST(DetectionLoss, GradientMatchesFiniteDifferences) {
    Tensor head(Shape{3, 5 + 3, 3, 4});
    for (std::int64_t i = 0; i < head.size(); ++i) head[i] = static_cast<float>(std::sin(0.37 * double(i) + 0.2) * 1.5);
    const std::vector<ObjectBox> objects = {
        {Box{0.1f, 0.1f, 0.3f, 0.5f}, 0},
        {Box{0.6f, 0.2f, 0.9f, 0.4f}, 2},
        {Box{0.12f, 0.15f, 0.2f, 0.3f}, 1},  // image 0
        {Box{0.4f, 0.5f, 0.8f, 0.95f}, 1},   // image 1
    };                                       // image 2 has none
    const std::vector<std::int64_t> offsets = {0, 3, 4, 4};
    const DetectionLossOptions options{5.0, 1.0, 1.0};
    Tensor grad;
    const LossResult result = detection_loss(head, objects, offsets, &grad, options);
    EXPECT_EQ(result.counted, 3);  // two of image 0's objects share a cell
    EXPECT_EQ(result.denominator, 3.0);
    double largest_error = 0.0;
    for (std::int64_t i = 0; i < head.size(); ++i) {
        const float saved = head[i];
        const double step = 1e-3;
        head[i] = saved + static_cast<float>(step);
        const double up = detection_loss(head, objects, offsets, nullptr, options).loss;
        head[i] = saved - static_cast<float>(step);
        const double down = detection_loss(head, objects, offsets, nullptr, options).loss;
        head[i] = saved;
        const double numeric = (up - down) / (2 * step);
        largest_error = std::max(largest_error, std::abs(grad[i] - numeric));
        EXPECT_NEAR(grad[i], numeric, 5e-4) << "head value " << i;
    }
    RecordProperty("largest_error", std::to_string(largest_error));
    expect_error([&] { detection_loss(head, objects, std::vector<std::int64_t>{0, 4}, nullptr, options); }, {"offsets"});
    const std::vector<ObjectBox> bad = {{Box{0.1f, 0.1f, 0.2f, 0.2f}, 3}};
    expect_error([&] { detection_loss(head, bad, std::vector<std::int64_t>{0, 1, 1, 1}, nullptr, options); }, {"class 3", "3 classes"});
}

TEST(DetectTask, BoxesMoveWithTheirImagesAndLeaveWhenMostlyCut) {
    Dataset dataset = testing::generated_detection_dataset(1, 1);
    dataset.boxes = {{Box{0.0f, 0.25f, 0.25f, 0.5f}, 0}, {Box{0.5f, 0.5f, 0.75f, 0.75f}, 1}};
    dataset.box_offsets = {0, 2};
    const Task& task = task_for(TaskKind::detect);
    Targets mirrored, shifted;
    const AugmentationDraw mirror{4, 4, true};  // padding 4: (4, 4) is no shift
    task.append_targets(dataset, 0, &mirror, 4, mirrored);
    ASSERT_EQ(mirrored.boxes.size(), 2u);
    EXPECT_FLOAT_EQ(mirrored.boxes[0].box.x1, 0.75f);
    EXPECT_FLOAT_EQ(mirrored.boxes[0].box.x2, 1.0f);
    EXPECT_FLOAT_EQ(mirrored.boxes[1].box.x1, 0.25f);
    EXPECT_EQ(mirrored.box_offsets, (std::vector<std::int64_t>{0, 2}));
    // crop_x 8 with padding 4: the image moves 4 pixels (1/6) left. The first box keeps 2 of its
    // 6 pixels' width (a third, under 40%): dropped. The second moves, whole.
    const AugmentationDraw shift{4, 8, false};
    task.append_targets(dataset, 0, &shift, 4, shifted);
    ASSERT_EQ(shifted.boxes.size(), 1u);
    EXPECT_EQ(shifted.boxes[0].label, 1);
    EXPECT_NEAR(shifted.boxes[0].box.x1, 0.5 - 4.0 / 24, 1e-6);
    EXPECT_NEAR(shifted.boxes[0].box.x2, 0.75 - 4.0 / 24, 1e-6);
    // Cut to half by a shift the other way (crop_x 0: 4 pixels right): kept, clipped.
    dataset.boxes[1].box = Box{0.75f, 0.5f, 1.0f, 0.75f};
    Targets clipped;
    const AugmentationDraw right{4, 1, false};  // 3 pixels right: 3 of 6 pixels out
    task.append_targets(dataset, 0, &right, 4, clipped);
    ASSERT_EQ(clipped.boxes.size(), 2u);
    EXPECT_NEAR(clipped.boxes[1].box.x1, 0.75 + 3.0 / 24, 1e-6);
    EXPECT_FLOAT_EQ(clipped.boxes[1].box.x2, 1.0f);
}

// A small detector finds the squares: the trainer, the head, the loss, decoding and mAP.
TEST(DetectTask, TrainsAndEvaluatesAveragePrecision) {
    const Dataset train = testing::generated_detection_dataset(300, 1), test = testing::generated_detection_dataset(60, 2);
    EXPECT_EQ(train.task(), TaskKind::detect);
    Network network(
        parse_model("input 1x24x24\nconv2d out=8 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
                    "conv2d out=16 kernel=3 pad=1\nbatchnorm2d\nrelu\nmaxpool2d kernel=2\n"
                    "conv2d out=16 kernel=3 pad=2 dilation=2\nbatchnorm2d\nrelu\ndetect classes=2\n",
                    "squares.model"));
    network.initialize(1);
    AdamOptions options;
    options.learning_rate = 0.01;
    Adam adam(options);
    Trainer trainer(network, adam, 20, 1);
    FitOptions fit;
    fit.epochs = 10;
    const FitResult result = trainer.fit(train, test, fit);
    EXPECT_EQ(result.last.task, TaskKind::detect);
    std::printf("squares: mAP@0.5 %.4f, mAP %.4f\n", result.last.detection.map50, result.last.detection.map);
    EXPECT_GT(result.last.detection.map50, 0.9);
    EXPECT_GT(result.last.detection.map, 0.35);
    EXPECT_EQ(result.last.accuracy, result.last.detection.map50);
    EXPECT_EQ(result.last.counted, static_cast<std::int64_t>(test.boxes.size()));
    const std::string line = epoch_metrics_json(EpochResult{.epoch = 1, .task = TaskKind::detect}, &result.last);
    for (const char* key : {"\"train_class_accuracy\"", "\"test_map50\"", "\"test_map\""})
        EXPECT_NE(line.find(key), std::string::npos) << line;
    // The cross-entropy's options have no meaning for the detection loss: refused, not ignored.
    Trainer smoothed(network, adam, 20, 1);
    FitOptions smoothing = fit;
    smoothing.epochs = 1;
    smoothing.label_smoothing = 0.1;
    expect_error([&] { smoothed.fit(train, test, smoothing); }, {"label smoothing", "detect line"});
    // Test-time flip is refused: a mirrored head's offsets are not a mirrored answer.
    expect_error([&] { evaluate(network, test, 20, {}, nullptr, TestTimeAugmentation::flip); }, {"flip", "detect"});
}

TEST(DetectTask, ModelsThatCannotDetectAreRefusedSayingWhy) {
    const Dataset data = testing::generated_detection_dataset(4, 1);
    const auto refused = [&](const char* model, std::initializer_list<std::string> parts) {
        Network network(parse_model(model, "m.model"));
        expect_error([&] { check_compatible(network, data, "training"); }, parts);
    };
    refused("input 1x24x24\nconv2d out=7 kernel=1\n", {"detection head", "detect classes=2"});
    refused("input 1x24x24\nconv2d out=4 kernel=3 stride=5\ndetect classes=2\n", {"5x5 cells", "does not tile"});
    refused("input 1x24x24\nconv2d out=4 kernel=1\ndetect classes=1\n", {"scores 1 classes", "classes=2"});
    refused("input 1x20x24\nconv2d out=4 kernel=1\ndetect classes=2\n", {"input is"});
}

}  // namespace
}  // namespace convnet
