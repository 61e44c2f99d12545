// `convnet summary`: prints a model file's layer table, totals and warnings (docs/SUMMARY.md), as
// text or JSON. It checks the model without allocating weights or reading any data.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/nn/network.h>
#include <convnet/inspect/summary.h>

#include <iostream>

namespace convnet::cli {

namespace {
constexpr const char* kSummaryHelp = R"(usage: convnet summary MODEL_FILE [--format text|json]

Works each layer of MODEL_FILE through its output-size formula and prints, per layer: the input
and output volumes (width×height×depth), the formula with its numbers, the learnable parameters
and the multiply-adds per image; then what parameter sharing saves in each convolution, the
totals (parameters, memory, multiply-adds for inference and a training step) and a warning for
each window whose (W − F + 2P)/S is not whole. An invalid model fails with its file, line and
the formula that failed. No weights are allocated and no data is read. Columns: docs/SUMMARY.md.

options:
  --format F   text (default) or json (one object, for scripts)
)";
}  // namespace

int run_summary(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"format"}, {"help"}, Positional::any);
    if (arguments.has("help")) {
        std::cout << kSummaryHelp;
        return 0;
    }
    const std::string format = arguments.text("format", "text");
    if (format != "text" && format != "json") throw UsageError("option --format " + format + ": expected text or json");
    if (arguments.positional().size() != 1)
        throw UsageError("expected one model file, got " + std::to_string(arguments.positional().size()) +
                         " (usage: convnet summary MODEL_FILE [--format text|json])");
    const ModelSummary summary = summarize_model(read_model_file(arguments.positional().front()));
    std::cout << (format == "json" ? format_summary_json(summary) : format_summary_text(summary));
    return 0;
}

}  // namespace convnet::cli
