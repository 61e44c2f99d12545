// `convnet plot`: the training curves of a `train --metrics` file as an SVG, for a run that was
// trained without --plot (or is still running), without training again.
#include "cli.h"

#include <convnet/core/files.h>
#include <convnet/inspect/plot.h>
#include <convnet/io/weights.h>

#include <iostream>

namespace convnet::cli {

namespace {
constexpr const char* kPlotHelp = R"(usage: convnet plot METRICS --output FILE.svg [--eval-name NAME]

Draws the loss and the accuracy per epoch, train and test, from METRICS (the one-JSON-line-per-
epoch file of `convnet train --metrics`) as an SVG with labelled axes; `train --plot FILE.svg`
draws the same while training. A value written as null (a NaN loss) is left out and named
under the chart. When several runs appended to METRICS, the last one is drawn.

options:
  --output FILE.svg  where to write the picture (atomically)
  --eval-name NAME   what the test_* values were measured on, for the legend: test (default),
                     or val for a run trained with --val-split or a val folder
)";
}  // namespace

int run_plot(const std::vector<std::string>& words) {
    const Arguments arguments(words, {"output", "eval-name"}, {"help"}, Positional::any);
    if (arguments.has("help")) {
        std::cout << kPlotHelp;
        return 0;
    }
    if (arguments.positional().size() != 1)
        throw UsageError("expected one metrics file, got " + std::to_string(arguments.positional().size()) +
                         " (usage: convnet plot METRICS --output FILE.svg)");
    const std::string output = arguments.required("output");
    check_svg_output("output", output);
    const std::string metrics = arguments.positional().front();
    const std::vector<EpochMetrics> records = read_metrics(metrics);
    if (records.empty()) throw Error(metrics + ": no epochs recorded yet (train --metrics writes a line after each epoch)");
    write_file_atomically(output, training_curves_svg(records, arguments.text("eval-name", "test")));
    std::cout << "wrote " << output << ": " << records.size() << (records.size() == 1 ? " epoch" : " epochs") << " of " << metrics << "\n";
    return 0;
}

}  // namespace convnet::cli
