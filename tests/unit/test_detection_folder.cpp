// Tests of the detection folder reader (the Darknet/YOLO layout): pairing images with label files,
// the label lines' corners and clipping, boxes kept through a stretch and moved, clipped or dropped
// by a center crop, every refused label line by file and line, a missing label file's warning, the
// cache with its boxes, the fingerprint, the validation split by image, and the layout's recognition.
#include <convnet/data/dataset.h>
#include <convnet/data/detection_folder.h>
#include <convnet/data/image.h>

#include "test_support.h"

#include <fstream>
#include <set>

namespace convnet {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

void write_text(const fs::path& path, const std::string& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
}

// A grey picture whose pixel (y, x) is (5y + 3x + seed) mod 256.
std::vector<std::uint8_t> grey_picture(int height, int width, int seed) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(height * width));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) pixels[static_cast<std::size_t>(y * width + x)] = static_cast<std::uint8_t>((5 * y + 3 * x + seed) % 256);
    return pixels;
}

void expect_box(const Box& box, float x1, float y1, float x2, float y2) {
    EXPECT_NEAR(box.x1, x1, 1e-6f);
    EXPECT_NEAR(box.y1, y1, 1e-6f);
    EXPECT_NEAR(box.x2, x2, 1e-6f);
    EXPECT_NEAR(box.y2, y2, 1e-6f);
}

class DetectionFolderTest : public testing::TemporaryFolderTest {
protected:
    fs::path root() const { return directory_ / "boxes"; }
    ImageFolderOptions options(int size = 8) const {
        ImageFolderOptions result;
        result.height = result.width = size;
        return result;
    }
    void write_classes() { write_text(root() / "classes.txt", "cat\ndog\nbird\n"); }
    // Image NAME (height×width, grey) in `split` with `labels` as its label file (none when nullopt).
    void write_image(const std::string& split, const std::string& name, int height, int width, int seed,
                     const std::optional<std::string>& labels) {
        write_text(root() / split / "images" / (name + ".png"), encode_png(grey_picture(height, width, seed), 1, height, width));
        if (labels) write_text(label_file(split, name), *labels);
        else fs::create_directories(root() / split / "labels");
    }
    fs::path label_file(const std::string& split, const std::string& name) const { return root() / split / "labels" / (name + ".txt"); }
    // train/: a with two objects (one past the right edge), b with an empty label file, c with none;
    // test/: one image of one object.
    void write_set() {
        write_classes();
        write_image("train", "a", 10, 20, 0, "1 0.5 0.25 0.5 0.5\n0 0.9 0.5 0.4 0.2\n");
        write_image("train", "b", 10, 20, 1, "");
        write_image("train", "c", 10, 20, 2, std::nullopt);
        write_image("test", "t", 8, 8, 3, "2 0.5 0.5 0.5 0.5\n");
    }
};

TEST_F(DetectionFolderTest, ReadsImagesWithTheirBoxesByName) {
    write_set();
    ASSERT_TRUE(is_detection_folder(root()));
    EXPECT_EQ(dataset_kind(root()), DatasetKind::detection_folder);
    EXPECT_EQ(dataset_kind_name(DatasetKind::detection_folder), "detection folder");
    std::vector<std::string> warnings;
    const Dataset train = read_detection_folder(root(), "train", options(), nullptr, &warnings);
    EXPECT_EQ(train.count, 3);
    EXPECT_EQ(train.task(), TaskKind::detect);
    EXPECT_TRUE(train.labels.empty());
    EXPECT_TRUE(train.masks.empty());
    EXPECT_EQ(train.class_names, (std::vector<std::string>{"cat", "dog", "bird"}));
    EXPECT_EQ(train.box_offsets, (std::vector<std::int64_t>{0, 2, 2, 2}));
    ASSERT_EQ(train.objects(0).size(), 2u);
    EXPECT_EQ(train.objects(0)[0].label, 1);
    expect_box(train.objects(0)[0].box, 0.25f, 0.0f, 0.75f, 0.5f);
    EXPECT_EQ(train.objects(0)[1].label, 0);
    expect_box(train.objects(0)[1].box, 0.7f, 0.4f, 1.0f, 0.6f);  // x2 = 1.1 clipped, as Darknet clips
    EXPECT_TRUE(train.objects(1).empty());                         // an empty label file: no objects, no warning
    EXPECT_TRUE(train.objects(2).empty());                         // a missing one: no objects, and a warning
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find(label_file("train", "c").string()), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("not found"), std::string::npos) << warnings[0];
    // Images as an image folder converts them: here an 8x8 test image at 8x8, its own bytes.
    const Dataset test = read_detection_folder(root(), "test", options());
    EXPECT_EQ(std::vector<std::uint8_t>(test.image(0), test.image(0) + 64), grey_picture(8, 8, 3));
    // load_dataset reads it and passes the warnings on.
    DataOptions data;
    data.images = options();
    warnings.clear();
    const Dataset loaded = load_dataset(root(), "train", data, nullptr, &warnings);
    EXPECT_EQ(loaded.boxes.size(), 2u);
    EXPECT_EQ(warnings.size(), 1u);
}

// Normalised corners do not change when the picture is stretched to another size.
TEST_F(DetectionFolderTest, StretchKeepsTheNormalisedBoxes) {
    write_set();
    const Dataset small = read_detection_folder(root(), "train", options(8)), large = read_detection_folder(root(), "train", options(32));
    EXPECT_EQ(small.images.size(), 3u * 64u);
    EXPECT_EQ(large.images.size(), 3u * 32u * 32u);
    const std::vector<ObjectBox> parsed = parse_yolo_labels("1 0.5 0.25 0.5 0.5\n0 0.9 0.5 0.4 0.2\n", 3, "a.txt");
    for (const Dataset* dataset : {&small, &large}) {
        ASSERT_EQ(dataset->boxes.size(), 2u);
        for (std::size_t i = 0; i < 2; ++i) {
            EXPECT_EQ(dataset->boxes[i].label, parsed[i].label);
            expect_box(dataset->boxes[i].box, parsed[i].box.x1, parsed[i].box.y1, parsed[i].box.x2, parsed[i].box.y2);
        }
    }
}

// A 10-high, 20-wide picture center-cropped to 10x10 keeps columns 5 to 14: x in [0.25, 0.75].
TEST_F(DetectionFolderTest, CenterCropMovesClipsAndDropsBoxes) {
    expect_box(network_input_window(10, 20, 10, 10, ResizePolicy::center_crop), 0.25f, 0.0f, 0.75f, 1.0f);
    expect_box(network_input_window(10, 20, 10, 10, ResizePolicy::stretch), 0.0f, 0.0f, 1.0f, 1.0f);
    expect_box(network_input_window(40, 20, 10, 10, ResizePolicy::center_crop), 0.0f, 0.25f, 1.0f, 0.75f);  // 20x40 → 10x20, rows 5..14
    write_classes();
    write_image("train", "wide", 10, 20, 0,
                "0 0.5 0.5 0.2 0.4\n"     // x 0.4..0.6: inside, moved to 0.3..0.7
                "1 0.3 0.5 0.3 0.2\n"     // x 0.15..0.45: 2/3 visible, clipped to 0..0.4
                "2 0.2 0.5 0.3 0.2\n"     // x 0.05..0.35: 1/3 visible (< 0.4), dropped
                "0 0.1 0.5 0.2 0.2\n"     // x 0..0.2: outside, dropped
                "1 0.85 0.5 0.25 0.2\n");  // x 0.725..0.975: 0.025/0.25 = 1/10 visible, dropped
    ImageFolderOptions cropped = options(10);
    cropped.resize = ResizePolicy::center_crop;
    const Dataset dataset = read_detection_folder(root(), "train", cropped);
    ASSERT_EQ(dataset.boxes.size(), 2u);
    EXPECT_EQ(dataset.boxes[0].label, 0);
    expect_box(dataset.boxes[0].box, 0.3f, 0.3f, 0.7f, 0.7f);
    EXPECT_EQ(dataset.boxes[1].label, 1);
    expect_box(dataset.boxes[1].box, 0.0f, 0.4f, 0.4f, 0.6f);
    // The image is to_network_input's center crop: columns 5..14 of the picture.
    const std::vector<std::uint8_t> picture = grey_picture(10, 20, 0);
    for (int y = 0; y < 10; ++y)
        for (int x = 0; x < 10; ++x) EXPECT_EQ(dataset.image(0)[y * 10 + x], picture[static_cast<std::size_t>(y * 20 + x + 5)]);
    // crop_box on its own: a window reaching past the picture, the threshold given.
    expect_box(*crop_box(Box{0.0f, 0.0f, 0.5f, 0.5f}, Box{-0.5f, -0.5f, 0.5f, 0.5f}), 0.5f, 0.5f, 1.0f, 1.0f);
    EXPECT_FALSE(crop_box(Box{0.0f, 0.0f, 0.5f, 0.5f}, Box{0.4f, 0.0f, 1.0f, 1.0f}).has_value());  // a fifth visible
    EXPECT_TRUE(crop_box(Box{0.0f, 0.0f, 0.5f, 0.5f}, Box{0.4f, 0.0f, 1.0f, 1.0f}, 0.1).has_value());
    EXPECT_FALSE(crop_box(Box{0.2f, 0.2f, 0.2f, 0.5f}, Box{0.0f, 0.0f, 1.0f, 1.0f}).has_value());  // no area
}

TEST(DetectionLabels, FineLinesAreRead) {
    const std::vector<ObjectBox> objects = parse_yolo_labels("\xEF\xBB\xBF"
                                                             "0 0.5 0.5 0.2 0.2   \r\n"
                                                             "\r\n"
                                                             "   \t\n"
                                                             "\t2\t+0.25  2.5e-1 1e-1 0.1\r"
                                                             "1.0 1 0 1 1",
                                                             3, "f.txt");
    ASSERT_EQ(objects.size(), 3u);
    expect_box(objects[0].box, 0.4f, 0.4f, 0.6f, 0.6f);
    EXPECT_EQ(objects[1].label, 2);
    expect_box(objects[1].box, 0.2f, 0.2f, 0.3f, 0.3f);
    EXPECT_EQ(objects[2].label, 1);
    expect_box(objects[2].box, 0.5f, 0.0f, 1.0f, 0.5f);  // centre on the corner: clipped to a quarter
    EXPECT_TRUE(parse_yolo_labels("", 3, "f.txt").empty());
    EXPECT_TRUE(parse_yolo_labels("\n\n  \n", 3, "f.txt").empty());
}

TEST(DetectionLabels, BadLinesAreRefusedByFileAndLine) {
    const auto refused = [](const std::string& line, std::initializer_list<std::string> parts) {
        SCOPED_TRACE(line);
        std::vector<std::string> expected{"f.txt:2: "};
        expected.insert(expected.end(), parts.begin(), parts.end());
        const std::string message = testing::error_message([&] { parse_yolo_labels("0 0.5 0.5 0.1 0.1\n" + line + "\n", 3, "f.txt"); });
        for (const std::string& part : expected) EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nmissing: " << part;
    };
    refused("0 0.5 0.5 0.2", {"expected 5 numbers", "found 4 fields"});
    refused("0 0.5 0.5 0.2 0.2 0.7", {"found 6 fields"});
    refused("cat 0.5 0.5 0.2 0.2", {"class 'cat' is not a number"});
    refused("0 0,5 0.5 0.2 0.2", {"cx '0,5' is not a number"});
    refused("0 0.5 0.5 0.2 0.2\x01", {"h '0.2\\x01' is not a number"});
    refused("1.5 0.5 0.5 0.2 0.2", {"class '1.5' is not an integer"});
    refused("3 0.5 0.5 0.2 0.2", {"class '3' is not a class index", "0 to 2", "3 classes"});
    refused("-1 0.5 0.5 0.2 0.2", {"class '-1'", "0 to 2"});
    refused("0 nan 0.5 0.2 0.2", {"cx 'nan' is not a finite number"});
    refused("0 0.5 -inf 0.2 0.2", {"cy '-inf' is not a finite number"});
    refused("0 0.5 0.5 1e999 0.2", {"w '1e999' is out of the range"});
    refused("0 1.2 0.5 0.2 0.2", {"centre (cx '1.2', cy '0.5') is outside [0, 1]"});
    refused("0 0.5 -0.01 0.2 0.2", {"outside [0, 1]"});
    refused("0 0.5 0.5 0 0.2", {"w '0' is not a width in (0, 1]"});
    refused("0 0.5 0.5 0.2 -0.1", {"h '-0.1' is not a height in (0, 1]"});
    refused("0 0.5 0.5 30 20", {"w '30'", "pixel units"});
    refused("0 1 1 1e-30 1e-30", {"no area"});
    // A huge field is shown in part.
    const std::string message = testing::error_message([] { parse_yolo_labels("0 " + std::string(100000, '7') + "x 0.5 0.1 0.1", 3, "f.txt"); });
    EXPECT_LT(message.size(), 400u) << message;
    // At most kMaxObjectsPerImage objects.
    std::string many;
    for (std::size_t i = 0; i < kMaxObjectsPerImage; ++i) many += "0 0.5 0.5 0.1 0.1\n";
    EXPECT_EQ(parse_yolo_labels(many, 3, "f.txt").size(), kMaxObjectsPerImage);
    expect_error([&] { parse_yolo_labels(many + "0 0.5 0.5 0.1 0.1\n", 3, "f.txt"); }, {"f.txt:1001: ", "more than 1000 objects"});
}

TEST_F(DetectionFolderTest, BadFilesAreRefusedNamingThem) {
    write_set();
    // A bad line, named by its file and line.
    write_text(label_file("train", "a"), "1 0.5 0.25 0.5 0.5\r\n\r\n0 0.5 0.5 0.2\r\n");
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {label_file("train", "a").string() + ":3: ", "found 4"});
    // With --skip-bad the image is left out, and listed.
    ImageFolderOptions skipping = options();
    skipping.skip_bad = true;
    std::vector<std::string> skipped;
    const Dataset rest = read_detection_folder(root(), "train", skipping, &skipped);
    EXPECT_EQ(rest.count, 2);
    EXPECT_EQ(rest.box_offsets, (std::vector<std::int64_t>{0, 0, 0}));
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_NE(skipped[0].find("a.txt:3"), std::string::npos) << skipped[0];
    write_text(label_file("train", "a"), "1 0.5 0.25 0.5 0.5\n");
    // A label file without an image; LabelImg's classes.txt there is no label file.
    write_text(root() / "train" / "labels" / "classes.txt", "cat\ndog\nbird\n");
    EXPECT_EQ(read_detection_folder(root(), "train", options()).count, 3);
    write_text(label_file("train", "ghost"), "0 0.5 0.5 0.1 0.1\n");
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {label_file("train", "ghost").string(), "without an image"});
    fs::remove(label_file("train", "ghost"));
    // Two images of one stem.
    write_text(root() / "train" / "images" / "a.jpg", "not read");
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {"two files named a", "a.jpg", "a.png"});
    fs::remove(root() / "train" / "images" / "a.jpg");
    // A label file too large to be one.
    write_text(label_file("train", "a"), std::string(kMaxLabelFileBytes + 1, '\n'));
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {label_file("train", "a").string(), "bytes, more than"});
    write_text(label_file("train", "a"), "");
    // A class past classes.txt, which says how many there are.
    write_text(label_file("train", "b"), "3 0.5 0.5 0.1 0.1\n");
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {label_file("train", "b").string() + ":1: ", "0 to 2"});
    write_text(label_file("train", "b"), "");
    // No classes.txt; no labels/ folder in test/.
    fs::remove(root() / "classes.txt");
    expect_error([&] { read_detection_folder(root(), "train", options()); }, {"classes.txt", "not found"});
    write_classes();
    fs::remove_all(root() / "test" / "labels");
    expect_error([&] { read_detection_folder(root(), "test", options()); }, {(root() / "test" / "labels").string(), "folder not found"});
}

TEST_F(DetectionFolderTest, CacheKeepsTheBoxes) {
    write_set();
    ImageFolderOptions cached = options();
    cached.cache_dir = directory_ / "cache";
    std::vector<std::string> warnings;
    const Dataset first = read_detection_folder(root(), "train", cached, nullptr, &warnings);
    ASSERT_EQ(std::distance(fs::directory_iterator(cached.cache_dir), fs::directory_iterator{}), 1);
    const fs::path cache_file = fs::directory_iterator(cached.cache_dir)->path();
    const auto written = fs::last_write_time(cache_file);
    warnings.clear();
    const Dataset second = read_detection_folder(root(), "train", cached, nullptr, &warnings);
    EXPECT_EQ(fs::last_write_time(cache_file), written);  // read, not rewritten
    EXPECT_EQ(warnings.size(), 1u);                       // the missing label file still warns
    EXPECT_EQ(second.count, first.count);
    EXPECT_EQ(second.images, first.images);
    EXPECT_EQ(second.box_offsets, first.box_offsets);
    ASSERT_EQ(second.boxes.size(), first.boxes.size());
    for (std::size_t i = 0; i < first.boxes.size(); ++i) {
        EXPECT_EQ(second.boxes[i].label, first.boxes[i].label);
        expect_box(second.boxes[i].box, first.boxes[i].box.x1, first.boxes[i].box.y1, first.boxes[i].box.x2, first.boxes[i].box.y2);
    }
    EXPECT_TRUE(second.labels.empty());
    EXPECT_EQ(dataset_fingerprint(second), dataset_fingerprint(first));
    // A damaged cache is rebuilt.
    std::string bytes;
    {
        std::ifstream file(cache_file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    bytes[bytes.size() - 10] ^= 0x55;
    write_text(cache_file, bytes);
    EXPECT_EQ(dataset_fingerprint(read_detection_folder(root(), "train", cached)), dataset_fingerprint(first));
    // A changed label file changes the key: the set is read again.
    write_text(label_file("train", "b"), "2 0.5 0.5 0.2 0.2\n");
    const Dataset third = read_detection_folder(root(), "train", cached);
    EXPECT_EQ(third.box_offsets, (std::vector<std::int64_t>{0, 2, 3, 3}));
    EXPECT_EQ(third.boxes[2].label, 2);
}

TEST(DetectionFingerprint, ChangesWithTheBoxes) {
    Dataset dataset;
    dataset.count = 2;
    dataset.height = dataset.width = 2;
    dataset.images.assign(8, 7);
    dataset.class_names = {"a", "b"};
    dataset.boxes = {ObjectBox{Box{0.1f, 0.1f, 0.5f, 0.5f}, 0}, ObjectBox{Box{0.2f, 0.2f, 0.9f, 0.9f}, 1}};
    dataset.box_offsets = {0, 1, 2};
    const std::uint64_t original = dataset_fingerprint(dataset);
    Dataset moved = dataset;
    moved.boxes[1].box.x2 = 0.8f;
    Dataset relabelled = dataset;
    relabelled.boxes[0].label = 1;
    Dataset regrouped = dataset;
    regrouped.box_offsets = {0, 2, 2};  // both boxes on the first image
    Dataset without = dataset;
    without.boxes.clear();
    without.box_offsets = {0, 0, 0};
    for (const Dataset* changed : {&moved, &relabelled, &regrouped, &without}) EXPECT_NE(dataset_fingerprint(*changed), original);
    EXPECT_EQ(dataset_fingerprint(Dataset(dataset)), original);
}

TEST_F(DetectionFolderTest, ValSplitHoldsOutImagesWithTheirBoxes) {
    write_classes();
    // Image i has i % 3 objects, each at cx = (i + 1) / 20 with class i % 3.
    for (int i = 0; i < 10; ++i) {
        std::string lines;
        for (int k = 0; k < i % 3; ++k) lines += std::to_string(i % 3) + " " + std::to_string((i + 1) / 20.0) + " 0.5 0.05 0.1\n";
        write_image("train", "s" + std::to_string(i), 8, 8, i, lines);
    }
    ImageFolderOptions split = options();
    split.val_split = 0.3;
    split.split_seed = 5;
    const Dataset train = read_detection_folder(root(), "train", split), val = read_detection_folder(root(), "val", split);
    EXPECT_EQ(train.count, 7);
    EXPECT_EQ(val.count, 3);
    ASSERT_EQ(val.box_offsets.size(), 4u);
    EXPECT_EQ(train.boxes.size() + val.boxes.size(), 9u);  // 0+1+2+0+1+2+0+1+2+0
    // Every image keeps its own boxes: its objects' centre names it, their count and class follow.
    std::set<int> seen;
    for (const Dataset* part : {&train, &val})
        for (std::int64_t n = 0; n < part->count; ++n) {
            const int image = part->image(n)[0];  // pixel (0, 0) is the seed, i
            seen.insert(image);
            ASSERT_EQ(part->objects(n).size(), static_cast<std::size_t>(image % 3)) << "image " << image;
            for (const ObjectBox& object : part->objects(n)) {
                EXPECT_EQ(object.label, image % 3);
                EXPECT_NEAR((object.box.x1 + object.box.x2) / 2.0f, (image + 1) / 20.0f, 1e-6f);
            }
        }
    EXPECT_EQ(seen.size(), 10u);
    // The same seed holds out the same images.
    EXPECT_EQ(read_detection_folder(root(), "val", split).images, val.images);
    // No val/ and no val_split: refused.
    expect_error([&] { read_detection_folder(root(), "val", options()); }, {"no val/ folder", "--val-split"});
}

TEST_F(DetectionFolderTest, TheLayoutAndTheTaskOptionDecideTheKind) {
    write_set();
    EXPECT_EQ(dataset_kind(root(), TaskKind::detect), DatasetKind::detection_folder);
    expect_error([&] { dataset_kind(root(), TaskKind::classify); }, {"a detection folder", "--task detect"});
    expect_error([&] { dataset_kind(root(), TaskKind::segment); }, {"--task segment", "train/masks", "--task detect"});
    expect_error([&] { dataset_kind(directory_, TaskKind::detect); }, {"--task detect", "train/images/ is missing"});
    fs::create_directories(directory_ / "only-images" / "train" / "images");
    expect_error([&] { dataset_kind(directory_ / "only-images", TaskKind::detect); }, {"train/labels/ is missing"});
    // Both layouts in one folder: the task must say which.
    fs::create_directories(root() / "train" / "masks");
    expect_error([&] { dataset_kind(root()); }, {"both train/masks/", "--task segment or --task detect"});
    EXPECT_EQ(dataset_kind(root(), TaskKind::detect), DatasetKind::detection_folder);
    EXPECT_EQ(dataset_kind(root(), TaskKind::segment), DatasetKind::segmentation_folder);
}

}  // namespace
}  // namespace convnet
