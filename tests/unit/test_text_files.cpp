// Text files as editors write them (a UTF-8 byte-order mark, CRLF or lone-CR line ends) read the
// same as plain ones, and a folder where a file is expected is refused by name.
#include "../../src/core/text_file.h"
#include "test_support.h"

#include <convnet/data/data.h>
#include <convnet/data/image.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace convnet {
namespace {

using testing::expect_error;

TEST(TextFiles, LineEndsOfEveryPlatformAndAByteOrderMark) {
    const std::vector<std::string> expected{"input 1x4x4", "", "flatten"};
    EXPECT_EQ(detail::text_lines("input 1x4x4\n\nflatten\n"), expected);
    EXPECT_EQ(detail::text_lines("input 1x4x4\r\n\r\nflatten\r\n"), expected);
    EXPECT_EQ(detail::text_lines("input 1x4x4\r\rflatten\r"), expected);
    EXPECT_EQ(detail::text_lines("\xEF\xBB\xBFinput 1x4x4\n\nflatten"), expected);
    EXPECT_EQ(detail::text_lines("a\r\n\rb"), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_TRUE(detail::text_lines("").empty());
    EXPECT_EQ(detail::text_lines("\xEF\xBB\xBF"), std::vector<std::string>{});
}

// A field report: a model file saved by a Windows editor, byte-order mark first.
TEST(TextFiles, ModelFileWithAByteOrderMarkParses) {
    const ModelSpec spec = read_model_file(std::string(CONVNET_SOURCE_DIR) + "/tests/cases/bom_first_line_input.model");
    EXPECT_EQ(spec.input, (Shape{1, 28, 28}));
    ASSERT_FALSE(spec.layers.empty());
    EXPECT_EQ(spec.layers.front().type, "conv2d");
    const std::string crlf = "\xEF\xBB\xBFinput 1x8x8\r\nflatten\r\nlinear out=3\r\n";
    const std::string cr = "input 1x8x8\rflatten\rlinear out=3\r";
    EXPECT_EQ(parse_model(crlf, "crlf.model").layers.size(), 2u);
    EXPECT_EQ(parse_model(cr, "cr.model").layers.size(), 2u);
    expect_error([] { parse_model("input 1x8x8\rflatten\rbogus\r", "cr.model"); }, {"cr.model:3", "bogus"});
}

TEST(TextFiles, Utf16AndInvisibleCharactersAreNamed) {
    const std::string utf16(
        "\xFF\xFEi\0n\0p\0u\0t\0 \0"
        "1\0x\0"
        "4\0x\0"
        "4\0\n\0",
        22);
    expect_error([&] { parse_model(utf16, "wide.model"); }, {"wide.model: holds NUL bytes", "UTF-16", "UTF-8"});
    // A non-breaking space glued to a layer name shows as its bytes.
    expect_error([] { parse_model("input 1x4x4\nrelu\xC2\xA0\n", "nbsp.model"); }, {"nbsp.model:2: unknown layer 'relu\\xC2\\xA0'"});
    EXPECT_EQ(detail::visible("a\tb\xEF\xBB\xBF"), "a\\x09b\\xEF\\xBB\\xBF");
}

class TextFileFolder : public testing::TemporaryFolderTest {
protected:
    void SetUp() override {
        TemporaryFolderTest::SetUp();
        std::filesystem::create_directories(directory_ / "a_folder");
    }
};

TEST_F(TextFileFolder, ClassNamesWithAByteOrderMarkAndCrlf) {
    std::ofstream(directory_ / "classes.txt", std::ios::binary) << "\xEF\xBB\xBFT-shirt/top\r\nTrouser\r\n";
    EXPECT_EQ(read_class_names(directory_), (std::vector<std::string>{"T-shirt/top", "Trouser"}));
}

TEST_F(TextFileFolder, AFolderWhereAFileIsExpectedIsRefusedByName) {
    const std::filesystem::path folder = directory_ / "a_folder";
    expect_error([&] { read_model_file(folder); }, {"a_folder: is a folder; expected the model file"});
    Network network(parse_model("input 1x4x4\nflatten\nlinear out=2\n", "m.model"));
    expect_error([&] { load_weights(network, folder); }, {"a_folder: is a folder; expected the weights file"});
    expect_error([&] { read_png(folder, 1, 28, 28); }, {"a_folder: is a folder; expected a PNG image"});
    std::filesystem::create_directories(directory_ / "with_folder" / "classes.txt");
    expect_error([&] { read_class_names(directory_ / "with_folder"); }, {"classes.txt: is a folder"});
    expect_error([&] { read_model_file(directory_ / "missing.model"); }, {"missing.model: cannot open the model file (no such file"});
}

}  // namespace
}  // namespace convnet
