// Writes a photo-like JPEG for the CLI tests (tests/cli/test_cli.sh), with libjpeg through the
// unit tests' encoder: dark trousers photographed on a light, unevenly lit background with sensor
// noise, the opposite of the Fashion-MNIST look (light objects on black).
// usage: write_jpeg OUT.jpg WIDTH HEIGHT [grey|rgb] [progressive]
#include "../unit/jpeg_encoder.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: write_jpeg OUT.jpg WIDTH HEIGHT [grey|rgb] [progressive]\n");
        return 2;
    }
    const int width = std::stoi(argv[2]), height = std::stoi(argv[3]);
    const int channels = argc > 4 && std::string(argv[4]) == "grey" ? 1 : 3;
    convnet::testing::JpegOptions options;
    options.quality = 85;
    options.progressive = argc > 5 && std::string(argv[5]) == "progressive";
    std::mt19937 random(7);
    std::normal_distribution<double> noise(0.0, 4.0);
    std::vector<std::uint8_t> pixels;
    pixels.reserve(static_cast<std::size_t>(width) * height * channels);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            const double u = static_cast<double>(x) / width, v = static_cast<double>(y) / height;
            // Waist from 0.15 to 0.3 of the height, legs down to 0.9, a gap between them widening downwards.
            const bool waist = v > 0.15 && v < 0.3 && u > 0.3 && u < 0.7;
            const double gap = 0.01 + 0.05 * (v - 0.3);
            const bool leg = v >= 0.3 && v < 0.9 && ((u > 0.3 && u < 0.5 - gap) || (u > 0.5 + gap && u < 0.7));
            const double light = 215.0 + 25.0 * u - 15.0 * v;  // light from the right
            const double value = (waist || leg ? 45.0 + 10.0 * v : light) + noise(random);
            for (int c = 0; c < channels; ++c) {
                const double tint = channels == 3 ? (c == 2 ? 12.0 : c == 0 ? -6.0 : 0.0) : 0.0;  // blue jeans, a warm background
                const double sample = (waist || leg) ? value + tint : value - tint;
                pixels.push_back(static_cast<std::uint8_t>(sample < 0 ? 0 : sample > 255 ? 255 : sample));
            }
        }
    std::ofstream(argv[1], std::ios::binary) << convnet::testing::encode_jpeg(pixels, width, height, channels, options);
    return 0;
}
