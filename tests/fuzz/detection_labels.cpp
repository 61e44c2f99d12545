// Fuzz target: a YOLO label file's text (parse_yolo_labels, which read_detection_folder runs on
// every labels/NAME.txt). Whatever it accepts must be what every user of a detection set assumes.
#include "fuzz_support.h"

#include <convnet/data/detection_folder.h>

#include <cstdio>
#include <cstdlib>

namespace convnet::fuzz {

void detection_labels(std::string_view input) {
    constexpr int kClasses = 3;
    const std::vector<ObjectBox> objects = parse_yolo_labels(input, kClasses, "labels.txt");
    if (objects.size() > kMaxObjectsPerImage) {
        std::fprintf(stderr, "parse_yolo_labels gave %zu objects, more than %zu\n", objects.size(), kMaxObjectsPerImage);
        std::abort();
    }
    for (const ObjectBox& object : objects) {
        const Box& box = object.box;
        // Negated so that NaN fails.
        if (!(box.x1 >= 0.0f && box.x1 < box.x2 && box.x2 <= 1.0f && box.y1 >= 0.0f && box.y1 < box.y2 && box.y2 <= 1.0f) ||
            object.label < 0 || object.label >= kClasses) {
            std::fprintf(stderr, "parse_yolo_labels gave class %d with box (%g, %g, %g, %g)\n", object.label, double(box.x1), double(box.y1),
                         double(box.x2), double(box.y2));
            std::abort();
        }
        // What a center-crop resize makes of it stays inside too.
        for (const ObjectBox& fitted : fit_boxes({&object, 1}, 30, 50, 16, 16, ResizePolicy::center_crop))
            if (!(fitted.box.x1 >= 0.0f && fitted.box.x1 < fitted.box.x2 && fitted.box.x2 <= 1.0f && fitted.box.y1 >= 0.0f &&
                  fitted.box.y1 < fitted.box.y2 && fitted.box.y2 <= 1.0f)) {
                std::fprintf(stderr, "fit_boxes gave a box outside [0, 1] or without area\n");
                std::abort();
            }
    }
}

}  // namespace convnet::fuzz
