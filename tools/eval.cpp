// `convnet eval`: test loss, accuracy and per-class accuracy (segmentation: pixel accuracy and IoU) of saved weights.
#include "cli.h"

#include <convnet/core/files.h>
#include <convnet/data/data.h>
#include <convnet/inspect/plot.h>
#include <convnet/io/weights.h>
#include <convnet/nn/detection.h>
#include <convnet/nn/network.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace convnet::cli {

namespace {
constexpr const char* kEvalHelp = R"(usage: convnet eval --weights W --data DIR [options]

Evaluates weights saved by `convnet train --save` on DIR's test split: loss, accuracy, and the
accuracy of each class by name; for a segmentation model (docs/SEGMENTATION.md) the pixel
accuracy, the mean IoU, and each class's IoU.

options:
  --weights W      weights file (train --save) or checkpoint (train --checkpoint)
  --model FILE     the model file, for weights in convnet's older format (a safetensors file
                   holds its model)
  --data DIR       dataset folder: IDX, CIFAR-10, an image folder, a segmentation or a detection folder
                   (docs/DATA.md); its test split
  --cache DIR|none image folders: the cache of converted images (default $XDG_CACHE_HOME/convnet,
                   else ~/.cache/convnet)
  --skip-bad       image folders: leave out files that cannot be read, listing them
  --batch B        images per forward pass (default 1000)
  --tta flip       also evaluate each image mirrored left to right and average the logits
                   (test-time augmentation, as train --tta; default none)
  --confusion FILE.svg  also the confusion matrix: printed as a table (rows the true class,
                   columns the predicted class) with the most confused pairs and their most
                   confident mistakes (test indices), and drawn as an SVG heat map with
                   thumbnails of those images; for segmentation, of pixels
  --top-confused K how many confused pairs to list and draw (default 5)
  --threads T      threads to use (default: the cores not busy with other work)
  --backend NAME   onednn (the default where every layer has a primitive), onednn-only
                   (oneDNN's primitives without our own kernels) or reference
  --reference      the same as --backend reference: each layer's plain reference code
)";
// Loss, accuracy and each class's accuracy by name.
void print_classification_report(const Dataset& test, const Evaluation& result) {
    std::printf("test images: %lld\ntest loss: %.4f\ntest accuracy: %.4f\n\n%-14s %9s %8s\n", static_cast<long long>(test.count),
                shown(result.loss), result.accuracy, "class", "accuracy", "images");
    for (std::size_t label = 0; label < test.class_names.size(); ++label) {
        const auto total = result.class_total[label];
        std::printf("%-14s %9.4f %8lld\n", test.class_names[label].c_str(),
                    total > 0 ? double(result.class_correct[label]) / double(total) : 0.0, static_cast<long long>(total));
    }
}

// Loss, pixel accuracy, mean IoU, and each class's IoU, pixel accuracy and share of the labelled pixels.
void print_segmentation_report(const Dataset& test, const Evaluation& result) {
    std::int64_t present = 0;
    for (const double iou : result.iou) present += std::isnan(iou) ? 0 : 1;
    std::printf(
        "test images: %lld (%lld labelled pixels)\ntest loss: %.4f\ntest pixel accuracy: %.4f\ntest mIoU: %.4f (mean over the %lld "
        "classes in the truth or the predictions)\n\n%-14s %8s %9s %10s\n",
        static_cast<long long>(test.count), static_cast<long long>(result.counted), shown(result.loss), result.accuracy,
        shown(result.mean_iou), static_cast<long long>(present), "class", "IoU", "accuracy", "pixels");
    for (std::size_t label = 0; label < test.class_names.size(); ++label) {
        const auto total = result.class_total[label];
        char iou[16] = "absent";  // in neither the truth nor the predictions
        if (!std::isnan(result.iou[label])) std::snprintf(iou, sizeof(iou), "%.4f", result.iou[label]);
        std::printf("%-14s %8s %9.4f %10lld\n", test.class_names[label].c_str(), iou,
                    total > 0 ? double(result.class_correct[label]) / double(total) : 0.0, static_cast<long long>(total));
    }
}

// Loss, mAP@0.5 and COCO mAP, and each class's AP (over IoU 0.50:0.95), AP@0.5, precision and
// recall at IoU 0.5 among the detections predict would draw (score ≥ 0.25), and its objects.
void print_detection_report(const Dataset& test, const Evaluation& result) {
    const DetectionMetrics& metrics = result.detection;
    const auto number = [](double value) {
        char text[16] = "-";  // no objects of the class (AP, recall) or no detections (precision)
        if (!std::isnan(value)) std::snprintf(text, sizeof(text), "%.4f", value);
        return std::string(text);
    };
    std::printf("test images: %lld (%lld objects)\ntest loss: %.4f\ntest mAP@0.5: %s\n", static_cast<long long>(test.count),
                static_cast<long long>(result.counted), shown(result.loss), number(metrics.map50).c_str());
    std::printf("test mAP@[.5:.95]: %s (COCO's AP: the mean over IoU 0.50, 0.55, ..., 0.95)\n\n", number(metrics.map).c_str());
    std::printf("precision and recall at IoU 0.5 for detections scoring at least %.2f\n%-14s %8s %8s %9s %8s %8s %10s\n",
                DetectionOptions{}.score_threshold, "class", "AP", "AP@0.5", "precision", "recall", "objects", "detections");
    for (std::size_t label = 0; label < test.class_names.size() && label < metrics.ap.size(); ++label)
        std::printf("%-14s %8s %8s %9s %8s %8lld %10lld\n", test.class_names[label].c_str(), number(metrics.ap[label]).c_str(),
                    number(metrics.ap50[label]).c_str(), number(metrics.precision[label]).c_str(), number(metrics.recall[label]).c_str(),
                    static_cast<long long>(metrics.objects[label]), static_cast<long long>(metrics.detected[label]));
}

}  // namespace

int run_eval(const std::vector<std::string>& words) {
    const Arguments arguments(words,
                              {"model", "weights", "data", "batch", "threads", "backend", "cache", "confusion", "top-confused", "tta"},
                              {"help", "reference", "skip-bad"});
    if (arguments.has("help")) {
        std::cout << kEvalHelp;
        return 0;
    }
    const auto top_confused = static_cast<std::size_t>(arguments.integer("top-confused", 5, 0, 100));
    if (arguments.has("top-confused") && !arguments.has("confusion"))
        throw UsageError("option --top-confused: give --confusion FILE.svg too, the picture it is for");
    if (arguments.has("confusion")) check_svg_output("confusion", arguments.required("confusion"));
    const TestTimeAugmentation test_time_augmentation = test_time_augmentation_option(arguments);
    apply_threads(arguments);
    WeightsMetadata stored_weights;
    const std::unique_ptr<Network> network = load_trained_network(arguments, &stored_weights);
    // Images prepared as in training: the weights file's resize policy, mean and std.
    const Preprocessing& preprocessing = stored_weights.preprocessing;
    const Dataset test = load_data(arguments.required("data"), "test", data_options(arguments, *network, preprocessing.resize));
    if (const std::vector<std::string>& stored = stored_weights.class_names; !stored.empty() && stored != test.class_names)
        std::cerr << "warning: the weights were trained on classes named " << stored.front() << ", ... but " << arguments.required("data")
                  << " names them " << (test.class_names.empty() ? std::string("(none)") : test.class_names.front())
                  << ", ...: another dataset?\n";
    const std::int64_t batch = arguments.integer("batch", 1000, 1, 65536);
    check_inference_memory(*network, std::min(batch, test.count), "evaluating at --batch " + std::to_string(batch));
    if (test_time_augmentation == TestTimeAugmentation::flip && !task_for(test.task()).averages_mirrored_outputs())
        throw UsageError(
            "option --tta flip: averages the outputs of an image and its mirror, which means nothing for a "
            "detector: its cells hold box offsets, not scores alone (use --tta none)");
    if (test.task() == TaskKind::detect && arguments.has("confusion"))
        throw UsageError(
            "option --confusion: a confusion matrix counts images or pixels by class; a detector's errors are misses and "
            "false detections, which the per-class precision and recall below report");
    const Evaluation result = evaluate(*network, test, batch, preprocessing, nullptr, test_time_augmentation);
    switch (result.task) {
        case TaskKind::classify:
            print_classification_report(test, result);
            break;
        case TaskKind::segment:
            print_segmentation_report(test, result);
            break;
        case TaskKind::detect:
            print_detection_report(test, result);
            break;
    }
    if (arguments.has("confusion")) {
        const std::string picture = arguments.required("confusion");
        std::cout << "\n" << confusion_table_text(result, test.class_names, top_confused);
        // Thumbnails show the mistaken images a classifier keeps; segmentation keeps none.
        const Dataset* thumbnails = result.task == TaskKind::classify ? &test : nullptr;
        write_file_atomically(picture, confusion_svg(result, test.class_names, thumbnails, top_confused));
        std::cout << "\nwrote " << picture << "\n";
    }
    return 0;
}

}  // namespace convnet::cli
