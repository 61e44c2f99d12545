// The list "Adding a layer" (docs/CONTRIBUTING.md) as tests, all in the suite AddingALayer: for
// every type of the layer table (src/nn/layer_registry.cpp), each place the list names has its
// entry, and a missing one fails saying what to add where. The gradient case, the PyTorch cases
// and the fast-path row are checked beside their data (test_gradients.cpp,
// tests/reference/test_reference.cpp, test_fast_path.cpp); the rest are here.
#include "test_support.h"

#include <convnet/io/onnx.h>
#include <convnet/nn/layer_registry.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>

namespace convnet::testing {
namespace {

std::filesystem::path in_source(const std::string& relative) { return std::filesystem::path(CONVNET_SOURCE_DIR) / relative; }

std::string file_text(const std::filesystem::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

// Step 1: every row's file pair exists.
TEST(AddingALayer, FilePairPerType) {
    for (const LayerType& type : layer_types()) {
        const std::string file(type.file);
        for (const std::string& path : {"include/convnet/nn/layers/" + file + ".h", "src/nn/layers/" + file + ".cpp"})
            EXPECT_TRUE(std::filesystem::is_regular_file(in_source(path)))
                << "layer type '" << type.name << "': no " << path << ": add the file pair include/convnet/nn/layers/" << file
                << ".h and src/nn/layers/" << file << ".cpp (the layer's class), or name its pair in the row's second column in "
                << "src/nn/layer_registry.cpp";
    }
}

// Step 2: every layer class (a header of include/convnet/nn/layers/ that overrides type()) has a
// row in the layer table, every row a name of its own, and the layer a row builds answers type()
// with the row's name.
TEST(AddingALayer, RegistryRowPerLayerClass) {
    std::set<std::string> files, names;
    for (const LayerType& type : layer_types()) {
        files.insert(std::string(type.file));
        EXPECT_TRUE(names.insert(std::string(type.name)).second) << "two rows of src/nn/layer_registry.cpp are named " << type.name;
    }
    int layer_headers = 0;
    for (const auto& entry : std::filesystem::directory_iterator(in_source("include/convnet/nn/layers"))) {
        if (entry.path().extension() != ".h" || file_text(entry.path()).find("type() const override") == std::string::npos) continue;
        ++layer_headers;
        const std::string file = entry.path().stem().string();
        EXPECT_TRUE(files.count(file)) << "include/convnet/nn/layers/" << file << ".h declares a layer (it overrides type()) that no row "
                                       << "of kLayerTypes in src/nn/layer_registry.cpp builds: add a row {\"" << file << "\", \"" << file
                                       << "\", NAME_PREFIX, DESCRIPTION, FACTORY} there";
    }
    EXPECT_GT(layer_headers, 0);
    const ModelSpec spec = read_model_file(in_source(kAllLayersModel));
    const std::vector<LayerPlan> plans = plan_model(spec);
    for (std::size_t i = 0; i < plans.size(); ++i)
        EXPECT_EQ(plans[i].layer->type(), spec.layers[i].type)
            << "a `" << spec.layers[i].type << "` line builds a layer whose type() is '" << plans[i].layer->type()
            << "': type() must return the name of the registry row that builds it";
}

// The registry's name prefix is the one plan_model gives unnamed layers: conv1, bn1, fc1 ...
TEST(AddingALayer, AutomaticNamePerType) {
    const ModelSpec spec = read_model_file(in_source(kAllLayersModel));
    const std::vector<LayerPlan> plans = plan_model(spec);
    std::map<std::string, int> counters;
    std::set<std::string> unnamed;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        if (!spec.layers[i].name.empty()) continue;
        const LayerType* type = find_layer_type(spec.layers[i].type);
        ASSERT_NE(type, nullptr);
        unnamed.insert(std::string(type->name));
        const std::string prefix(type->name_prefix);
        EXPECT_EQ(plans[i].name, prefix + std::to_string(++counters[prefix]))
            << kAllLayersModel << ":" << spec.layers[i].line << ": the automatic name of a `" << type->name
            << "` line is not its row's name prefix '" << prefix << "' and a count (src/nn/layer_registry.cpp)";
    }
    for (const LayerType& type : layer_types())
        EXPECT_TRUE(unnamed.count(std::string(type.name)))
            << "give one `" << type.name << "` line of " << kAllLayersModel << " no name=, so that its automatic name is checked";
}

// Step 6: every registered type has an ONNX exporter, and a row of docs/ONNX.md's "Operators per
// layer" whose first cell names it ("batchnorm2d, batchnorm1d", "avgpool2d, no padding ...").
TEST(AddingALayer, OnnxRowPerType) {
    const std::string text = file_text(in_source("docs/ONNX.md"));
    const std::size_t section = text.find("\n## Operators per layer\n");
    ASSERT_NE(section, std::string::npos) << "docs/ONNX.md has no section \"Operators per layer\"";
    std::istringstream lines(text.substr(section + 1, text.find("\n## ", section + 1) - section));
    std::set<std::string> documented;
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("| ")) continue;
        std::string word;
        for (const char c : line.substr(2, line.find(" |", 1) - 2) + " ") {
            if (std::isalnum(static_cast<unsigned char>(c))) word += c;
            else if (!word.empty()) documented.insert(std::exchange(word, ""));
        }
    }
    for (const LayerType& type : layer_types()) {
        EXPECT_TRUE(onnx_exports(type.name)) << "layer type '" << type.name << "' has no ONNX form: add Exporter{\"" << type.name
                                             << "\", WRITER} to kExporters in src/io/onnx.cpp";
        EXPECT_TRUE(documented.count(std::string(type.name)))
            << "layer type '" << type.name << "' is not in docs/ONNX.md's \"Operators per layer\": add `| " << type.name
            << " | ONNX OPERATORS | notes |` there";
    }
    EXPECT_FALSE(onnx_exports("lstm"));
}

// Step 7: every registered type has a row in docs/LAYERS.md, and every row there is a registered type.
TEST(AddingALayer, DocsRowPerType) {
    const std::string text = file_text(in_source("docs/LAYERS.md"));
    ASSERT_FALSE(text.empty()) << "docs/LAYERS.md is missing";
    for (const LayerType& type : layer_types())
        EXPECT_NE(text.find("\n| `" + std::string(type.name) + "` |"), std::string::npos)
            << "layer type '" << type.name << "' has no row in docs/LAYERS.md: add `| `" << type.name
            << "` | what it does | options (default) | PyTorch |` to the table of its kind there";
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("| `")) continue;
        const std::string name = line.substr(3, line.find('`', 3) - 3);
        EXPECT_NE(find_layer_type(name), nullptr) << "docs/LAYERS.md has a row for '" << name << "', which no row of "
                                                  << "src/nn/layer_registry.cpp names: remove it or correct its name";
    }
}

// Step 8: the one all-layers model holds every registered type.
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
