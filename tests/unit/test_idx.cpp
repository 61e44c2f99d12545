// Tests of the IDX reader: small raw and gzip files written per test, good and broken, and (when
// `make data` has run) the real datasets. Temporary files live in a per-test folder, removed after.
#include <convnet/data/data.h>
#include <convnet/core/error.h>

#include <gtest/gtest.h>
#include <zlib.h>

#include <unistd.h>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kImagesMagic = 0x00000803;
constexpr std::uint32_t kLabelsMagic = 0x00000801;

// A folder unique to this test and process (CTest may run tests in parallel), removed on exit.
class TempDir {
public:
    TempDir() {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = fs::temp_directory_path() / ("convnet_test_idx_" + std::string(test->name()) + "_" + std::to_string(::getpid()));
        fs::remove_all(path_);
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    fs::path operator/(const std::string& name) const { return path_ / name; }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void append_big_endian(Bytes& bytes, std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An IDX file: magic, the given header words (counts and sizes, true or not), then the payload.
Bytes idx_bytes(std::uint32_t magic, std::initializer_list<std::uint32_t> dims, const Bytes& payload) {
    Bytes bytes;
    append_big_endian(bytes, magic);
    for (std::uint32_t dim : dims) append_big_endian(bytes, dim);
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    return bytes;
}

// Pixel values that differ per image and position, so that a misplaced byte is noticed.
Bytes pattern_pixels(std::size_t count) {
    Bytes pixels(count);
    for (std::size_t index = 0; index < count; ++index) pixels[index] = static_cast<std::uint8_t>(index * 7 + 3);
    return pixels;
}

void write_raw(const fs::path& path, const Bytes& bytes) {
    std::ofstream stream(path, std::ios::binary);
    stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(stream.good()) << "cannot write " << path;
}

void write_gzip(const fs::path& path, const Bytes& bytes) {
    gzFile file = gzopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr) << "cannot write " << path;
    const int written = bytes.empty() ? 0 : gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    const int closed = gzclose(file);
    ASSERT_EQ(written, static_cast<int>(bytes.size())) << path;
    ASSERT_EQ(closed, Z_OK) << path;
}

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream stream(path, std::ios::binary);
    stream << text;
    ASSERT_TRUE(stream.good()) << "cannot write " << path;
}

// Passes when `action` throws convnet::Error whose message holds every phrase; otherwise says
// what was thrown instead, with the whole message.
::testing::AssertionResult throws_error_with(const std::function<void()>& action, std::initializer_list<std::string> phrases) {
    try {
        action();
    } catch (const convnet::Error& error) {
        const std::string message = error.what();
        for (const std::string& phrase : phrases) {
            if (message.find(phrase) == std::string::npos) {
                return ::testing::AssertionFailure() << "message lacks \"" << phrase << "\": " << message;
            }
        }
        return ::testing::AssertionSuccess();
    } catch (const std::exception& error) {
        return ::testing::AssertionFailure() << "threw another exception type: " << error.what();
    }
    return ::testing::AssertionFailure() << "did not throw";
}

// Three 2x4 images and their labels: the small good pair most tests start from.
struct SmallPair {
    static constexpr std::uint32_t count = 3, rows = 2, cols = 4;
    Bytes pixels = pattern_pixels(count * rows * cols);
    Bytes labels = {0, 9, 3};
    Bytes images_file() const { return idx_bytes(kImagesMagic, {count, rows, cols}, pixels); }
    Bytes labels_file() const { return idx_bytes(kLabelsMagic, {count}, labels); }
};

void expect_small_pair(const convnet::Dataset& dataset, const SmallPair& pair) {
    EXPECT_EQ(dataset.count, 3);
    EXPECT_EQ(dataset.height, 2);
    EXPECT_EQ(dataset.width, 4);
    EXPECT_EQ(dataset.images, pair.pixels);
    EXPECT_EQ(dataset.labels, pair.labels);
    EXPECT_EQ(dataset.image(1), dataset.images.data() + 8);
    EXPECT_EQ(dataset.num_classes(), 10);
    ASSERT_EQ(dataset.class_names.size(), 10u);
    EXPECT_EQ(dataset.class_names.front(), "0");
    EXPECT_EQ(dataset.class_names.back(), "9");
}

TEST(IdxReader, ReadsRawPair) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    expect_small_pair(convnet::read_idx_pair(dir / "images", dir / "labels"), pair);
}

TEST(IdxReader, ReadsGzipPairAndMixedPair) {
    TempDir dir;
    SmallPair pair;
    write_gzip(dir / "images.gz", pair.images_file());
    write_gzip(dir / "labels.gz", pair.labels_file());
    write_raw(dir / "labels", pair.labels_file());
    expect_small_pair(convnet::read_idx_pair(dir / "images.gz", dir / "labels.gz"), pair);
    expect_small_pair(convnet::read_idx_pair(dir / "images.gz", dir / "labels"), pair);
}

// More than one read chunk (1 MiB), so that the incremental gzip path joins chunks correctly.
TEST(IdxReader, ReadsGzipLargerThanOneChunk) {
    TempDir dir;
    const std::uint32_t count = 3000, rows = 28, cols = 28;
    const Bytes pixels = pattern_pixels(std::size_t{count} * rows * cols);
    Bytes labels(count);
    for (std::uint32_t index = 0; index < count; ++index) labels[index] = static_cast<std::uint8_t>(index % 10);
    write_gzip(dir / "images.gz", idx_bytes(kImagesMagic, {count, rows, cols}, pixels));
    write_gzip(dir / "labels.gz", idx_bytes(kLabelsMagic, {count}, labels));
    const convnet::Dataset dataset = convnet::read_idx_pair(dir / "images.gz", dir / "labels.gz");
    EXPECT_EQ(dataset.count, 3000);
    EXPECT_EQ(dataset.height, 28);
    EXPECT_EQ(dataset.width, 28);
    EXPECT_TRUE(dataset.images == pixels) << "image bytes differ from those written";
    EXPECT_EQ(dataset.labels, labels);
}

TEST(IdxReader, MissingFileNamesIt) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "labels", pair.labels_file());
    const fs::path missing = dir / "no-such-images";
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(missing, dir / "labels"); }, {missing.string(), "not found"}));
}

TEST(IdxReader, DirectoryInsteadOfFile) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "labels", pair.labels_file());
    fs::create_directory(dir / "images");
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "images").string(), "not a regular file"}));
}

TEST(IdxReader, WrongMagicShowsExpectedAndActualInHex) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", idx_bytes(0x12345678, {3, 2, 4}, pair.pixels));
    write_raw(dir / "labels", pair.labels_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "images").string(), "wrong magic number", "0x00000803", "0x12345678"}));

    write_raw(dir / "images", pair.images_file());
    write_gzip(dir / "labels.gz", idx_bytes(0x00000b01, {3}, pair.labels));  // int32 labels, not bytes
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels.gz"); },
                                  {(dir / "labels.gz").string(), "wrong magic number", "0x00000801", "0x00000b01"}));
}

TEST(IdxReader, WrongDimensionCount) {
    TempDir dir;
    SmallPair pair;
    // Files swapped: the labels file (1 dimension) given as images, and the reverse.
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "labels", dir / "images"); },
                                  {(dir / "labels").string(), "wrong dimension count", "expected 3", "got 1"}));
    write_raw(dir / "labels3d", idx_bytes(kImagesMagic, {3, 1, 1}, pair.labels));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels3d"); },
                                  {(dir / "labels3d").string(), "wrong dimension count", "expected 1", "got 3"}));
}

TEST(IdxReader, TruncatedHeader) {
    TempDir dir;
    SmallPair pair;
    const Bytes whole = pair.images_file();
    write_raw(dir / "images", Bytes(whole.begin(), whole.begin() + 10));
    write_raw(dir / "labels", pair.labels_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "images").string(), "truncated header", "expected 16 bytes, got 10"}));
    write_gzip(dir / "empty.gz", {});
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "empty.gz", dir / "labels"); },
                                  {(dir / "empty.gz").string(), "truncated header", "got 0"}));
}

TEST(IdxReader, TruncatedImagesRawAndGzip) {
    TempDir dir;
    SmallPair pair;
    // The header claims 3 images of 2x4 (24 bytes); 20 follow.
    const Bytes short_images = idx_bytes(kImagesMagic, {3, 2, 4}, Bytes(pair.pixels.begin(), pair.pixels.begin() + 20));
    write_raw(dir / "images", short_images);
    write_gzip(dir / "images.gz", short_images);
    write_raw(dir / "labels", pair.labels_file());
    for (const char* name : {"images", "images.gz"}) {
        EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / name, dir / "labels"); },
                                      {(dir / name).string(), "truncated", "expected 24 bytes", "got 20"}))
            << name;
    }
}

TEST(IdxReader, TruncatedLabelsRawAndGzip) {
    TempDir dir;
    SmallPair pair;
    const Bytes short_labels = idx_bytes(kLabelsMagic, {3}, {0, 9});
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", short_labels);
    write_gzip(dir / "labels.gz", short_labels);
    for (const char* name : {"labels", "labels.gz"}) {
        EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / name); },
                                      {(dir / name).string(), "truncated", "expected 3 bytes", "got 2"}))
            << name;
    }
}

// A gzip stream cut short (no trailer, part of the deflate data missing) reads as truncated.
TEST(IdxReader, CutGzipStreamIsTruncated) {
    TempDir dir;
    const std::uint32_t count = 200;
    const Bytes pixels = pattern_pixels(std::size_t{count} * 28 * 28);
    write_gzip(dir / "whole.gz", idx_bytes(kImagesMagic, {count, 28, 28}, pixels));
    std::ifstream whole(dir / "whole.gz", std::ios::binary);
    const Bytes compressed((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
    ASSERT_GT(compressed.size(), 100u);
    write_raw(dir / "images.gz", Bytes(compressed.begin(), compressed.begin() + compressed.size() / 2));
    write_raw(dir / "labels", idx_bytes(kLabelsMagic, {count}, Bytes(count, 1)));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images.gz", dir / "labels"); },
                                  {(dir / "images.gz").string(), "truncated", "expected 156800 bytes"}));
}

TEST(IdxReader, CorruptGzipStream) {
    TempDir dir;
    SmallPair pair;
    write_gzip(dir / "whole.gz", pair.images_file());
    std::ifstream whole(dir / "whole.gz", std::ios::binary);
    Bytes compressed((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
    ASSERT_GT(compressed.size(), 18u);
    compressed[compressed.size() - 8] ^= 0xff;  // the CRC-32 in the trailer
    write_raw(dir / "images.gz", compressed);
    write_raw(dir / "labels", pair.labels_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images.gz", dir / "labels"); },
                                  {(dir / "images.gz").string(), "corrupt gzip data"}));
}

TEST(IdxReader, DataBeyondHeaderClaimRawAndGzip) {
    TempDir dir;
    SmallPair pair;
    Bytes padded_pixels = pair.pixels;
    padded_pixels.push_back(0);
    const Bytes long_images = idx_bytes(kImagesMagic, {3, 2, 4}, padded_pixels);
    write_raw(dir / "images", long_images);
    write_gzip(dir / "images.gz", long_images);
    write_raw(dir / "labels", pair.labels_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "images").string(), "1 bytes after", "header"}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images.gz", dir / "labels"); },
                                  {(dir / "images.gz").string(), "more data than the 24 bytes"}));
}

TEST(IdxReader, ImageAndLabelCountsDiffer) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", idx_bytes(kLabelsMagic, {2}, {0, 9}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "images").string(), (dir / "labels").string(), "counts differ", "3 images", "2 labels"}));
}

TEST(IdxReader, LabelBeyondDefaultClasses) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", idx_bytes(kLabelsMagic, {3}, {0, 10, 3}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "labels").string(), "label 10 at index 1", "number of classes, 10", "classes.txt"}));
}

TEST(IdxReader, LabelBeyondClassesTxt) {
    TempDir dir;
    SmallPair pair;  // labels 0, 9, 3
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    write_text(dir / "classes.txt", "cat\ndog\nbird\n");
    EXPECT_TRUE(
        throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                          {(dir / "labels").string(), "label 9 at index 1", "number of classes, 3", (dir / "classes.txt").string()}));
}

TEST(IdxReader, ZeroCountRowsOrCols) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "labels", pair.labels_file());
    write_raw(dir / "zero-count", idx_bytes(kImagesMagic, {0, 2, 4}, {}));
    write_raw(dir / "zero-rows", idx_bytes(kImagesMagic, {3, 0, 4}, {}));
    write_gzip(dir / "zero-cols.gz", idx_bytes(kImagesMagic, {3, 2, 0}, {}));
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "zero-labels", idx_bytes(kLabelsMagic, {0}, {}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "zero-count", dir / "labels"); },
                                  {(dir / "zero-count").string(), "count is 0"}));
    EXPECT_TRUE(
        throws_error_with([&] { convnet::read_idx_pair(dir / "zero-rows", dir / "labels"); }, {(dir / "zero-rows").string(), "rows is 0"}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "zero-cols.gz", dir / "labels"); },
                                  {(dir / "zero-cols.gz").string(), "cols is 0"}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "zero-labels"); },
                                  {(dir / "zero-labels").string(), "count is 0"}));
}

// Headers that claim far more than the file holds are refused before the claimed memory is
// allocated: by the limits, by the raw file's size, or by a gzip stream that ends early.
TEST(IdxReader, HugeClaimsAreRefusedBeforeAllocation) {
    TempDir dir;
    SmallPair pair;
    const Bytes huge_count = idx_bytes(kImagesMagic, {2'000'000'000, 28, 28}, pair.pixels);
    write_raw(dir / "huge-count", huge_count);
    write_gzip(dir / "huge-count.gz", huge_count);
    write_raw(dir / "huge-labels", idx_bytes(kLabelsMagic, {2'000'000'000}, pair.labels));
    for (const char* name : {"huge-count", "huge-count.gz"}) {
        EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / name, dir / "huge-labels"); },
                                      {(dir / name).string(), "2000000000 images", "limit"}))
            << name;
    }

    // 0xffffffff x 0xffffffff pixels: the size check itself must not overflow.
    write_raw(dir / "huge-image", idx_bytes(kImagesMagic, {1, 0xffffffff, 0xffffffff}, pair.pixels));
    write_raw(dir / "one-label", idx_bytes(kLabelsMagic, {1}, {0}));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "huge-image", dir / "one-label"); },
                                  {(dir / "huge-image").string(), "4294967295x4294967295", "limit"}));

    // Within the limits (1.5 GB) but the file holds 24 bytes; gzip data of a few dozen bytes
    // cannot inflate to the claim either (deflate expands at most 1,032 times), which is known
    // before the first read (the reader once reserved 256 MB for such a file).
    const Bytes big_claim = idx_bytes(kImagesMagic, {2'000'000, 28, 28}, pair.pixels);
    write_raw(dir / "big-claim", big_claim);
    write_gzip(dir / "big-claim.gz", big_claim);
    write_raw(dir / "big-labels", idx_bytes(kLabelsMagic, {2'000'000}, Bytes(2'000'000, 1)));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "big-claim", dir / "big-labels"); },
                                  {(dir / "big-claim").string(), "truncated", "expected 1568000000 bytes", "got 24"}));
    const auto gzip_bytes = std::to_string(fs::file_size(dir / "big-claim.gz"));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "big-claim.gz", dir / "big-labels"); },
                                  {(dir / "big-claim.gz").string(), "truncated", "2000000 images of 28x28, 1568000000 bytes",
                                   "more than a gzip file of " + gzip_bytes + " bytes can hold", "1,032 times"}));
}

TEST(IdxReader, ClassNamesFromClassesTxt) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    // Trailing blanks and CRLF trimmed, empty and blank lines skipped.
    write_text(dir / "classes.txt", "T-shirt/top  \r\nTrouser\n\nPullover\nDress\t\nCoat\n   \nSandal\nShirt\nSneaker\nBag\nAnkle boot");
    const convnet::Dataset dataset = convnet::read_idx_pair(dir / "images", dir / "labels");
    const std::vector<std::string> expected = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                               "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    EXPECT_EQ(dataset.class_names, expected);
    EXPECT_EQ(dataset.num_classes(), 10);
}

TEST(IdxReader, EmptyClassesTxtIsAnError) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    write_text(dir / "classes.txt", "\n  \n");
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "classes.txt").string(), "no class names"}));
}

// Random bytes as classes.txt (a newcomer's try: 23 "classes", then an error blaming the model).
TEST(IdxReader, BinaryClassesTxtIsRefusedWithTheLine) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "images", pair.images_file());
    write_raw(dir / "labels", pair.labels_file());
    write_text(dir / "classes.txt", std::string("cat\ndog\nbi\x01rd\n", 13));
    EXPECT_TRUE(throws_error_with([&] { convnet::read_idx_pair(dir / "images", dir / "labels"); },
                                  {(dir / "classes.txt").string() + ":3: control byte 0x01 at column 3", "one class name a line"}));
}

TEST(LoadSplit, LoadsTrainAndTestPreferringRawFiles) {
    TempDir dir;
    SmallPair train;
    SmallPair test;
    test.labels = {5, 5, 1};
    SmallPair stale;  // a .gz beside a raw file of the same name must lose to the raw one
    stale.labels = {7, 7, 7};
    write_raw(dir / "train-images-idx3-ubyte", train.images_file());
    write_raw(dir / "train-labels-idx1-ubyte", train.labels_file());
    write_gzip(dir / "train-labels-idx1-ubyte.gz", stale.labels_file());
    write_gzip(dir / "t10k-images-idx3-ubyte.gz", test.images_file());
    write_gzip(dir / "t10k-labels-idx1-ubyte.gz", test.labels_file());
    write_text(dir / "classes.txt", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");

    expect_small_pair(convnet::load_split(dir.path(), convnet::Split::train), train);
    expect_small_pair(convnet::load_split(dir.path(), convnet::Split::test), test);
}

TEST(LoadSplit, MissingFolderSaysMakeData) {
    TempDir dir;
    const fs::path missing = dir / "fashion-mnist";
    EXPECT_TRUE(
        throws_error_with([&] { convnet::load_split(missing, convnet::Split::train); }, {missing.string(), "not found", "make data"}));
}

TEST(LoadSplit, MissingFileSaysMakeData) {
    TempDir dir;
    SmallPair pair;
    write_raw(dir / "train-images-idx3-ubyte", pair.images_file());
    write_raw(dir / "train-labels-idx1-ubyte", pair.labels_file());
    write_raw(dir / "t10k-images-idx3-ubyte", pair.images_file());
    EXPECT_TRUE(throws_error_with([&] { convnet::load_split(dir.path(), convnet::Split::test); },
                                  {dir.path().string(), "t10k-labels-idx1-ubyte", "make data"}));
}

#ifdef CONVNET_SOURCE_DIR
// The real datasets, when `make data` has fetched them into the source tree's data/ folder.
TEST(RealData, SplitsHaveOfficialSizesAndBalancedFashionClasses) {
    const fs::path data = fs::path(CONVNET_SOURCE_DIR) / "data";
    if (!fs::exists(data / "mnist") && !fs::exists(data / "fashion-mnist")) {
        GTEST_SKIP() << "no data in " << data << "; run `make data`";
    }
    for (const char* name : {"mnist", "fashion-mnist"}) {
        if (!fs::exists(data / name)) continue;
        const convnet::Dataset train = convnet::load_split(data / name, convnet::Split::train);
        const convnet::Dataset test = convnet::load_split(data / name, convnet::Split::test);
        EXPECT_EQ(train.count, 60000) << name;
        EXPECT_EQ(test.count, 10000) << name;
        EXPECT_EQ(train.height, 28) << name;
        EXPECT_EQ(train.width, 28) << name;
        EXPECT_EQ(train.num_classes(), 10) << name;
        if (std::string(name) == "fashion-mnist") {
            EXPECT_EQ(train.class_names.front(), "T-shirt/top");
            std::vector<int> train_per_class(10), test_per_class(10);
            for (std::uint8_t label : train.labels) ++train_per_class[label];
            for (std::uint8_t label : test.labels) ++test_per_class[label];
            EXPECT_EQ(train_per_class, std::vector<int>(10, 6000));
            EXPECT_EQ(test_per_class, std::vector<int>(10, 1000));
        }
    }
}
#endif

}  // namespace
