// Weight files: every parameter and buffer of a network by its dotted name, in a small binary
// format with a magic number and a version (docs/MODEL_FORMAT.md, "Weights files"). Written atomically.
#pragma once

#include <convnet/model.h>

#include <filesystem>
#include <string>
#include <vector>

namespace convnet {

// Writes to a temporary file beside `path`, flushes it, then renames it over `path`: a crash
// leaves either the old file or the new one, never half of one. A path ending in .safetensors
// gets a safetensors file (safetensors.h: the state dict under PyTorch's names, with
// __metadata__ "format": "pt" and "model": the model file's text); any other, convnet's own format.
void save_weights(const Network& network, const std::filesystem::path& path);

// Loads every tensor of `network` from `path`, all or nothing: convnet's own format (by its magic
// number) or safetensors (whatever the name). Throws naming the file and the entry when the
// magic, version, a name or a shape does not match, or the file is truncated; a safetensors file
// must hold exactly the model's entries (load_state_dict, strict). Returns one line per
// tensor that holds NaN or infinite values ("conv1.bias: 1 NaN, 0 infinite of 2 values") or a
// negative running variance: legal, as PyTorch loads them, but outputs may then be NaN or infinite
// (as PyTorch's would be), so callers should say so.
std::vector<std::string> load_weights(Network& network, const std::filesystem::path& path);

// Replaces `path` atomically with `contents` (temporary file, fsync, rename).
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace convnet
