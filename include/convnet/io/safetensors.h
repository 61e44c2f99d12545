// Reading and writing safetensors files, the format PyTorch and Hugging Face share
// (github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}
// padded with spaces to a multiple of 8 bytes, then the tensors' bytes, little-endian, row-major.
// The reader is as strict as the official one, and says which entry is wrong.
#pragma once

#include <convnet/nn/network.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace convnet {

struct SafetensorsContents {
    std::vector<StateTensor> tensors;             // in the order of their data in the file
    std::map<std::string, std::string> metadata;  // "__metadata__": "format": "pt", ...
};

// The official reader's bound on the header (100,000,000 bytes).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

// Parses a whole file's bytes; `source` names it in errors. Throws convnet::Error
// "SOURCE: ..." for: fewer than 8 bytes; a header length past kMaxSafetensorsHeader or the file;
// a header that is not UTF-8 JSON, not an object, or repeats a key; an entry without a known
// dtype (F32 and I64 are read; the others are named and refused), a shape of non-negative
// integers, or data_offsets [begin, end] whose size is shape × dtype size; offsets that do not
// tile the data from 0 without gap or overlap; bytes after the last tensor; metadata that is
// not string to string.
SafetensorsContents parse_safetensors(std::string_view bytes, const std::string& source);
SafetensorsContents read_safetensors(const std::filesystem::path& path);

// The file's bytes for these tensors (f32 as F32, i64 scalars as I64 with shape []) and metadata,
// in the given order. Throws convnet::Error on a repeated or empty name or "__metadata__".
std::string format_safetensors(const std::vector<StateTensor>& tensors, const std::map<std::string, std::string>& metadata);
// format_safetensors, written atomically (write_file_atomically).
void write_safetensors(const std::filesystem::path& path, const std::vector<StateTensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace convnet
