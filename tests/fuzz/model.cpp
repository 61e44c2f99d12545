// Fuzz target: the model-file text. Whatever parses and plans must also survive the round trip
// that weights files rely on (their "model" metadata is format_model's text): format_model of the
// plan, parsed and planned again, formats to the same text.
#include "fuzz_support.h"

#include <convnet/nn/network.h>

#include <cstdio>
#include <cstdlib>

namespace convnet::fuzz {

void model(std::string_view input) {
    const ModelSpec spec = parse_model(std::string(input), "fuzz.model");
    const std::vector<LayerPlan> plans = plan_model(spec);
    const std::string text = format_model(plans, spec.input);
    const ModelSpec again = parse_model(text, "formatted.model");
    const std::string text_again = format_model(plan_model(again), again.input);
    if (text_again != text) {
        std::fprintf(stderr, "format_model is not stable under parse_model:\n--- first\n%s--- second\n%s", text.c_str(),
                     text_again.c_str());
        std::abort();
    }
}

}  // namespace convnet::fuzz
