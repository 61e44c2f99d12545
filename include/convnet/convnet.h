// Everything the library offers, in one include: `#include <convnet/convnet.h>`. The headers
// come floor by floor, from the leaves (core) to the top (inspect); docs/DESIGN.md, "Layout",
// says what each part holds. A test (tests/unit/test_layering.cpp) keeps this list complete.
#pragma once

#include <convnet/core/attribute.h>
#include <convnet/core/distributed.h>
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/format.h>
#include <convnet/core/memory.h>
#include <convnet/core/random.h>
#include <convnet/core/tensor.h>
#include <convnet/core/threads.h>
#include <convnet/core/version.h>
#include <convnet/core/window.h>

#include <convnet/data/augmentation.h>
#include <convnet/data/cifar.h>
#include <convnet/data/data.h>
#include <convnet/data/dataset.h>
#include <convnet/data/detection_folder.h>
#include <convnet/data/image.h>
#include <convnet/data/image_folder.h>
#include <convnet/data/segmentation_folder.h>

#include <convnet/nn/arena.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/detection.h>
#include <convnet/nn/detection_loss.h>
#include <convnet/nn/executor.h>
#include <convnet/nn/layer.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/layers/add.h>
#include <convnet/nn/layers/avgpool2d.h>
#include <convnet/nn/layers/batchnorm.h>
#include <convnet/nn/layers/concat.h>
#include <convnet/nn/layers/conv2d.h>
#include <convnet/nn/layers/convtranspose2d.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/layers/dropout.h>
#include <convnet/nn/layers/elementwise.h>
#include <convnet/nn/layers/flatten.h>
#include <convnet/nn/layers/gausspool2d.h>
#include <convnet/nn/layers/globalavgpool2d.h>
#include <convnet/nn/layers/join.h>
#include <convnet/nn/layers/l2pool2d.h>
#include <convnet/nn/layers/leakyrelu.h>
#include <convnet/nn/layers/linear.h>
#include <convnet/nn/layers/maxpool2d.h>
#include <convnet/nn/layers/pool_window.h>
#include <convnet/nn/layers/relu.h>
#include <convnet/nn/layers/sigmoid.h>
#include <convnet/nn/layers/softmax.h>
#include <convnet/nn/layers/tanh.h>
#include <convnet/nn/layers/upsample2d.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/nn/plan.h>

#include <convnet/io/onnx.h>
#include <convnet/io/safetensors.h>
#include <convnet/io/weights.h>

#include <convnet/train/checkpoint.h>
#include <convnet/train/evaluation.h>
#include <convnet/train/optim.h>
#include <convnet/train/preflight.h>
#include <convnet/train/run_config.h>
#include <convnet/train/task.h>
#include <convnet/train/trainer.h>

#include <convnet/inspect/detection_picture.h>
#include <convnet/inspect/explain.h>
#include <convnet/inspect/image_kernels.h>
#include <convnet/inspect/plot.h>
#include <convnet/inspect/segmentation.h>
#include <convnet/inspect/summary.h>
#include <convnet/inspect/visualize.h>
