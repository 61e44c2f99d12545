// The list "Adding a layer" (docs/CONTRIBUTING.md) as tests, all in the suite AddingALayer: for
// every type of the layer table (src/nn/layer_registry.cpp), each place the list names has its
// entry, and a missing one fails saying what to add where. The gradient case, the PyTorch cases
// and the fast-path row are checked beside their data (test_gradients.cpp,
// tests/reference/test_reference.cpp, test_fast_path.cpp); the rest are here.
#include "test_support.h"

#include <convnet/nn/layer_registry.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace convnet::testing {
namespace {

std::filesystem::path in_source(const std::string& relative) { return std::filesystem::path(CONVNET_SOURCE_DIR) / relative; }

// The one all-layers model holds every registered type.
TEST(AddingALayer, AllLayersModelHasEveryType) {
    const ModelSpec spec = read_model_file(in_source(kAllLayersModel));
    std::set<std::string> types;
    for (const LayerLine& line : spec.layers) types.insert(line.type);
    for (const LayerType& type : layer_types())
        EXPECT_TRUE(types.count(std::string(type.name)))
            << "layer type '" << type.name << "' is not in the all-layers model: add a `" << type.name
            << "` line, with options away from their defaults, to " << kAllLayersModel;
}

}  // namespace
}  // namespace convnet::testing
