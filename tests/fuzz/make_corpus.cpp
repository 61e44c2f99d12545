// The fuzz targets' seed corpora, made from valid files: the repository's model files (for the
// model and network targets) and pictures, files written by the library itself (weights in both
// formats, checkpoints, an image-folder cache), pictures written with libpng and libjpeg in the
// variants their decoders branch on, generated IDX and CIFAR-10 files, and three Fashion-MNIST
// images when data/ holds them. Seeds are kept small (libFuzzer's input length follows the
// largest), and are written into the build folder, never committed; only regression inputs are
// (tests/fuzz/regressions/).
// usage: convnet_fuzz_corpus SOURCE_DIR OUTPUT_DIR
#include "fuzz_support.h"

#include "../unit/jpeg_encoder.h"

#include <convnet/core/error.h>
#include <convnet/data/data.h>
#include <convnet/data/image_folder.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>
#include <convnet/train/checkpoint.h>

#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace {

namespace fs = std::filesystem;
using convnet::fuzz::join_parts;

std::string read_file(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

class Corpus {
public:
    explicit Corpus(fs::path root) : root_(std::move(root)) {}
    void add(const std::string& target, const std::string& name, const std::string& bytes) {
        fs::create_directories(root_ / target);
        convnet::fuzz::write_file(root_ / target / name, bytes);
        ++count_;
    }
    void copy(const std::string& target, const fs::path& file) { add(target, file.filename().string(), read_file(file)); }
    int count() const { return count_; }

private:
    fs::path root_;
    int count_ = 0;
};

std::string gzip(const std::string& bytes) {
    z_stream stream{};
    deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: a gzip wrapper
    std::string out(deflateBound(&stream, bytes.size()) + 32, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    stream.avail_in = static_cast<uInt>(bytes.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::string big_endian(std::uint32_t value) {
    return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8), static_cast<char>(value)};
}

// An IDX pair (images, labels) for `count` images of rows×cols.
std::pair<std::string, std::string> idx_files(const std::vector<std::uint8_t>& images, const std::vector<std::uint8_t>& labels,
                                              std::uint32_t rows, std::uint32_t cols) {
    const auto count = static_cast<std::uint32_t>(labels.size());
    std::string image_file = big_endian(0x803) + big_endian(count) + big_endian(rows) + big_endian(cols);
    image_file.append(images.begin(), images.end());
    std::string label_file = big_endian(0x801) + big_endian(count);
    label_file.append(labels.begin(), labels.end());
    return {image_file, label_file};
}

void add_idx(Corpus& corpus, const fs::path& source) {
    std::vector<std::uint8_t> images(3 * 4 * 4);
    for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<std::uint8_t>(i * 5);
    const auto [image_file, label_file] = idx_files(images, {0, 1, 2}, 4, 4);
    corpus.add("idx", "three-4x4", join_parts({image_file, label_file, ""}));
    corpus.add("idx", "three-4x4-classes", join_parts({image_file, label_file, "\xEF\xBB\xBFzero\r\none\r\ntwo\r\n"}));
    corpus.add("idx", "three-4x4-gzip", join_parts({gzip(image_file), gzip(label_file), ""}));
    // Three Fashion-MNIST test images, as the real files hold them (raw and gzip).
    const fs::path data = source / "data" / "fashion-mnist";
    try {
        const convnet::Dataset test = convnet::load_split(data, convnet::Split::test);
        const std::vector<std::uint8_t> first(test.images.begin(), test.images.begin() + 3 * 28 * 28);
        const auto [real_images, real_labels] = idx_files(first, {test.labels[0], test.labels[1], test.labels[2]}, 28, 28);
        corpus.add("idx", "fashion-mnist-3", join_parts({real_images, real_labels, read_file(data / "classes.txt")}));
        corpus.add("idx", "fashion-mnist-3-gzip", join_parts({gzip(real_images), gzip(real_labels), ""}));
    } catch (const convnet::Error& error) {
        std::cerr << "convnet_fuzz_corpus: no Fashion-MNIST seeds (" << error.what() << "); `make data` fetches it\n";
    }
}

void add_models(Corpus& corpus, const fs::path& source) {
    for (const fs::path& folder :
         {source / "models", source / "tests" / "cases", source / "tests" / "reference", source / "tests" / "models"})
        for (const fs::directory_entry& entry : fs::directory_iterator(folder))
            if (entry.path().extension() == ".model")
                for (const char* target : {"model", "network"}) corpus.copy(target, entry.path());
    for (const char* target : {"model", "network"}) corpus.add(target, "weights-target.model", convnet::fuzz::kWeightsModel);
}

// The weights target's network with seeded values, and what it writes in both formats.
void add_weights(Corpus& corpus, const fs::path& scratch) {
    convnet::Network network(convnet::parse_model(convnet::fuzz::kWeightsModel, "weights-target.model"));
    network.initialize(1);
    convnet::WeightsMetadata metadata;
    metadata.class_names = {"zero", "one", "two"};
    metadata.preprocessing.mean = {0.5f};
    metadata.preprocessing.std = {0.25f};
    convnet::save_weights(network, scratch / "w.safetensors", metadata);
    corpus.copy("weights", scratch / "w.safetensors");
    convnet::save_weights(network, scratch / "w.convnet", {}, convnet::WeightsFormat::convnet);
    corpus.copy("weights", scratch / "w.convnet");
    // Another network, which only load_network can read: a feature-vector input and a join.
    convnet::Network other(convnet::parse_model("input 4\nlinear out=3 name=a\nlinear out=3 from=input\nadd from=a,fc1\n", "other.model"));
    other.initialize(2);
    convnet::save_weights(other, scratch / "other.safetensors");
    corpus.copy("weights", scratch / "other.safetensors");
}

void add_checkpoints(Corpus& corpus, const fs::path& scratch) {
    convnet::Network network(convnet::parse_model(convnet::fuzz::kWeightsModel, "weights-target.model"));
    network.initialize(3);
    const auto trainable = static_cast<std::size_t>(network.trainable_count());
    convnet::Checkpoint checkpoint;
    checkpoint.model_state = network.state_dict();
    checkpoint.optimizer_state.step = 7;
    checkpoint.optimizer_state.buffers["exp_avg"] = std::vector<float>(trainable, 0.125f);
    checkpoint.optimizer_state.buffers["exp_avg_sq"] = std::vector<float>(trainable, 0.0625f);
    checkpoint.schedule = convnet::cosine_schedule(4, 1e-5);
    checkpoint.batch_size = 2;
    checkpoint.seed = 11;
    checkpoint.epochs = 4;
    checkpoint.checkpoint_every = 3;
    checkpoint.augmentation = convnet::parse_augmentation("crop:2,flip");
    checkpoint.data_fingerprint = 0x1234'5678'9abc'def0ull;
    checkpoint.threads = 2;
    checkpoint.position = {1, 4, 7, 3.5, 3, 0.25};
    for (const auto& [name, random] : network.random_generators()) checkpoint.generators.emplace_back(name, 99);
    checkpoint.metrics = "{\"epoch\":1,\"train_loss\":1.75}\n";
    convnet::write_checkpoint(scratch / "adam.checkpoint", checkpoint, network);
    corpus.copy("checkpoint", scratch / "adam.checkpoint");
    checkpoint.optimizer.name = "sgd";
    checkpoint.optimizer.nesterov = true;
    checkpoint.optimizer_state.buffers = {{"momentum_buffer", std::vector<float>(trainable, -0.5f)}};
    checkpoint.schedule = convnet::step_schedule(2, 0.5);
    checkpoint.augmentation = {};
    checkpoint.position = {};
    convnet::write_checkpoint(scratch / "sgd.checkpoint", checkpoint, network);
    corpus.copy("checkpoint", scratch / "sgd.checkpoint");
}

// A PNG written with libpng's low-level API, in the variants the decoder branches on.
std::string png_file(std::uint32_t width, std::uint32_t height, int bit_depth, int colour_type, bool interlaced, bool transparency) {
    std::string bytes;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(
        png, &bytes,
        [](png_structp p, png_bytep data, png_size_t size) {
            static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), size);
        },
        nullptr);
    png_set_IHDR(png, info, width, height, bit_depth, colour_type, interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (colour_type == PNG_COLOR_TYPE_PALETTE) {
        const png_color palette[3] = {{0, 0, 0}, {255, 128, 0}, {10, 200, 250}};
        png_set_PLTE(png, info, palette, 3);
        const png_byte alphas[2] = {0, 128};
        if (transparency) png_set_tRNS(png, info, alphas, 2, nullptr);
    } else if (transparency) {
        png_color_16 key{};
        key.gray = 1;
        key.red = key.green = key.blue = 1;
        png_set_tRNS(png, info, nullptr, 0, &key);
    }
    png_write_info(png, info);
    png_set_interlace_handling(png);
    const std::size_t row_bytes = png_get_rowbytes(png, info);
    std::vector<png_byte> rows(row_bytes * height);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<png_byte>(colour_type == PNG_COLOR_TYPE_PALETTE ? 0x1b : i * 37);
    std::vector<png_bytep> pointers(height);
    for (std::uint32_t y = 0; y < height; ++y) pointers[y] = rows.data() + y * row_bytes;
    png_write_image(png, pointers.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return bytes;
}

void add_pictures(Corpus& corpus, const fs::path& source) {
    for (const fs::directory_entry& entry : fs::directory_iterator(source / "tests" / "cases"))
        if (entry.path().extension() == ".png") corpus.copy("png", entry.path());
    corpus.copy("png", source / "tests" / "cli" / "small.png");
    corpus.add("png", "palette-2bit-trns.png", png_file(5, 3, 2, PNG_COLOR_TYPE_PALETTE, false, true));
    corpus.add("png", "grey-alpha-16bit-adam7.png", png_file(9, 9, 16, PNG_COLOR_TYPE_GRAY_ALPHA, true, false));
    corpus.add("png", "rgba-8bit.png", png_file(4, 4, 8, PNG_COLOR_TYPE_RGB_ALPHA, false, false));
    corpus.add("png", "grey-1bit-trns.png", png_file(9, 2, 1, PNG_COLOR_TYPE_GRAY, false, true));
    corpus.add("png", "rgb-16bit-trns-adam7.png", png_file(3, 5, 16, PNG_COLOR_TYPE_RGB, true, true));

    using convnet::testing::encode_jpeg;
    using convnet::testing::JpegOptions;
    const auto pixels = [](int width, int height, int channels) {
        std::vector<std::uint8_t> values(static_cast<std::size_t>(width * height * channels));
        for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::uint8_t>(i * 13 + i / 7);
        return values;
    };
    corpus.add("jpeg", "grey-8x8.jpg", encode_jpeg(pixels(8, 8, 1), 8, 8, 1, {.quality = 75}));
    corpus.add("jpeg", "rgb-16x16-420.jpg", encode_jpeg(pixels(16, 16, 3), 16, 16, 3, {.quality = 90}));
    corpus.add("jpeg", "rgb-9x7-444-progressive.jpg",
               encode_jpeg(pixels(9, 7, 3), 9, 7, 3, {.quality = 80, .progressive = true, .subsample = false}));
    corpus.add("jpeg", "cmyk-8x8.jpg", encode_jpeg(pixels(8, 8, 4), 8, 8, 4, {.quality = 70, .cmyk = true}));
}

void add_cifar(Corpus& corpus) {
    const auto records = [](const std::vector<std::uint8_t>& labels) {
        std::string bytes;
        for (std::size_t record = 0; record < labels.size(); ++record) {
            bytes.push_back(static_cast<char>(labels[record]));
            for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<char>(record * 31 + i * 7 + i / 1024));
        }
        return bytes;
    };
    corpus.add("cifar", "official-names-2",
               join_parts({"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n", records({9, 0})}));
    corpus.add("cifar", "crlf-names-1",
               join_parts({"\xEF\xBB\xBF"
                           "cat\r\ndog\r\n",
                           records({1})}));
}

// YOLO label files as annotation tools write them: integers and decimals, CRLF, blank and
// trailing space, a box past the edge, an empty file.
void add_detection_labels(Corpus& corpus) {
    corpus.add("detection_labels", "one", "0 0.5 0.5 0.25 0.4\n");
    corpus.add("detection_labels", "several", "0 0.1 0.2 0.1 0.1\n2 0.731250 0.442708 0.212500 0.302083\n1 1 0 0.5 0.5\n");
    corpus.add("detection_labels", "crlf-blank",
               "\xEF\xBB\xBF"
               "1 0.5 0.5 1 1  \r\n\r\n\t2 +0.25 2.5e-1 1e-1 0.3\r\n");
    corpus.add("detection_labels", "empty", "");
}

void add_image_folder_cache(Corpus& corpus, const fs::path& scratch) {
    const fs::path root = scratch / "image-folder";
    convnet::fuzz::make_image_folder_fixture(root);
    const convnet::ImageFolderOptions options = convnet::fuzz::image_folder_fixture_options(scratch / "image-folder-cache");
    convnet::read_image_folder(root, "train", options);
    corpus.copy("image_folder", convnet::image_folder_cache_file(root, "train", options));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: convnet_fuzz_corpus SOURCE_DIR OUTPUT_DIR\n";
        return 2;
    }
    const fs::path source = argv[1], output = argv[2];
    try {
        fs::remove_all(output);
        Corpus corpus(output);
        const fs::path scratch = convnet::fuzz::scratch_folder();
        add_idx(corpus, source);
        add_models(corpus, source);
        add_weights(corpus, scratch);
        add_checkpoints(corpus, scratch);
        add_pictures(corpus, source);
        add_cifar(corpus);
        add_image_folder_cache(corpus, scratch);
        add_detection_labels(corpus);
        std::cout << "convnet_fuzz_corpus: " << corpus.count() << " seeds in " << output.string() << "\n";
    } catch (const std::exception& error) {
        std::cerr << "convnet_fuzz_corpus: " << error.what() << "\n";
        return 1;
    }
    return 0;
}
