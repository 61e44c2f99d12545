// What the fuzz targets of tests/fuzz share with their seed-corpus generator and with the unit
// test that replays their regression inputs: the targets themselves (one function per reader, fed
// a file's bytes), the layout of inputs that stand for several files, a scratch folder per
// process, and the fixed model and image folder some targets read against. Test code only.
#pragma once

#include <convnet/data/image_folder.h>
#include <convnet/nn/network.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace convnet::fuzz {

// The targets. Each takes one fuzz input and hands it to a reader, as a file where the reader
// takes a path; convnet::Error is the expected answer to a bad input and is let through to the
// caller, which counts it as a pass. Anything else (a crash, a sanitizer report, another
// exception, a leak, a hang) is a finding.
void idx(std::string_view input);           // parts: images file, labels file, classes.txt ("" for none)
void model(std::string_view input);         // a model file's text: parse, plan, and format's round trip
void network(std::string_view input);       // a model file's network, built and run (small ones only)
void weights(std::string_view input);       // a weights file: load_weights into kWeightsModel, load_network
void checkpoint(std::string_view input);    // read_checkpoint
void image(std::string_view input);         // decode_image (PNG or JPEG) and to_network_input
void cifar(std::string_view input);         // parts: batches.meta.txt, test_batch.bin
void image_folder(std::string_view input);  // the image-folder cache file of image_folder_fixture
void detection_labels(std::string_view input);  // a YOLO label file's text: parse_yolo_labels, fit_boxes

// Inputs that stand for several files: every part but the last is preceded by its length, 4 bytes
// little-endian; the last part is the rest. A length past the end takes what is left, and missing
// parts are empty, so that every byte string is some input.
std::vector<std::string_view> split_parts(std::string_view input, std::size_t count);
std::string join_parts(const std::vector<std::string>& parts);

// A folder for this process's files (under /dev/shm where it can be written: no disk traffic per
// run), removed when the process ends.
const std::filesystem::path& scratch_folder();
void write_file(const std::filesystem::path& path, std::string_view bytes);

// Aborts, naming the tensor, unless every float32 tensor holds as many values as its shape says
// (what every user of a StateTensor assumes).
void check_tensor_sizes(const std::vector<StateTensor>& tensors);

// The network the weights target loads into: every kind of state entry (a convolution, batch
// norm's buffers and num_batches_tracked, a linear layer without bias), a few hundred values.
inline constexpr const char* kWeightsModel =
    "input 1x6x6\n"
    "conv2d out=2 kernel=3\n"
    "batchnorm2d\n"
    "relu\n"
    "flatten\n"
    "dropout p=0.5\n"
    "linear out=3 bias=false\n";

// An image folder whose cache file the image_folder target reads: ROOT/train/a/{1,2}.png and
// ROOT/train/b/1.png, 4x4 grey pictures but for a/2.png, which is not a PNG (so that the cache holds
// a skipped line), with fixed modification times, so that the cache's fingerprint is the same in
// every process and in the seed.
void make_image_folder_fixture(const std::filesystem::path& root);
ImageFolderOptions image_folder_fixture_options(const std::filesystem::path& cache_dir);

}  // namespace convnet::fuzz
