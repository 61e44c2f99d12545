// Weights files: every parameter and buffer of a network under its state_dict name, with the
// model text and what predict needs in the metadata; safetensors by default, readable by PyTorch
// (docs/MODEL_FORMAT.md, "Weights files"). Written atomically.
#pragma once

#include <convnet/data/data.h>
#include <convnet/data/image.h>
#include <convnet/nn/network.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace convnet {

// What a safetensors weights file carries besides its tensors, in its __metadata__ (strings):
// "format": "pt" (PyTorch's mark), "convnet_version": the writer's version (written, never
// checked), "model": the model file's text, "classes": a JSON array of
// names, "preprocessing": a JSON object {"resize": "stretch" | "center-crop", "mean": [...],
// "std": [...], "input": [C, H, W]} (image.h's Preprocessing, less `invert`, a per-photo choice).
struct WeightsMetadata {
    std::string model;                     // format_model's text; set by save_weights from the network
    std::vector<std::string> class_names;  // index = class; empty when unknown
    Preprocessing preprocessing;           // how predict prepares a photo (image.h)
    TaskKind task = TaskKind::classify;    // what the network was trained to give (metadata "task": classify, segment)
};

// A checkpoint (train/checkpoint.h) is a safetensors weights file with more in it: the metadata key
// kCheckpointKey, whose value is the run's state as JSON, and the entries below, which are not the
// model's. load_weights and load_network read a checkpoint's model entries and leave these aside.
inline constexpr const char* kCheckpointKey = "checkpoint";
inline constexpr const char* kOptimizerStatePrefix = "optimizer.state.";  // "optimizer.state.3.exp_avg", as torch numbers them
inline constexpr const char* kEmaEntry = "ema.values";                    // the weight average (--ema)

// Whether a safetensors entry of a checkpoint belongs to the optimiser or the weight average,
// not to the model ("optimizer.state.3.exp_avg", "ema.values").
bool is_checkpoint_entry(const StateTensor& tensor);

enum class WeightsFormat {
    safetensors,  // the default: readable by PyTorch (scripts/torch_safetensors.py) and Hugging Face
    convnet,      // convnet's own older format (no metadata), still read; written for tests and old tools
};

// Writes to a temporary file beside `path`, flushes it, then renames it over `path`: a crash
// leaves either the old file or the new one, never half of one. safetensors (safetensors.h):
// the state dict under PyTorch's names, with the metadata above (its `model` taken from the
// network), whatever the file is called.
void save_weights(const Network& network, const std::filesystem::path& path, const WeightsMetadata& metadata = {},
                  WeightsFormat format = WeightsFormat::safetensors);

// Loads every tensor of `network` from `path`, all or nothing: convnet's own format (by its magic
// number) or safetensors (whatever the name), which may be a checkpoint (checkpoint.h: its
// optimiser entries are left aside). Throws naming the file and the entry when the
// magic, version, a name or a shape does not match, or the file is truncated; a safetensors file
// must hold exactly the model's entries (load_state_dict, strict). Returns one line per
// tensor that holds NaN or infinite values ("conv1.bias: 1 NaN, 0 infinite of 2 values") or a
// negative running variance: legal, as PyTorch loads them, but outputs may then be NaN or infinite
// (as PyTorch's would be), so callers should say so. `metadata`, when given, receives a safetensors
// file's metadata (WeightsMetadata's defaults for a file without a model, or in the older format).
std::vector<std::string> load_weights(Network& network, const std::filesystem::path& path, WeightsMetadata* metadata = nullptr);

// The __metadata__ save_weights writes for `network` (its "model" from the network).
std::map<std::string, std::string> encode_weights_metadata(const Network& network, const WeightsMetadata& metadata);

// The inverse, for a file's __metadata__; `file` names it in errors. Throws as read_weights_metadata.
WeightsMetadata decode_weights_metadata(const std::map<std::string, std::string>& metadata, const std::string& file);

// The format of a weights file by its first bytes (convnet's magic number, else safetensors).
// Throws convnet::Error naming the file when it cannot be read.
WeightsFormat weights_format(const std::filesystem::path& path);

// The metadata of a safetensors weights file or checkpoint, read without a network. Throws
// convnet::Error naming the file when it is not safetensors (convnet's own format holds no model:
// the message says to give the model file), holds no "model", or a field is malformed.
WeightsMetadata read_weights_metadata(const std::filesystem::path& path);

// The network a safetensors file describes (its "model" text, parsed as parse_model does with
// the file's name as the source), with its weights loaded; `warnings` receives load_weights'
// lines and `metadata` the file's metadata, the file read once. Throws as read_weights_metadata,
// parse_model and load_weights do, and, before the network is built, when its model has more
// parameter and buffer values than the file's tensors hold.
std::unique_ptr<Network> load_network(const std::filesystem::path& path, std::vector<std::string>* warnings = nullptr,
                                      WeightsMetadata* metadata = nullptr);

}  // namespace convnet
