// What the folder readers (image folders, segmentation folders) share: converting one picture
// file to the model's input bytes, the fingerprint of a listing, and the cache of a converted
// split. Internal to the library.
//
// Cache file (native byte order; another order reads as a bad magic and is rebuilt):
//   "CNVIFOLD" | u32 version | u32 0x01020304 | u64 fingerprint | i64 count | i32 channels, height,
//   width | u32 class count | u32 skipped count | u32 1 with masks, else 0 | (u32 length, bytes) per
//   class name, per skipped line | labels (count bytes, none with masks) | images (count·C·H·W
//   bytes) | masks (count·H·W bytes, with masks) | u32 CRC-32 of all before.
// Anything that does not match (magic, version, fingerprint, shape, sizes against the file's
// length, CRC) makes the load rebuild the cache.
#pragma once

#include <convnet/data.h>
#include <convnet/image_folder.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace convnet::detail {

// FNV-1a, 64 bits: the fingerprint of a listing and the name of a cache file (not security).
class Hash {
public:
    void bytes(const void* data, std::size_t size) {
        const auto* p = static_cast<const unsigned char*>(data);
        for (std::size_t i = 0; i < size; ++i) state_ = (state_ ^ p[i]) * 0x100000001b3ull;
    }
    void text(std::string_view value) {
        number(value.size());
        bytes(value.data(), value.size());
    }
    template <typename Number>
    requires std::is_arithmetic_v<Number>
    void number(Number value) { bytes(&value, sizeof(value)); }
    // A file's size and modification time (or −1 when it is missing: the key changes when it appears).
    void file_stamp(const std::filesystem::path& path);
    std::uint64_t value() const { return state_; }

private:
    std::uint64_t state_ = 0xcbf29ce484222325ull;
};

// Whether `path` is a folder (or a link to one); false where it cannot be looked at.
bool is_folder(const std::filesystem::path& path);

// `text` with A–Z in lower case (file extensions are compared so).
std::string lower_ascii(std::string text);

// The cache format's version, the split and every option that changes the converted bytes.
void hash_folder_options(Hash& hash, std::string_view split, const ImageFolderOptions& options);

// options.cache_dir / "<kind>-<split>-<hash of the absolute root, split and options>.cache".
std::filesystem::path folder_cache_file(std::string_view kind, const std::filesystem::path& root, std::string_view split,
                                        const ImageFolderOptions& options);

// Decodes the picture at `path` and fits it to the options' channels×height×width (to_network_input
// with the resize policy), as bytes round(255·x) into `out`, and gives the file's own size when
// asked. Returns "" or the problem, a message naming the file.
std::string convert_picture(const std::filesystem::path& path, const ImageFolderOptions& options, std::uint8_t* out,
                            std::int64_t* file_height = nullptr, std::int64_t* file_width = nullptr);

// Writes `dataset` (its labels or its masks) under `key`, atomically, creating the folder.
void write_folder_cache(const std::filesystem::path& file, std::uint64_t key, const Dataset& dataset,
                        const std::vector<std::string>& skipped);

// The dataset cached in `file` under `key`, with the options' shape and these class names, and
// masks when `masks`; nullopt when the file is missing, stale or damaged.
std::optional<Dataset> read_folder_cache(const std::filesystem::path& file, std::uint64_t key, const ImageFolderOptions& options,
                                         const std::vector<std::string>& classes, bool masks, std::vector<std::string>& skipped);

}  // namespace convnet::detail
