// Fuzz target: pictures (PNG or JPEG, told apart by their bytes), decoded as a segmentation mask
// (decode_mask_png), then decoded and made into network inputs as predict and the image-folder
// reader do: grey at 28x28 stretched, and RGB at 32x32 cropped, inverted and normalised (so that
// both conversions and both resize policies run).
#include "fuzz_support.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace convnet::fuzz {

namespace {

// A PNG's chunks with their CRCs made right: libpng refuses a chunk whose CRC is wrong, and almost
// every mutation breaks one, so that without this the fuzzer seldom gets past the first chunk it
// changes. (The CRC check itself is one comparison; losing it costs nothing.)
std::string with_png_crcs(std::string_view input) {
    std::string bytes(input);
    static constexpr char kSignature[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
    if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) return bytes;
    std::size_t at = 8;
    while (at + 12 <= bytes.size()) {
        const auto* chunk = reinterpret_cast<const unsigned char*>(bytes.data() + at);
        const std::size_t length = std::size_t{chunk[0]} << 24 | std::size_t{chunk[1]} << 16 | std::size_t{chunk[2]} << 8 | chunk[3];
        if (length > bytes.size() - at - 12) break;
        const auto crc = static_cast<std::uint32_t>(crc32(0, chunk + 4, static_cast<uInt>(length + 4)));
        for (int byte = 0; byte < 4; ++byte)
            bytes[at + 8 + length + static_cast<std::size_t>(byte)] = static_cast<char>(crc >> (24 - 8 * byte));
        at += 12 + length;
    }
    return bytes;
}

}  // namespace

void image(std::string_view input) {
    const std::filesystem::path file = scratch_folder() / "fuzz.image";
    write_file(file, with_png_crcs(input));
    // As a segmentation mask too (palette indices kept, grey under 8 bits unpacked as it is): one
    // channel of in-range samples whenever the file is indexed.
    try {
        const Image mask = decode_mask_png(file);
        if (mask.indexed && (mask.channels != 1 || mask.samples.size() != static_cast<std::size_t>(mask.height * mask.width))) {
            std::fprintf(stderr, "decode_mask_png gave an indexed mask of %lld channels and %zu samples for %lldx%lld\n",
                         static_cast<long long>(mask.channels), mask.samples.size(), static_cast<long long>(mask.width),
                         static_cast<long long>(mask.height));
            std::abort();
        }
    } catch (const Error&) {
    }
    const Image picture = decode_image(file);
    to_network_input(picture, 1, 28, 28);
    const Preprocessing cropped{.resize = ResizePolicy::center_crop, .invert = true, .mean = {0.5f}, .std = {0.25f}};
    to_network_input(picture, 3, 32, 32, cropped);
}

}  // namespace convnet::fuzz
