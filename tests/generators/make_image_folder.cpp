// Builds an image folder (ROOT/{train,test}/<class>/*.png|jpg, image_folder.h) from an IDX dataset
// such as Fashion-MNIST: colour and size variety without colour data, for the image-folder route's
// tests and demo. Not part of the library or the CLI.
//
// usage: convnet_make_image_folder mixed|tinted IDX_FOLDER OUT_FOLDER [--per-split N] [--verify]
//   mixed:  for a 1-channel model; image i is, by i mod 6: a 28×28 grey PNG (the IDX bytes), a 56×56
//           grey PNG, a 36×36 RGB PNG (grey in all three channels), a 28×28 grey JPEG (quality 95),
//           a 56×56 RGB JPEG (quality 92), a 36×36 grey PNG; sizes other than 28 by PIL's
//           antialiased bilinear resize (resize_bilinear), so a stretch back to 28×28 is close.
//   tinted: for a 3-channel model; each class has its own colour c, pixel = value·c; a 28×28 RGB
//           PNG, every fourth a 32×32 RGB JPEG (quality 92).
// Class folders are "<label>_<name>" (name from classes.txt, '/' and ' ' made '-'), with the
// label zero-padded, so that ImageFolder's sorted order is the IDX label order; files are
// "<index in the IDX split, 5 digits>.png", keeping the IDX order within a class.
// --per-split N: the first N images of each split (default all). --verify: reads the folder back
// with read_image_folder (28×28, stretch) and checks counts, labels, the exact bytes of the 28×28
// PNGs, and prints the mean difference to the IDX bytes; exit status 1 on a mismatch.
#include <convnet/data/data.h>
#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/data/image_folder.h>

#include "../unit/jpeg_encoder.h"

#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

enum class Mode { mixed, tinted };

// The colour of each class in tinted mode (R, G, B in 0..1), distinct in hue and brightness.
constexpr std::array<std::array<float, 3>, 10> kTints = {{
    {1.0f, 0.25f, 0.25f},
    {0.25f, 1.0f, 0.25f},
    {0.3f, 0.4f, 1.0f},
    {1.0f, 1.0f, 0.2f},
    {1.0f, 0.3f, 1.0f},
    {0.2f, 1.0f, 1.0f},
    {1.0f, 0.6f, 0.2f},
    {0.6f, 0.3f, 1.0f},
    {0.8f, 0.8f, 0.8f},
    {0.5f, 1.0f, 0.6f},
}};

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream stream(path, std::ios::binary);
    stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!stream) throw convnet::Error(path.string() + ": cannot write");
}

// Interleaved 8-bit pixels (height, width, channels 1 or 3) as PNG bytes.
std::string encode_png(const Bytes& pixels, int size, int channels) {
    png_image image{};
    image.version = PNG_IMAGE_VERSION;
    image.width = image.height = static_cast<png_uint_32>(size);
    image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_alloc_size_t bytes = 0;
    if (!png_image_write_to_memory(&image, nullptr, &bytes, 0, pixels.data(), 0, nullptr))
        throw convnet::Error(std::string("PNG encoding failed: ") + image.message);
    std::string out(bytes, '\0');
    if (!png_image_write_to_memory(&image, out.data(), &bytes, 0, pixels.data(), 0, nullptr))
        throw convnet::Error(std::string("PNG encoding failed: ") + image.message);
    out.resize(bytes);
    return out;
}

// A grey height×width image resized to size×size and given `tint` (interleaved RGB when channels is 3).
Bytes render(const std::uint8_t* grey, int height, int width, int size, int channels, const std::array<float, 3>& tint) {
    std::vector<float> plane(grey, grey + height * width);
    for (float& value : plane) value /= 255.0f;
    if (size != height || size != width) plane = convnet::resize_bilinear(plane, 1, height, width, size, size);
    Bytes pixels(static_cast<std::size_t>(size * size * channels));
    for (std::size_t p = 0; p < plane.size(); ++p)
        for (int c = 0; c < channels; ++c) {
            const float value = std::round(std::clamp(plane[p] * tint[static_cast<std::size_t>(c)], 0.0f, 1.0f) * 255.0f);
            pixels[p * static_cast<std::size_t>(channels) + static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(value);
        }
    return pixels;
}

std::string class_folder_name(int label, const std::string& name, int class_count) {
    const int digits = static_cast<int>(std::to_string(std::max(class_count - 1, 0)).size());
    std::string text = std::to_string(label);
    text.insert(0, static_cast<std::size_t>(digits) - text.size(), '0');
    std::string clean = name;
    for (char& c : clean)
        if (c == '/' || c == ' ' || c == '\\') c = '-';
    return text + "_" + clean;
}

// Writes the first `count` images of one split under `directory`, a folder for every class.
void write_split(const convnet::Dataset& dataset, std::int64_t count, Mode mode, const fs::path& directory) {
    std::vector<std::string> folders;
    for (int label = 0; label < dataset.num_classes(); ++label) {
        folders.push_back(class_folder_name(label, dataset.class_names[static_cast<std::size_t>(label)], dataset.num_classes()));
        fs::create_directories(directory / folders.back());
    }
    const std::array<float, 3> white = {1.0f, 1.0f, 1.0f};
    convnet::testing::JpegOptions jpeg;
    for (std::int64_t i = 0; i < count; ++i) {
        const int label = dataset.labels[static_cast<std::size_t>(i)];
        std::string stem = std::to_string(i);
        stem.insert(0, stem.size() < 5 ? 5 - stem.size() : 0, '0');
        const fs::path base = directory / folders[static_cast<std::size_t>(label)] / stem;
        const std::uint8_t* grey = dataset.image(i);
        int size = 28, channels = 1;
        bool as_jpeg = false;
        std::array<float, 3> tint = white;
        if (mode == Mode::mixed) {
            const int variant = static_cast<int>(i % 6);
            size = std::array{28, 56, 36, 28, 56, 36}[static_cast<std::size_t>(variant)];
            channels = variant == 2 || variant == 4 ? 3 : 1;
            as_jpeg = variant == 3 || variant == 4;
            jpeg.quality = variant == 3 ? 95 : 92;
        } else {
            channels = 3;
            tint = kTints[static_cast<std::size_t>(label) % kTints.size()];
            as_jpeg = i % 4 == 3;
            size = as_jpeg ? 32 : 28;
            jpeg.quality = 92;
        }
        const Bytes pixels = render(grey, dataset.height, dataset.width, size, channels, tint);
        if (as_jpeg) write_file(base.string() + ".jpg", convnet::testing::encode_jpeg(pixels, size, size, channels, jpeg));
        else write_file(base.string() + ".png", encode_png(pixels, size, channels));
    }
}

// Reads the split back and compares with the IDX images; returns the number of problems.
int verify_split(const convnet::Dataset& idx, std::int64_t count, Mode mode, const fs::path& root, const std::string& split) {
    convnet::ImageFolderOptions options;
    options.channels = mode == Mode::mixed ? 1 : 3;
    options.height = idx.height;
    options.width = idx.width;
    const convnet::Dataset folder = convnet::read_image_folder(root, split, options);
    int problems = 0;
    if (folder.count != count) {
        std::fprintf(stderr, "%s: %lld images read, %lld written\n", split.c_str(), static_cast<long long>(folder.count),
                     static_cast<long long>(count));
        return 1;
    }
    // ImageFolder's order: by class, then by file name (the IDX index).
    std::vector<std::int64_t> order(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) order[static_cast<std::size_t>(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return idx.labels[static_cast<std::size_t>(a)] < idx.labels[static_cast<std::size_t>(b)];
    });
    double difference = 0.0;
    for (std::int64_t n = 0; n < count; ++n) {
        const std::int64_t source = order[static_cast<std::size_t>(n)];
        if (folder.labels[static_cast<std::size_t>(n)] != idx.labels[static_cast<std::size_t>(source)]) {
            if (problems++ < 5)
                std::fprintf(stderr, "%s: image %lld has label %d, expected %d\n", split.c_str(), static_cast<long long>(n),
                             folder.labels[static_cast<std::size_t>(n)], idx.labels[static_cast<std::size_t>(source)]);
            continue;
        }
        const std::uint8_t* read = folder.image(n);
        const std::uint8_t* original = idx.image(source);
        double sum = 0.0;
        for (std::int64_t p = 0; p < idx.image_size(); ++p)
            for (int c = 0; c < folder.channels; ++c) sum += std::abs(int{read[c * idx.image_size() + p]} - int{original[p]});
        difference += sum / static_cast<double>(folder.image_size());
        const bool exact = mode == Mode::mixed && source % 6 == 0;
        if (exact && sum != 0.0 && problems++ < 5)
            std::fprintf(stderr, "%s: image %lld (IDX %lld), a 28x28 PNG, differs from the IDX bytes\n", split.c_str(),
                         static_cast<long long>(n), static_cast<long long>(source));
    }
    std::printf("%s: %lld images, %d classes, mean |folder - IDX| %.2f (of 255)\n", split.c_str(), static_cast<long long>(count),
                folder.num_classes(), difference / static_cast<double>(count));
    return problems;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4 || (std::string(argv[1]) != "mixed" && std::string(argv[1]) != "tinted")) {
        std::fprintf(stderr, "usage: %s mixed|tinted IDX_FOLDER OUT_FOLDER [--per-split N] [--verify]\n", argv[0]);
        return 2;
    }
    const Mode mode = std::string(argv[1]) == "mixed" ? Mode::mixed : Mode::tinted;
    const fs::path idx_folder = argv[2], out = argv[3];
    std::int64_t per_split = -1;
    bool verify = false;
    for (int i = 4; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--per-split" && i + 1 < argc) per_split = std::stoll(argv[++i]);
        else if (arg == "--verify") verify = true;
        else {
            std::fprintf(stderr, "unknown argument: %s\n", arg.c_str());
            return 2;
        }
    }
    try {
        if (!fs::is_directory(idx_folder)) {
            std::printf("%s: no IDX dataset there (run `make data`); skipped\n", idx_folder.c_str());
            return 77;
        }
        fs::remove_all(out);
        int problems = 0;
        for (const auto& [split, which] : {std::pair{"train", convnet::Split::train}, std::pair{"test", convnet::Split::test}}) {
            const convnet::Dataset idx = convnet::load_split(idx_folder, which);
            if (idx.channels != 1) throw convnet::Error(idx_folder.string() + ": expected grey IDX images");
            const std::int64_t count = per_split < 0 ? idx.count : std::min(per_split, idx.count);
            write_split(idx, count, mode, out / split);
            std::printf("%s: wrote %lld images to %s\n", split, static_cast<long long>(count), (out / split).c_str());
            if (verify) problems += verify_split(idx, count, mode, out, split);
        }
        return problems == 0 ? 0 : 1;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
