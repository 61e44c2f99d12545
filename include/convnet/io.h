// Weight files: every parameter and buffer of a network by its dotted name, in a small binary
// format with a magic number and a version (docs/MODEL_FORMAT.md, "Weights files"). Written atomically.
#pragma once

#include <convnet/model.h>

#include <filesystem>
#include <string>
#include <vector>

namespace convnet {

// Writes to a temporary file beside `path`, flushes it, then renames it over `path`: a crash
// leaves either the old file or the new one, never half of one.
void save_weights(const Network& network, const std::filesystem::path& path);

// Loads every tensor of `network` from `path`, all or nothing. Throws naming the file and the entry when the
// magic, version, a name or a shape does not match, or the file is truncated. Returns one line per
// tensor that holds NaN or infinite values ("conv1.bias: 1 NaN, 0 infinite of 2 values") or a
// negative running variance: legal, as PyTorch loads them, but outputs may then be NaN or infinite
// (as PyTorch's would be), so callers should say so.
std::vector<std::string> load_weights(Network& network, const std::filesystem::path& path);

// Replaces `path` atomically with `contents` (temporary file, fsync, rename).
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace convnet
