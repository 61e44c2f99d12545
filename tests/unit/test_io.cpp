// Weight files: a round trip restores every value, damaged or mismatched files are refused by
// name, and writing leaves no temporary file behind.
#include "test_support.h"

#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/version.h>
#include <convnet/io/safetensors.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

namespace convnet {
namespace {

const char* kModel = "input 1x8x8\nconv2d out=2 kernel=3\nbatchnorm2d\nrelu\nflatten\nlinear out=3\n";

class WeightsFile : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ =
            std::filesystem::temp_directory_path() / ("convnet_io_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                                      "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }
    std::string error_of(const std::filesystem::path& path, const char* model = kModel) {
        Network network(parse_model(model, "m.model"));
        try {
            load_weights(network, path);
        } catch (const Error& error) {
            return error.what();
        }
        return "";
    }
    std::filesystem::path directory_;
};

TEST_F(WeightsFile, RoundTripRestoresEveryValue) {
    Network saved(parse_model(kModel, "m.model"));
    saved.initialize(3);
    saved.named_buffers()[0].parameter->value[1] = 0.25f;  // bn1.running_mean: buffers travel too
    save_weights(saved, directory_ / "w.bin", {}, WeightsFormat::convnet);
    Network loaded(parse_model(kModel, "m.model"));
    load_weights(loaded, directory_ / "w.bin");
    const auto a = testing::parameters_and_buffers(saved), b = testing::parameters_and_buffers(loaded);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::int64_t k = 0; k < a[i].parameter->shape.element_count(); ++k)
            ASSERT_EQ(a[i].parameter->value[k], b[i].parameter->value[k]) << a[i].name << "[" << k << "]";
    for (const auto& entry : std::filesystem::directory_iterator(directory_))
        EXPECT_EQ(entry.path().filename(), "w.bin") << "temporary file left behind";
}

// A name ending in .safetensors writes safetensors: the state dict by PyTorch's names with
// num_batches_tracked as an I64 scalar, "format": "pt" and the model's text; it loads back by name.
TEST_F(WeightsFile, SafetensorsRoundTripByName) {
    Network saved(parse_model(kModel, "m.model"));
    saved.initialize(3);
    Tensor images(Shape{4, 1, 8, 8});
    for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i % 13) / 13.0f;
    saved.forward_train(images);  // moves the running statistics and num_batches_tracked
    save_weights(saved, directory_ / "w.safetensors");
    const SafetensorsContents contents = read_safetensors(directory_ / "w.safetensors");
    EXPECT_EQ(contents.metadata.at("format"), "pt");
    EXPECT_EQ(contents.metadata.at("convnet_version"), convnet::version());
    EXPECT_EQ(contents.metadata.at("model"), format_model(saved.layer_plans(), saved.sample_shape()));
    ASSERT_EQ(contents.tensors.size(), saved.state_dict().size());
    EXPECT_EQ(contents.tensors[6].name, "bn1.num_batches_tracked");
    EXPECT_EQ(contents.tensors[6].integer, 1);

    Network loaded(parse_model(kModel, "m.model"));
    load_weights(loaded, directory_ / "w.safetensors");
    const std::vector<StateTensor> a = saved.state_dict(), b = loaded.state_dict();
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].values, b[i].values) << a[i].name;
        EXPECT_EQ(a[i].integer, b[i].integer) << a[i].name;
    }
    Tensor expected, actual;
    saved.predict(images, expected);
    loaded.predict(images, actual);
    for (std::int64_t i = 0; i < expected.size(); ++i) EXPECT_EQ(actual[i], expected[i]);
    // Another model's file names what is missing and what is not the model's, as torch does.
    EXPECT_NE(error_of(directory_ / "w.safetensors", "input 1x8x8\nconv2d out=2 kernel=3\nflatten\nlinear out=3\n")
                  .find("Unexpected key(s) in state_dict: \"bn1.bias\""),
              std::string::npos);
    // A damaged one names the file and the problem.
    const std::string path = (directory_ / "w.safetensors").string();
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
    const std::string damaged = error_of(path);
    EXPECT_NE(damaged.find(path), std::string::npos) << damaged;
    EXPECT_NE(damaged.find("truncated"), std::string::npos) << damaged;
}

TEST_F(WeightsFile, DamagedFilesAreRefusedByName) {
    Network network(parse_model(kModel, "m.model"));
    network.initialize(1);
    save_weights(network, directory_ / "good.bin", {}, WeightsFormat::convnet);
    std::ifstream in(directory_ / "good.bin", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    std::ofstream(directory_ / "truncated.bin", std::ios::binary) << bytes.substr(0, bytes.size() - 7);
    EXPECT_NE(error_of(directory_ / "truncated.bin").find("truncated"), std::string::npos);
    std::ofstream(directory_ / "magic.bin", std::ios::binary) << "NOTAWEIGHTSFILE!" + bytes.substr(16);
    EXPECT_NE(error_of(directory_ / "magic.bin").find("bad magic"), std::string::npos);
    {  // a failed load leaves the network's values as they were
        Network target(parse_model(kModel, "m.model"));
        target.initialize(2);
        const float before = target.named_parameters()[0].parameter->value[0];
        EXPECT_THROW(load_weights(target, directory_ / "truncated.bin"), Error);
        EXPECT_EQ(target.named_parameters()[0].parameter->value[0], before);
    }
    std::ofstream(directory_ / "extra.bin", std::ios::binary) << bytes + "x";
    EXPECT_NE(error_of(directory_ / "extra.bin").find("extra bytes"), std::string::npos);
    const std::string other = error_of(directory_ / "good.bin", "input 1x8x8\nconv2d out=3 kernel=3\nbatchnorm2d\nflatten\nlinear out=3\n");
    EXPECT_NE(other.find("conv1.weight has shape 2x1x3x3"), std::string::npos) << other;
    EXPECT_NE(error_of(directory_ / "missing.bin").find("missing.bin: cannot open"), std::string::npos);
}

// The format is little-endian on every host: the bytes are checked one by one against values
// written out by hand, not against the host's own encoding.
// Found while fuzzing (docs/RELIABILITY.md): a file of a few hundred bytes whose model text claims
// a 2048 -> 1,048,576 linear layer (2^31 weights, 16 GiB with their gradients) made load_network
// allocate the network's arena before load_state_dict found the tensors missing.
TEST_F(WeightsFile, ModelClaimingMoreValuesThanTheTensorsHoldIsRefusedBeforeBuilding) {
    const std::filesystem::path path = directory_ / "claims.safetensors";
    write_safetensors(path, {StateTensor{"fc1.bias", StateTensor::DType::f32, Shape{2}, {1.0f, 2.0f}, 0}},
                      {{"model", "input 2048\nlinear out=1048576\n"}});
    testing::expect_error([&] { load_network(path); }, {"claims.safetensors: its model (__metadata__ \"model\") has 2148532224 parameter",
                                                        "but its tensors hold 2", "disagree"});
}

// Found by reading the code after fuzzing: the metadata's JSON nested 200,000 deep overflowed the
// stack of the message that dumps a malformed class name.
TEST_F(WeightsFile, DeeplyNestedMetadataIsRefused) {
    const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
    const std::filesystem::path path = directory_ / "deep.safetensors";
    write_safetensors(path, {}, {{"model", "input 4\nlinear out=2\n"}, {"classes", "[1," + deep + "]"}});
    testing::expect_error([&] { read_weights_metadata(path); },
                          {"deep.safetensors: __metadata__ \"classes\": JSON nested deeper than 64 levels"});
}

TEST_F(WeightsFile, NumbersAreLittleEndianByteForByte) {
    const char* kSmallModel = "input 1x4x4\nconv2d out=2 kernel=3\nflatten\nlinear out=2\n";
    Network network(parse_model(kSmallModel, "m.model"));
    network.initialize(1);
    network.named_parameters()[0].parameter->value[0] = 1.5f;   // IEEE 754: 0x3FC00000
    network.named_parameters()[0].parameter->value[1] = -2.0f;  // 0xC0000000
    save_weights(network, directory_ / "w.bin", {}, WeightsFormat::convnet);
    std::ifstream in(directory_ / "w.bin", std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string expected_start = std::string("CNVNETW1") + std::string("\x02\x00\x00\x00", 4) +  // version 2
                                       std::string("\x04\x00\x00\x00", 4) +                            // 4 tensors
                                       std::string("\x0c\x00\x00\x00", 4) + "conv1.weight" +           // name length 12
                                       std::string("\x00", 1) +                                        // float32
                                       std::string("\x04\x00\x00\x00", 4) +                            // rank 4
                                       std::string("\x02\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0", 16) +       // dims 2, 1
                                       std::string("\x03\0\0\0\0\0\0\0\x03\0\0\0\0\0\0\0", 16) +       // dims 3, 3
                                       std::string("\x00\x00\xc0\x3f\x00\x00\x00\xc0", 8);             // 1.5, -2.0
    ASSERT_GE(bytes.size(), expected_start.size());
    EXPECT_EQ(bytes.substr(0, expected_start.size()), expected_start);

    // And a file whose first weight is written by hand as 0.75 (0x3F400000) loads as 0.75.
    std::string edited = bytes;
    const std::size_t first_value = expected_start.size() - 8;
    edited.replace(first_value, 4, std::string("\x00\x00\x40\x3f", 4));
    std::ofstream(directory_ / "edited.bin", std::ios::binary) << edited;
    Network loaded(parse_model(kSmallModel, "m.model"));
    load_weights(loaded, directory_ / "edited.bin");
    EXPECT_EQ(loaded.named_parameters()[0].parameter->value[0], 0.75f);
    EXPECT_EQ(loaded.named_parameters()[0].parameter->value[1], -2.0f);
}

// Renaming a new file over a device or a FIFO would replace it (as root, /dev/null itself).
TEST_F(WeightsFile, AtomicWritesRefuseToReplaceWhatIsNotAFile) {
    const std::filesystem::path fifo = directory_ / "pipe";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    testing::expect_error([&] { write_file_atomically(fifo, "data"); }, {"pipe: exists and is not a regular file"});
    EXPECT_TRUE(std::filesystem::is_fifo(fifo));
    testing::expect_error([&] { write_file_atomically(directory_, "data"); }, {"is not a regular file"});
}

std::string contents_of(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// A process killed inside a write leaves PATH.tmpPID; the next write of PATH removes it when that
// PID no longer runs, and leaves a running process's temporary file (PID 1's here) alone.
TEST_F(WeightsFile, AtomicWritesRemoveStaleTemporariesOfDeadProcesses) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(0);
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);
    const std::filesystem::path target = directory_ / "w.safetensors";
    const std::filesystem::path stale = target.string() + ".tmp" + std::to_string(child);
    const std::filesystem::path running = target.string() + ".tmp1";
    const std::filesystem::path other = directory_ / "other.safetensors.tmp999999";
    for (const auto& path : {stale, running, other}) std::ofstream(path) << "half a file";
    write_file_atomically(target, "new");
    EXPECT_FALSE(std::filesystem::exists(stale)) << stale << ": the temporary file of a dead process is still there";
    EXPECT_TRUE(std::filesystem::exists(running)) << "the temporary file of a running process (PID 1) was removed";
    EXPECT_TRUE(std::filesystem::exists(other)) << "another file's temporary file was removed";
    EXPECT_EQ(contents_of(target), "new");
}

// Past a file-size limit (ulimit -f, SIGXFSZ ignored as the CLI does) the write fails with a
// message naming the file and the limit; the previous file stays byte for byte, no temporary file.
TEST_F(WeightsFile, AtomicWritesOverAFileSizeLimitKeepThePreviousFile) {
    const std::filesystem::path target = directory_ / "w.safetensors";
    write_file_atomically(target, "the previous file");
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = saved;
    limited.rlim_cur = 1000;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
    const std::string message = testing::error_message([&] { write_file_atomically(target, std::string(5000, 'x')); });
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, previous_handler);
    for (const char* part : {"w.safetensors: write failed after 1000 of 5000 bytes", "over the file-size limit (ulimit -f)",
                             "the previous file is left as it was"})
        EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nmissing: " << part;
    EXPECT_EQ(contents_of(target), "the previous file");
    for (const auto& entry : std::filesystem::directory_iterator(directory_))
        EXPECT_EQ(entry.path().filename(), "w.safetensors") << "temporary file left behind";
}

// Version 2 keeps batch norm's num_batches_tracked (int64); version 1 files, without it, still load.
TEST_F(WeightsFile, Version2KeepsIntegerStateAndVersion1StillLoads) {
    Network trained(parse_model(kModel, "m.model"));
    trained.initialize(3);
    Tensor batch(Shape{4, 1, 8, 8});
    batch.fill(0.5f);
    batch[3] = 1.0f;
    trained.forward_train(batch);
    trained.forward_train(batch);
    save_weights(trained, directory_ / "v2.bin", {}, WeightsFormat::convnet);
    Network loaded(parse_model(kModel, "m.model"));
    load_weights(loaded, directory_ / "v2.bin");
    bool seen = false;
    for (const StateTensor& tensor : loaded.state_dict())
        if (tensor.name == "bn1.num_batches_tracked") {
            EXPECT_EQ(tensor.integer, 2);
            seen = true;
        }
    EXPECT_TRUE(seen);
    // A version 1 file (the field report's, saved before version 2) loads, counters untouched.
    Network old(parse_model("input 1x28x28\nconv2d out=2 kernel=3\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=10\n", "old.model"));
    const std::vector<std::string> report = load_weights(old, std::string(CONVNET_SOURCE_DIR) + "/tests/cases/nan_through_relu.weights");
    EXPECT_EQ(report.size(), 1u);
    EXPECT_TRUE(std::isnan(old.state_dict()[1].values[0]) || std::isnan(old.state_dict()[1].values[1]));
}

}  // namespace
}  // namespace convnet
