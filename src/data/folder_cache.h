// What the folder readers (image, segmentation and detection folders) share: listing files by
// stem, converting one picture file to the model's input bytes, the fingerprint of a listing, the
// validation split by image, and the cache of a converted split. Internal to the library.
//
// Cache file (native byte order; another order reads as a bad magic and is rebuilt):
//   "CNVIFOLD" | u32 version | u32 0x01020304 | u64 fingerprint | i64 count | i32 channels, height,
//   width | u32 class count | u32 skipped count | u32 targets (0 labels, 1 masks, 2 boxes) | i64 box
//   count (0 unless boxes) | (u32 length, bytes) per class name, per skipped line | labels (count
//   bytes, with labels) | images (count·C·H·W bytes) | masks (count·H·W bytes, with masks) |
//   box offsets ((count + 1)·i64, with boxes) | boxes (per box f32 x1, y1, x2, y2, i32 class, with
//   boxes) | u32 CRC-32 of all before.
// Version 1 had no masks, version 2 no boxes (a u32 masks flag where the targets are, no box
// count); both are rebuilt, as is anything else that does not match (magic, version, fingerprint,
// shape, sizes against the file's length, CRC, offsets, boxes or classes out of range).
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/image_folder.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
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

// The files of `folder` whose lower-case extension is one of `extensions`, by stem. Throws
// convnet::Error naming the folder when it cannot be listed, or two files of one stem (`paired`
// says what they are paired with by name: "its mask", "its label file").
std::map<std::string, std::filesystem::path> files_by_stem(const std::filesystem::path& folder,
                                                           std::initializer_list<std::string_view> extensions, std::string_view paired);

// Which of `count` images a val_split of `fraction` holds out (true), by image: round(count·fraction)
// of them (at most count − 1), chosen by a shuffle seeded from `seed`.
std::vector<bool> held_out_by_image(std::size_t count, double fraction, std::uint64_t seed);

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

// Writes `dataset` (its labels, its masks or its boxes) under `key`, atomically, creating the folder.
void write_folder_cache(const std::filesystem::path& file, std::uint64_t key, const Dataset& dataset,
                        const std::vector<std::string>& skipped);

// The dataset cached in `file` under `key`, with the options' shape and these class names, and
// the targets of `task` (labels, masks or boxes); nullopt when the file is missing, stale or damaged.
std::optional<Dataset> read_folder_cache(const std::filesystem::path& file, std::uint64_t key, const ImageFolderOptions& options,
                                         const std::vector<std::string>& classes, TaskKind task, std::vector<std::string>& skipped);

}  // namespace convnet::detail
