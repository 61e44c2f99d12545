// Tests of the CIFAR-10 binary reader on batches written per test (the real files cannot be fetched
// here): labels, planes and class names read back, the train split in order, and broken folders
// and files refused by name. Each test has its own temporary folder, removed after.
#include <convnet/data/cifar.h>
#include <convnet/core/error.h>

#include "test_support.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using convnet::Split;
using convnet::testing::expect_error;

constexpr std::int64_t kRecordBytes = 3073;
const char* const kOfficialNames = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
const std::vector<std::string> kOfficialNameList = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                    "dog",      "frog",       "horse", "ship", "truck"};

// The pixel a generated record holds at (channel, row, col): differs per batch, record and
// position, so that a misplaced plane, row or record is noticed.
std::uint8_t pixel(int batch, int record, int channel, int row, int col) {
    return static_cast<std::uint8_t>(batch * 41 + record * 29 + channel * 101 + row * 7 + col * 3);
}

// One batch file's bytes: per record the label, then the red, green and blue planes, row by row.
Bytes batch_bytes(int batch, const Bytes& labels) {
    Bytes bytes;
    for (std::size_t record = 0; record < labels.size(); ++record) {
        bytes.push_back(labels[record]);
        for (int channel = 0; channel < 3; ++channel)
            for (int row = 0; row < 32; ++row)
                for (int col = 0; col < 32; ++col) bytes.push_back(pixel(batch, static_cast<int>(record), channel, row, col));
    }
    return bytes;
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
    std::ofstream stream(path, std::ios::binary);
    stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(stream.good()) << "cannot write " << path;
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream stream(path, std::ios::binary);
    stream << text;
    ASSERT_TRUE(stream.good()) << "cannot write " << path;
}

// A folder unique to this test and process, removed afterwards.
class Cifar10Test : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ =
            fs::temp_directory_path() / ("convnet_cifar_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                                         "_" + std::to_string(::getpid()));
        fs::remove_all(directory_);
        fs::create_directories(directory_);
    }
    void TearDown() override {
        std::error_code ignored;
        fs::remove_all(directory_, ignored);
    }

    // A whole small CIFAR-10 folder in `folder`: data batch k holds k records labelled
    // (k + record) % 10, the test batch three records labelled 3, 0, 9, and the official names.
    void write_folder(const fs::path& folder) {
        fs::create_directories(folder);
        for (int batch = 1; batch <= 5; ++batch) write_bytes(folder / data_batch(batch), batch_bytes(batch, train_labels(batch)));
        write_bytes(folder / "test_batch.bin", batch_bytes(0, {3, 0, 9}));
        write_text(folder / "batches.meta.txt", kOfficialNames);
    }
    static std::string data_batch(int batch) { return "data_batch_" + std::to_string(batch) + ".bin"; }
    static Bytes train_labels(int batch) {
        Bytes labels;
        for (int record = 0; record < batch; ++record) labels.push_back(static_cast<std::uint8_t>((batch + record) % 10));
        return labels;
    }
    fs::path path(const std::string& name) const { return directory_ / name; }

    fs::path directory_;
};

TEST_F(Cifar10Test, ReadsTestBatchLabelsPlanesAndNames) {
    write_folder(directory_);
    const convnet::Dataset dataset = convnet::read_cifar10(directory_, Split::test);
    EXPECT_EQ(dataset.count, 3);
    EXPECT_EQ(dataset.channels, 3);
    EXPECT_EQ(dataset.height, 32);
    EXPECT_EQ(dataset.width, 32);
    EXPECT_EQ(dataset.image_size(), 3072);
    EXPECT_EQ(dataset.labels, (Bytes{3, 0, 9}));
    EXPECT_EQ(dataset.class_names, kOfficialNameList);
    ASSERT_EQ(dataset.images.size(), 3u * 3072u);
    // Known positions: (channel, row, col) of record n is image(n)[channel * 1024 + row * 32 + col].
    EXPECT_EQ(dataset.image(0)[0], pixel(0, 0, 0, 0, 0));
    EXPECT_EQ(dataset.image(1)[1 * 1024 + 5 * 32 + 7], pixel(0, 1, 1, 5, 7));      // green, row 5, col 7
    EXPECT_EQ(dataset.image(2)[2 * 1024 + 31 * 32 + 30], pixel(0, 2, 2, 31, 30));  // blue, row 31, col 30
    // Every byte: the file's records without their label bytes.
    const Bytes file = batch_bytes(0, {3, 0, 9});
    for (std::int64_t record = 0; record < 3; ++record) {
        const Bytes expected(file.begin() + record * kRecordBytes + 1, file.begin() + (record + 1) * kRecordBytes);
        const Bytes actual(dataset.image(record), dataset.image(record) + 3072);
        EXPECT_TRUE(actual == expected) << "record " << record << " differs from the file's planes";
    }
}

TEST_F(Cifar10Test, TrainSplitConcatenatesFiveBatchesInOrder) {
    write_folder(directory_);
    const convnet::Dataset dataset = convnet::read_cifar10(directory_, Split::train);
    ASSERT_EQ(dataset.count, 1 + 2 + 3 + 4 + 5);
    Bytes expected_labels;
    for (int batch = 1; batch <= 5; ++batch) {
        const Bytes labels = train_labels(batch);
        expected_labels.insert(expected_labels.end(), labels.begin(), labels.end());
    }
    EXPECT_EQ(dataset.labels, expected_labels);
    std::int64_t index = 0;
    for (int batch = 1; batch <= 5; ++batch) {
        for (int record = 0; record < batch; ++record, ++index) {
            EXPECT_EQ(dataset.image(index)[0], pixel(batch, record, 0, 0, 0)) << "batch " << batch << " record " << record;
            EXPECT_EQ(dataset.image(index)[2 * 1024 + 17 * 32 + 4], pixel(batch, record, 2, 17, 4))
                << "batch " << batch << " record " << record;
        }
    }
    EXPECT_EQ(dataset.class_names, kOfficialNameList);
}

TEST_F(Cifar10Test, NamesWithByteOrderMarkCrlfAndTrailingBlankLines) {
    write_folder(directory_);
    write_text(path("batches.meta.txt"),
               "\xEF\xBB\xBF"
               "airplane\r\nautomobile \r\nbird\r\ncat\r\ndeer\r\ndog\r\nfrog\r\nhorse\r\nship\r\ntruck\r\n\r\n  \r\n");
    EXPECT_EQ(convnet::read_cifar10(directory_, Split::test).class_names, kOfficialNameList);
}

// Home-made batches may have other class counts: labels need only a name each.
TEST_F(Cifar10Test, OtherClassCounts) {
    write_folder(directory_);
    write_bytes(path("test_batch.bin"), batch_bytes(0, {1, 0, 1, 1}));
    write_text(path("batches.meta.txt"), "no\nyes");
    const convnet::Dataset dataset = convnet::read_cifar10(directory_, Split::test);
    EXPECT_EQ(dataset.count, 4);
    EXPECT_EQ(dataset.class_names, (std::vector<std::string>{"no", "yes"}));
}

// The official tarball extracts to cifar-10-batches-bin: that folder inside the one given is used.
TEST_F(Cifar10Test, TarballFolderInsideIsUsed) {
    write_folder(directory_ / "cifar-10-batches-bin");
    EXPECT_TRUE(convnet::is_cifar10_folder(directory_));
    EXPECT_TRUE(convnet::is_cifar10_folder(directory_ / "cifar-10-batches-bin"));
    EXPECT_EQ(convnet::read_cifar10(directory_, Split::test).labels, (Bytes{3, 0, 9}));
    EXPECT_EQ(convnet::read_cifar10(directory_, Split::train).count, 15);
}

TEST_F(Cifar10Test, IsCifar10Folder) {
    EXPECT_FALSE(convnet::is_cifar10_folder(path("no-such-folder")));
    EXPECT_FALSE(convnet::is_cifar10_folder(directory_));  // empty
    write_bytes(path("train-images-idx3-ubyte"), {0, 0, 8, 3});
    EXPECT_FALSE(convnet::is_cifar10_folder(directory_));                       // an IDX folder
    EXPECT_FALSE(convnet::is_cifar10_folder(path("train-images-idx3-ubyte")));  // a file

    fs::create_directories(path("train-only"));
    write_bytes(path("train-only") / "data_batch_1.bin", batch_bytes(1, {0}));
    EXPECT_TRUE(convnet::is_cifar10_folder(path("train-only")));
    fs::create_directories(path("test-only"));
    write_bytes(path("test-only") / "test_batch.bin", batch_bytes(0, {0}));
    EXPECT_TRUE(convnet::is_cifar10_folder(path("test-only")));
    fs::create_directories(path("batch-is-folder") / "test_batch.bin");
    EXPECT_FALSE(convnet::is_cifar10_folder(path("batch-is-folder")));

    // CIFAR-100 is claimed too, so that read_cifar10 can say what it is.
    fs::create_directories(path("c100") / "cifar-100-binary");
    write_bytes(path("c100") / "cifar-100-binary" / "train.bin", Bytes(3074, 0));
    write_text(path("c100") / "cifar-100-binary" / "fine_label_names.txt", "apple\n");
    EXPECT_TRUE(convnet::is_cifar10_folder(path("c100")));
    EXPECT_TRUE(convnet::is_cifar10_folder(path("c100") / "cifar-100-binary"));
}

TEST_F(Cifar10Test, SizeNotWholeRecordsIsTruncated) {
    write_folder(directory_);
    Bytes cut = batch_bytes(0, {3, 0, 9});
    cut.resize(cut.size() - 100);
    write_bytes(path("test_batch.bin"), cut);
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("test_batch.bin").string(), "9119 bytes", "not a whole number of 3073-byte records", "2 records and 2973 bytes over",
                  "truncated or not a CIFAR-10 binary batch"});

    // Sizes are checked for all five train batches before any is read: a cut data_batch_5 is
    // reported although data_batch_1 has a label without a name.
    write_bytes(path("data_batch_1.bin"), batch_bytes(1, {10}));
    Bytes cut5 = batch_bytes(5, train_labels(5));
    cut5.pop_back();
    write_bytes(path("data_batch_5.bin"), cut5);
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {path("data_batch_5.bin").string(), "truncated or not a CIFAR-10 binary batch"});
}

TEST_F(Cifar10Test, EmptyBatch) {
    write_folder(directory_);
    write_bytes(path("data_batch_2.bin"), {});
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); }, {path("data_batch_2.bin").string(), "empty", "3073 bytes"});
}

TEST_F(Cifar10Test, LabelWithoutAName) {
    write_folder(directory_);
    write_bytes(path("test_batch.bin"), batch_bytes(0, {3, 0, 10, 9}));
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("test_batch.bin").string(), "record 2", "label 10", path("batches.meta.txt").string(), "names 10 classes"});

    // A shorter names file; the record index counts within the file that holds it.
    write_folder(directory_);
    write_text(path("batches.meta.txt"), "cat\ndog\nbird\n");
    for (int batch = 2; batch <= 5; ++batch) write_bytes(path(data_batch(batch)), batch_bytes(batch, Bytes(batch, 2)));
    write_bytes(path("data_batch_4.bin"), batch_bytes(4, {0, 1, 2, 255}));
    Bytes labels(1500, 1);  // more than one read of 1024 records
    labels[1200] = 3;
    write_bytes(path("data_batch_1.bin"), batch_bytes(1, labels));
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {path("data_batch_1.bin").string(), "record 1200", "label 3", "names 3 classes", "labels 0..2"});
    labels[1200] = 2;
    write_bytes(path("data_batch_1.bin"), batch_bytes(1, labels));
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {path("data_batch_4.bin").string(), "record 3", "label 255", "names 3 classes"});
}

TEST_F(Cifar10Test, MissingTrainBatchIsNamed) {
    write_folder(directory_);
    fs::remove(path("data_batch_3.bin"));
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {path("data_batch_3.bin").string(), "not found", "all five", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"});
    fs::remove(path("data_batch_5.bin"));
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {path("data_batch_3.bin").string(), "not found", "nor data_batch_5.bin"});
    // The test split needs none of them.
    EXPECT_EQ(convnet::read_cifar10(directory_, Split::test).count, 3);
}

TEST_F(Cifar10Test, MissingTestBatchIsNamed) {
    write_folder(directory_);
    fs::remove(path("test_batch.bin"));
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("test_batch.bin").string(), "not found", "test split reads test_batch.bin", "label byte", "1024 red",
                  "cifar-10-binary.tar.gz"});
}

TEST_F(Cifar10Test, MissingOrWrongFolder) {
    expect_error([&] { convnet::read_cifar10(path("absent"), Split::train); },
                 {"CIFAR-10 folder", path("absent").string(), "not found", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"});
    write_bytes(path("cifar-10-binary.tar.gz"), {0x1f, 0x8b});
    expect_error([&] { convnet::read_cifar10(path("cifar-10-binary.tar.gz"), Split::train); },
                 {path("cifar-10-binary.tar.gz").string(), "a file, where a CIFAR-10 folder was expected", "tar -xzf"});
    // The tarball downloaded into the folder but not extracted.
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("test_batch.bin").string(), "not found", "not extracted", "tar -xzf"});
}

TEST_F(Cifar10Test, BatchThatIsAFolder) {
    write_folder(directory_);
    fs::remove(path("test_batch.bin"));
    fs::create_directory(path("test_batch.bin"));
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); }, {path("test_batch.bin").string(), "is a folder"});
}

TEST_F(Cifar10Test, MissingNamesFile) {
    write_folder(directory_);
    fs::remove(path("batches.meta.txt"));
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("batches.meta.txt").string(), "not found", "class names", "airplane, automobile"});
}

TEST_F(Cifar10Test, EmptyBlankOrRepeatedNames) {
    write_folder(directory_);
    write_text(path("batches.meta.txt"), "");
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); }, {path("batches.meta.txt").string(), "holds no class names"});
    write_text(path("batches.meta.txt"), "\xEF\xBB\xBF\r\n  \n\n");
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); }, {path("batches.meta.txt").string(), "holds no class names"});
    write_text(path("batches.meta.txt"), "airplane\nautomobile\n\nbird\n");
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("batches.meta.txt").string() + ":3:", "blank line", "label 2"});
    write_text(path("batches.meta.txt"), "cat\ndog\ncat\n");
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); },
                 {path("batches.meta.txt").string() + ":3:", "\"cat\" repeats line 1"});
    std::string many;
    for (int index = 0; index < 257; ++index) many += "class" + std::to_string(index) + "\n";
    write_text(path("batches.meta.txt"), many);
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); }, {path("batches.meta.txt").string(), "257 class names"});
}

TEST_F(Cifar10Test, Cifar100IsRecognisedAndRefused) {
    write_bytes(path("train.bin"), Bytes(3 * 3074, 0));
    write_bytes(path("test.bin"), Bytes(2 * 3074, 0));
    write_text(path("fine_label_names.txt"), "apple\naquarium_fish\n");
    write_text(path("coarse_label_names.txt"), "aquatic_mammals\nfish\n");
    expect_error([&] { convnet::read_cifar10(directory_, Split::train); },
                 {directory_.string(), "CIFAR-100", "3074-byte records", "does not read"});

    // CIFAR-100's records given under CIFAR-10's names: the size says what they are.
    write_folder(path("renamed"));
    write_bytes(path("renamed") / "test_batch.bin", Bytes(2 * 3074, 0));
    expect_error(
        [&] { convnet::read_cifar10(path("renamed"), Split::test); },
        {(path("renamed") / "test_batch.bin").string(), "truncated or not a CIFAR-10 binary batch", "3074-byte records", "CIFAR-100"});
}

// A huge file is refused by its size, before anything is allocated or read (a sparse file here).
TEST_F(Cifar10Test, HugeBatchRefusedBeforeReading) {
    write_folder(directory_);
    fs::resize_file(path("test_batch.bin"), (std::uintmax_t{1} << 30) + 3073);
    expect_error([&] { convnet::read_cifar10(directory_, Split::test); }, {path("test_batch.bin").string(), "1073744897 bytes", "limit"});
}

}  // namespace
