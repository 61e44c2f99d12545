// What the detection task shows of a prediction (docs/DETECTION.md, "Predicting"): boxes mapped
// from the network's input back onto the picture it was fitted from, and the picture with its boxes
// drawn and labelled. Not the decoding (layers/detect.h) nor the box arithmetic (detection.h).
#pragma once

#include <convnet/nn/detection.h>
#include <convnet/data/image.h>
#include <convnet/inspect/visualize.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// `box` in the pixels of a height×width network input, which to_network_input made from a picture
// of image_height×image_width by `policy`, in that picture's pixels: the input's point u (normalised
// to the input) is the picture's window.x1 + u·window.width() (likewise y) with window =
// network_input_window (detection_folder.h) — under stretch x·image_width/width and
// y·image_height/height, under center_crop through the kept window of the resized picture — then
// clipped to [0, image_width]×[0, image_height] (a decoded box may reach past the input's edge).
// Throws convnet::Error for a size below 1.
Box box_in_picture(const Box& box, std::int64_t height, std::int64_t width, std::int64_t image_height, std::int64_t image_width,
                   ResizePolicy policy);

// `detections` (decode_detections' boxes, in input pixels) with box_in_picture applied to each;
// scores, labels and order kept.
std::vector<Detection> detections_in_picture(std::span<const Detection> detections, std::int64_t height, std::int64_t width,
                                             std::int64_t image_height, std::int64_t image_width, ResizePolicy policy);

// The colour of detection class k: segmentation's class_palette() entry k + 1 (Pascal VOC's map
// without its black, so that class 0 shows; the digits then wear M2NIST's colours).
Rgb detection_colour(int label);

// names[label] when there is one, else the label's number (a model with more classes than names).
std::string detection_class_name(int label, const std::vector<std::string>& names);

// `image` (channels, height, width) in [0, 1], grey or RGB, enlarged `scale` times (a picture of
// width·scale × height·scale, nothing around it), with each detection's box (in the image's pixels)
// outlined inside its edges in detection_colour, a one-pixel white rim just outside (the palette's
// dark reds would not show on a black picture without it), and tagged over its top-left corner with
// "NAME 0.93" (the class name, else its index, and the score) in the 5x7 font, white or black on
// the box's colour, whichever reads better; the tag goes inside the box where there is no room
// above it. The best-scoring box is drawn last, on top. The line and the font grow with the picture.
Picture detection_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                          std::span<const Detection> detections, const std::vector<std::string>& names, std::int64_t scale = 1);

// Two panels side by side, each as detection_picture draws it, with a caption over each: "truth"
// (the true boxes, in the image's pixels, tagged with their names alone) and "prediction".
Picture detection_comparison_picture(const float* image, std::int64_t channels, std::int64_t height, std::int64_t width,
                                     std::span<const ObjectBox> truth, std::span<const Detection> detections,
                                     const std::vector<std::string>& names, std::int64_t scale = 1);

}  // namespace convnet
