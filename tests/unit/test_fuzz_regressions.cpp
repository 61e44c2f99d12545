// The inputs the fuzz targets found (tests/fuzz/regressions/<target>/, docs/RELIABILITY.md),
// replayed in the ordinary suite through the same target functions: each must be read or refused
// with convnet::Error, never crash or throw anything else. The fuzz build replays them under ASan
// and UBSan as well (CTest's fuzz_<target>_regressions).
#include "../fuzz/fuzz_support.h"

#include <convnet/core/error.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>

namespace convnet {
namespace {

struct Target {
    const char* name;  // the folder under tests/fuzz/regressions/
    void (*run)(std::string_view);
};

// png and jpeg are one function with two corpora.
const Target kTargets[] = {{"idx", fuzz::idx},         {"model", fuzz::model},           {"network", fuzz::network},
                           {"weights", fuzz::weights}, {"checkpoint", fuzz::checkpoint}, {"png", fuzz::image},
                           {"jpeg", fuzz::image},      {"cifar", fuzz::cifar},           {"image_folder", fuzz::image_folder},
                           {"detection_labels", fuzz::detection_labels}};

// For the test names CTest lists: the target, not the struct's bytes.
void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }

class FuzzRegressions : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzRegressions, AreReadOrRefusedWithAnError) {
    const std::filesystem::path folder = std::filesystem::path(CONVNET_SOURCE_DIR) / "tests" / "fuzz" / "regressions" / GetParam().name;
    std::vector<std::filesystem::path> inputs;
    if (std::filesystem::is_directory(folder))
        for (const auto& entry : std::filesystem::directory_iterator(folder)) inputs.push_back(entry.path());
    std::sort(inputs.begin(), inputs.end());
    for (const std::filesystem::path& input : inputs) {
        std::ifstream file(input, std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
        try {
            GetParam().run(bytes);
        } catch (const Error&) {
            // refused: what a bad file should get
        } catch (const std::exception& error) {
            ADD_FAILURE() << input << ": threw something other than convnet::Error: " << error.what();
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegressions, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace convnet
