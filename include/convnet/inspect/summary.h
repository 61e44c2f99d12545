// What `convnet summary` shows, as data: each layer's shapes, output-size formula, parameters and
// multiply-adds, the model's totals and rounding warnings. Built from a ModelSpec without weights.
#pragma once

#include <convnet/nn/costs.h>
#include <convnet/nn/plan.h>

#include <cstdint>
#include <string>
#include <vector>

namespace convnet {

// One row of the table: a layer with its shapes for a batch of one image.
struct SummaryRow {
    std::string name;                   // "conv1"
    std::string type;                   // "conv2d"
    std::string options;                // "out=16 kernel=5 pad=2", as a model-file line writes them
    std::vector<Attribute> attributes;  // every option, defaults too, under PyTorch's keywords
    int line = 0;                       // in the model file
    Shape input, output;                // batch of one: (1, C, H, W) or (1, F); input: the first input's
    std::vector<std::string> inputs;    // the names of the layers it reads ("input": the network's)
    std::vector<Shape> input_shapes;    // batch of one, one per input
    // The output-size rule with the numbers put in: "(28 − 5 + 2·2)/1 + 1 = 28" for convolution
    // and pooling, "(7 − 1)·2 − 2·0 + 1·(2 − 1) + 0 + 1 = 14" for convtranspose2d, "14·2 = 28" for
    // upsample2d, "7·7·32 = 1568" for flatten; "" for shape-preserving and unknown layer types.
    std::string formula;
    std::int64_t trainable_parameters = 0;  // updated by the optimiser
    std::int64_t buffer_parameters = 0;     // saved but not trained (batch norm's running statistics)
    std::int64_t multiply_adds = 0;         // one forward pass of one image (Layer::multiply_adds)
    // Convolutions only (0 elsewhere): the weights and biases of a fully connected layer mapping
    // the same input volume to the same output volume, in·out + out, and how many times more
    // that is than the convolution's own parameters (what sharing and local connectivity save).
    std::int64_t fully_connected_parameters = 0;
    double sharing_ratio = 0.0;
};

// A window (convolution or pooling) whose (W − F + 2P)/S is not whole along an axis: PyTorch
// rounds down, so the last rows or columns of the input never fall under a window.
struct SummaryWarning {
    std::string layer;  // "conv1"
    int line = 0;
    std::string axis;                 // "height", "width" or "height and width"
    std::int64_t unseen_rows = 0;     // of the real input (padding excluded), bottom edge
    std::int64_t unseen_columns = 0;  // right edge
    std::string message;              // the whole warning, with the values that would fit
};

// The plan's costs per image (nn/costs.h), with what training with Adam holds per parameter.
struct SummaryTotals : PlanCosts {
    std::int64_t training_parameter_bytes = 0;  // a value, a gradient and Adam's 2 moments per trainable value
};

struct ModelSummary {
    std::string source;  // the model file, for messages
    Shape input;         // (C, H, W) or (F), as the `input` line writes it
    std::vector<SummaryRow> rows;
    SummaryTotals totals;
    std::vector<SummaryWarning> warnings;
};

// Plans `spec` (plan_model: every shape checked, no weights allocated) and works out the table.
// Throws convnet::Error "FILE:LINE: ..." naming the failing formula for an invalid model.
ModelSummary summarize_model(const ModelSpec& spec);

// Volumes as the seed articles write them, width × height × depth: "28×28×16"; "1568" for features.
std::string volume_text(const Shape& shape_with_batch);

// A table for a terminal (UTF-8, columns aligned), with totals and warnings after it.
std::string format_summary_text(const ModelSummary& summary);
// The same content as one JSON object (keys in docs/SUMMARY.md), for scripts.
std::string format_summary_json(const ModelSummary& summary);

}  // namespace convnet
