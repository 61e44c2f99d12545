// Tests of the segmentation task: the folder reader (pairing, conversion, nearest resizing of
// masks, palette masks, the cache and every refusal), masks moved with their images by the
// augmentation, the per-pixel loss's gradient with weights and ignored pixels, the metrics
// (pixel accuracy, IoU with absent classes), balanced weights, and training end to end.
#include <convnet/data/dataset.h>
#include <convnet/inspect/plot.h>
#include <convnet/inspect/segmentation.h>
#include <convnet/data/segmentation_folder.h>
#include <convnet/train/trainer.h>

#include "test_support.h"

#include <zlib.h>

#include <cmath>
#include <fstream>

namespace convnet {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

void write_bytes(const fs::path& path, const std::string& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
}

// A grey picture whose pixel (y, x) is (7y + 3x + seed) mod 256.
std::vector<std::uint8_t> picture(int height, int width, int seed) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(height * width));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) pixels[static_cast<std::size_t>(y * width + x)] = static_cast<std::uint8_t>((7 * y + 3 * x + seed) % 256);
    return pixels;
}

// A mask of classes by quadrant: 0 top-left, 1 top-right, 2 bottom-left, 255 bottom-right.
std::vector<std::uint8_t> quadrants(int height, int width) {
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(height * width));
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            mask[static_cast<std::size_t>(y * width + x)] = y < height / 2 ? (x < width / 2 ? 0 : 1) : (x < width / 2 ? 2 : 255);
    return mask;
}

class SegmentationFolderTest : public testing::TemporaryFolderTest {
protected:
    fs::path root() const { return directory_ / "shapes"; }
    ImageFolderOptions options(int size = 8) const {
        ImageFolderOptions result;
        result.height = result.width = size;
        return result;
    }
    void write_classes() { write_bytes(root() / "classes.txt", "background\nleft\nright\n"); }
    // Image and grey mask NAME in `split`, height×width.
    void write_pair(const std::string& split, const std::string& name, int height, int width, int seed) {
        write_bytes(root() / split / "images" / (name + ".png"), encode_png(picture(height, width, seed), 1, height, width));
        write_bytes(root() / split / "masks" / (name + ".png"), encode_png(quadrants(height, width), 1, height, width));
    }
    void write_set(int count = 3, int size = 8) {
        write_classes();
        for (const char* split : {"train", "test"})
            for (int i = 0; i < count; ++i) {
                std::string name = "s";  // not "s" + to_string(i): GCC 12 warns falsely (-Wrestrict, its bug 105329)
                name += std::to_string(i);
                write_pair(split, name, size, size, i);
            }
    }
};

TEST_F(SegmentationFolderTest, PairsByNameWithImagesAndMasksAtTheModelSize) {
    write_set();
    ASSERT_TRUE(is_segmentation_folder(root()));
    EXPECT_EQ(dataset_kind(root()), DatasetKind::segmentation_folder);
    const Dataset train = read_segmentation_folder(root(), "train", options());
    EXPECT_EQ(train.count, 3);
    EXPECT_EQ(train.task(), TaskKind::segment);
    EXPECT_TRUE(train.labels.empty());
    EXPECT_EQ(train.class_names, (std::vector<std::string>{"background", "left", "right"}));
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(std::vector<std::uint8_t>(train.image(i), train.image(i) + 64), picture(8, 8, i)) << "image " << i;
        EXPECT_EQ(std::vector<std::uint8_t>(train.mask(i), train.mask(i) + 64), quadrants(8, 8)) << "mask " << i;
    }
}

// Nearest neighbour, as PIL's NEAREST: output pixel y takes source ⌊(y + 0.5)·H/h⌋, so a 2:1
// shrink takes the odd rows and columns and classes never blend.
TEST_F(SegmentationFolderTest, MasksAreResizedByNearestNeighbour) {
    write_classes();
    write_pair("train", "big", 16, 16, 0);
    const Dataset train = read_segmentation_folder(root(), "train", options(8));
    const std::vector<std::uint8_t> source = quadrants(16, 16);
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) EXPECT_EQ(train.mask(0)[y * 8 + x], source[static_cast<std::size_t>((2 * y + 1) * 16 + 2 * x + 1)]);
    EXPECT_EQ(resize_mask({1, 2, 3, 4, 5, 6}, 2, 3, 4, 6), (std::vector<std::uint8_t>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                                                                     6, 4, 4, 5, 5, 6, 6}));
    // center-crop: a 2×6 mask to 2×2 keeps the middle columns.
    EXPECT_EQ(resize_mask({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2, 6, 2, 2, ResizePolicy::center_crop),
              (std::vector<std::uint8_t>{3, 4, 9, 10}));
}

TEST_F(SegmentationFolderTest, PaletteMasksGiveTheirIndices) {
    write_classes();
    write_bytes(root() / "train" / "images" / "a.png", encode_png(picture(8, 8, 0), 1, 8, 8));
    std::vector<std::uint8_t> mask = quadrants(8, 8);
    for (std::uint8_t& value : mask) value = value == 255 ? 2 : value;
    // Colours that are not the indices: only the indices may be read.
    std::vector<std::array<std::uint8_t, 3>> palette = {{200, 10, 10}, {10, 200, 10}, {10, 10, 200}};
    write_bytes(root() / "train" / "masks" / "a.png", encode_indexed_png(mask, 8, 8, palette));
    const Dataset train = read_segmentation_folder(root(), "train", options());
    EXPECT_EQ(std::vector<std::uint8_t>(train.mask(0), train.mask(0) + 64), mask);
}

// A 1-bit grey PNG of `bits` (row by row, each row's bits packed from the high bit), by hand:
// libpng's simplified writer only writes 8-bit.
std::string one_bit_png(const std::vector<int>& bits, int height, int width) {
    const auto chunk = [](const std::string& type, const std::string& data) {
        std::string out;
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((data.size() >> shift) & 0xff));
        const std::string body = type + data;
        const auto crc = static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
        out += body;
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((crc >> shift) & 0xff));
        return out;
    };
    std::string header;
    for (const int value : {width, height})
        for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<char>((value >> shift) & 0xff));
    header += std::string("\x01\x00\x00\x00\x00", 5);  // 1-bit grey
    std::string rows;
    for (int y = 0; y < height; ++y) {
        rows.push_back('\0');  // filter: none
        for (int x = 0; x < width; x += 8) {
            unsigned char byte = 0;
            for (int b = 0; b < 8 && x + b < width; ++b) byte |= static_cast<unsigned char>(bits[static_cast<std::size_t>(y * width + x + b)] << (7 - b));
            rows.push_back(static_cast<char>(byte));
        }
    }
    uLongf size = compressBound(static_cast<uLong>(rows.size()));
    std::string packed(size, '\0');
    compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(rows.data()), static_cast<uLong>(rows.size()));
    packed.resize(size);
    return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + chunk("IDAT", packed) + chunk("IEND", "");
}

// A 1-bit grey mask (an image editor's binary mask) holds 0 and 1: read as those classes, not
// scaled to 0 and 255 as a picture's samples are.
TEST_F(SegmentationFolderTest, LowBitGreyMasksGiveTheirValues) {
    write_classes();
    write_bytes(root() / "train" / "images" / "a.png", encode_png(picture(8, 8, 0), 1, 8, 8));
    std::vector<int> bits(64);
    for (int i = 0; i < 64; ++i) bits[static_cast<std::size_t>(i)] = (i / 8 + i % 8) % 2;
    write_bytes(root() / "train" / "masks" / "a.png", one_bit_png(bits, 8, 8));
    const Dataset train = read_segmentation_folder(root(), "train", options());
    for (int i = 0; i < 64; ++i) EXPECT_EQ(train.mask(0)[i], bits[static_cast<std::size_t>(i)]) << i;
}

TEST_F(SegmentationFolderTest, CacheIsReusedAndKeepsTheMasks) {
    write_set();
    ImageFolderOptions cached = options();
    cached.cache_dir = directory_ / "cache";
    const Dataset first = read_segmentation_folder(root(), "test", cached);
    ASSERT_EQ(std::distance(fs::directory_iterator(cached.cache_dir), fs::directory_iterator{}), 1);
    const Dataset second = read_segmentation_folder(root(), "test", cached);
    EXPECT_EQ(second.masks, first.masks);
    EXPECT_EQ(second.images, first.images);
    EXPECT_EQ(dataset_fingerprint(second), dataset_fingerprint(first));
    // A changed mask changes the key: the set is read again.
    write_bytes(root() / "test" / "masks" / "s0.png", encode_png(std::vector<std::uint8_t>(64, 1), 1, 8, 8));
    EXPECT_EQ(read_segmentation_folder(root(), "test", cached).mask(0)[0], 1);
}

TEST_F(SegmentationFolderTest, ValSplitHoldsOutImagesWithTheirMasks) {
    write_set(10);
    ImageFolderOptions split = options();
    split.val_split = 0.3;
    split.split_seed = 5;
    const Dataset train = read_segmentation_folder(root(), "train", split), val = read_segmentation_folder(root(), "val", split);
    EXPECT_EQ(train.count, 7);
    EXPECT_EQ(val.count, 3);
    EXPECT_EQ(val.masks.size(), 3u * 64u);
}

TEST_F(SegmentationFolderTest, BadInputIsRefusedNamingTheFileAndValue) {
    write_set(1);
    const fs::path mask = root() / "train" / "masks" / "s0.png";
    // A value that is neither a class nor 255.
    std::vector<std::uint8_t> values = quadrants(8, 8);
    values[8 * 2 + 5] = 7;
    write_bytes(mask, encode_png(values, 1, 8, 8));
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {mask.string(), "value 7", "(x 5, y 2)", "0 to 2"});
    // Another size than its image.
    write_bytes(mask, encode_png(quadrants(8, 6), 1, 8, 6));
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {mask.string(), "6x8", "8x8"});
    // Colour.
    write_bytes(mask, encode_png(std::vector<std::uint8_t>(3 * 64, 0), 3, 8, 8));
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {mask.string(), "RGB", "class indices"});
    // An image without a mask, and a mask without an image.
    fs::remove(mask);
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {"s0.png", "no mask"});
    write_pair("train", "s0", 8, 8, 0);
    write_bytes(root() / "train" / "masks" / "extra.png", encode_png(quadrants(8, 8), 1, 8, 8));
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {"extra.png", "without an image"});
    fs::remove(root() / "train" / "masks" / "extra.png");
    // No classes.txt.
    fs::remove(root() / "classes.txt");
    expect_error([&] { read_segmentation_folder(root(), "train", options()); }, {"classes.txt", "not found"});
}

TEST_F(SegmentationFolderTest, TaskOptionOverridesTheLayout) {
    write_set(1);
    EXPECT_EQ(dataset_kind(root(), TaskKind::classify), DatasetKind::image_folder);  // images/ and masks/ as two classes
    EXPECT_EQ(dataset_kind(root(), TaskKind::segment), DatasetKind::segmentation_folder);
    expect_error([&] { dataset_kind(directory_, TaskKind::segment); }, {"--task segment", "train/masks"});
}

// The mask moves with its image: mirrored, and cropped with the padding marked "ignore".
TEST(SegmentationTask, MasksMoveWithTheirImages) {
    Dataset dataset = testing::generated_segmentation_dataset(1, 3);
    const AugmentationDraw mirror{2, 2, true}, crop{0, 4, false};  // padding 2: (2, 2) is no shift
    Targets mirrored, cropped;
    const Task& task = task_for(TaskKind::segment);
    task.append_targets(dataset, 0, &mirror, 2, mirrored);
    task.append_targets(dataset, 0, &crop, 2, cropped);
    const std::uint8_t* mask = dataset.mask(0);
    for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 12; ++x) {
            EXPECT_EQ(mirrored.labels[static_cast<std::size_t>(y * 12 + x)], mask[y * 12 + 11 - x]);
            // crop_y 0 with padding 2: rows 0 and 1 come from the padding; crop_x 4: two columns from the right padding.
            const int source_y = y - 2, source_x = x + 2;
            const std::uint8_t expected = source_y < 0 || source_x >= 12 ? kIgnoreIndex : mask[source_y * 12 + source_x];
            EXPECT_EQ(cropped.labels[static_cast<std::size_t>(y * 12 + x)], expected) << y << "," << x;
        }
}

// The per-pixel loss with class weights and ignored pixels against finite differences.
TEST(SegmentationTask, WeightedLossWithIgnoredPixelsHasTheFiniteDifferenceGradient) {
    Tensor logits(Shape{2, 3, 2, 3});
    for (std::int64_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(0.7 * double(i)) * 2.0);
    const std::vector<std::uint8_t> labels = {0, 1, 2, 255, 1, 1, 2, 255, 255, 0, 2, 1};
    const CrossEntropyOptions options{.label_smoothing = 0.1, .weight = {0.5f, 2.0f, 1.0f}, .ignore_index = 255};
    Tensor grad;
    const LossResult result = softmax_cross_entropy(logits, labels, &grad, options);
    EXPECT_EQ(result.counted, 9);
    EXPECT_NEAR(result.denominator, 0.5 * 2 + 2.0 * 4 + 1.0 * 3, 1e-12);
    for (std::int64_t i = 0; i < logits.size(); ++i) {
        const float saved = logits[i];
        const double step = 1e-3;
        logits[i] = saved + static_cast<float>(step);
        const double up = softmax_cross_entropy(logits, labels, nullptr, options).loss;
        logits[i] = saved - static_cast<float>(step);
        const double down = softmax_cross_entropy(logits, labels, nullptr, options).loss;
        logits[i] = saved;
        EXPECT_NEAR(grad[i], (up - down) / (2 * step), 2e-4) << "logit " << i;
    }
    // An ignored pixel's scores get no gradient.
    for (std::int64_t k = 0; k < 3; ++k) EXPECT_EQ(grad[k * 6 + 3], 0.0f);
}

// IoU from the pixel confusion matrix; a class in neither truth nor prediction is left out of the mean.
TEST(SegmentationTask, PixelAccuracyAndIntersectionOverUnion) {
    const Task& task = task_for(TaskKind::segment);
    Evaluation evaluation;
    task.start(evaluation, 4);
    // One 1×4 image, classes 0..3: truth 0 0 1 255, predicted 0 1 1 0; class 2 and 3 absent.
    Tensor logits(Shape{1, 4, 1, 4});
    logits.fill(0.0f);
    const int predicted[] = {0, 1, 1, 0};
    for (int p = 0; p < 4; ++p) logits[predicted[p] * 4 + p] = 5.0f;
    Targets targets;
    targets.labels = {0, 0, 1, 255};
    task.score(logits, targets, 0, evaluation);
    task.finish(evaluation);
    EXPECT_EQ(evaluation.counted, 3);
    EXPECT_DOUBLE_EQ(evaluation.accuracy, 2.0 / 3.0);
    EXPECT_DOUBLE_EQ(evaluation.iou[0], 1.0 / 2.0);  // TP 1; truth 2, predicted 1: union 2
    EXPECT_DOUBLE_EQ(evaluation.iou[1], 1.0 / 2.0);  // TP 1; truth 1, predicted 2: union 2
    EXPECT_TRUE(std::isnan(evaluation.iou[2]) && std::isnan(evaluation.iou[3]));
    EXPECT_DOUBLE_EQ(evaluation.mean_iou, 0.5);
    ASSERT_EQ(evaluation.figures.size(), 2u);
    EXPECT_EQ(evaluation.figures[1].first, "miou");
}

TEST(SegmentationTask, BalancedWeightsAsSklearn) {
    Dataset dataset = testing::generated_segmentation_dataset(1, 1);
    dataset.masks.assign(144, 0);
    for (int p = 0; p < 36; ++p) dataset.masks[static_cast<std::size_t>(p)] = 1;
    dataset.masks[143] = 255;  // not counted
    const std::vector<float> weights = balanced_class_weights(dataset, 4);
    EXPECT_FLOAT_EQ(weights[0], 143.0f / (4.0f * 107.0f));
    EXPECT_FLOAT_EQ(weights[1], 143.0f / (4.0f * 36.0f));
    EXPECT_EQ(weights[2], 1.0f);  // absent
}

// A small U-Net learns the bars: the trainer, the loss and evaluate through the task.
TEST(SegmentationTask, TrainsAndEvaluatesPerPixel) {
    const Dataset train = testing::generated_segmentation_dataset(300, 1), test = testing::generated_segmentation_dataset(60, 2);
    Network network(parse_model("input 1x12x12\nconv2d out=8 kernel=3 pad=1\nrelu\nconv2d out=8 kernel=3 pad=2 dilation=2\nrelu\n"
                                "conv2d out=3 kernel=1\n",
                                "bars.model"));
    network.initialize(1);
    AdamOptions options;
    options.learning_rate = 0.01;
    Adam adam(options);
    Trainer trainer(network, adam, 20, 1);
    FitOptions fit;
    fit.epochs = 4;
    fit.augmentation.flip = true;
    fit.class_weights = balanced_class_weights(train, 3);
    const FitResult result = trainer.fit(train, test, fit);
    EXPECT_EQ(result.last.task, TaskKind::segment);
    EXPECT_GT(result.last.mean_iou, 0.8);
    EXPECT_GT(result.last.accuracy, 0.9);
    const std::string line = epoch_metrics_json(EpochResult{.epoch = 1, .task = TaskKind::segment}, &result.last);
    EXPECT_NE(line.find("\"train_pixel_accuracy\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"test_miou\""), std::string::npos) << line;
    // A classifier's model on masks is refused, saying what the model should end in.
    Network classifier(parse_model("input 1x12x12\nflatten\nlinear out=3\n", "classifier.model"));
    expect_error([&] { check_compatible(classifier, train, "training"); }, {"(N, classes, 12, 12)"});
}

// --plot and `convnet plot` read a segmentation run's lines: pixel accuracies and the mIoU line.
TEST(SegmentationTask, CurvesShowPixelAccuracyAndMeanIoU) {
    const std::vector<EpochMetrics> records = parse_metrics(
        "{\"epoch\": 1, \"train_loss\": 0.5, \"train_pixel_accuracy\": 0.9, \"test_loss\": 0.4, \"test_pixel_accuracy\": 0.95, "
        "\"test_miou\": 0.61}\n",
        "m.jsonl");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].train_accuracy, 0.9);
    EXPECT_EQ(records[0].test_accuracy, 0.95);
    EXPECT_EQ(records[0].test_miou, 0.61);
    const std::string svg = training_curves_svg(records, "test");
    // The pixel confusion matrix counts pixels.
    Evaluation evaluation;
    task_for(TaskKind::segment).start(evaluation, 2);
    evaluation.confusion = {5, 1, 2, 3};
    task_for(TaskKind::segment).finish(evaluation);
    const std::string confusion = confusion_svg(evaluation, {"background", "thing"}, nullptr);
    EXPECT_NE(confusion.find("11 pixels, pixel accuracy"), std::string::npos);
    EXPECT_EQ(confusion.find("images"), std::string::npos);
    EXPECT_NE(svg.find("test mIoU"), std::string::npos);
    EXPECT_NE(svg.find("mIoU 0.6100 after epoch 1"), std::string::npos);
}

TEST(SegmentationTask, PaletteIsPascalVocs) {
    const auto palette = class_palette();
    EXPECT_EQ(palette[0], (std::array<std::uint8_t, 3>{0, 0, 0}));
    EXPECT_EQ(palette[1], (std::array<std::uint8_t, 3>{128, 0, 0}));
    EXPECT_EQ(palette[6], (std::array<std::uint8_t, 3>{0, 128, 128}));
    EXPECT_EQ(palette[255], (std::array<std::uint8_t, 3>{224, 224, 192}));
}

}  // namespace
}  // namespace convnet
