// The CIFAR-10 binary format: data_batch_1..5.bin and test_batch.bin (records of a label byte then a
// 3x32x32 image as red, green and blue planes) with batches.meta.txt (the class names). Not the
// Python (pickle) or MATLAB versions, and not CIFAR-100, which is recognised and refused.
#pragma once

#include <convnet/data/data.h>

#include <filesystem>

namespace convnet {

// True when `directory` holds data_batch_1.bin or test_batch.bin, or holds the official tarball's
// folder cifar-10-batches-bin with one of them (a user may extract the tarball inside the folder
// named on the command line). Also true for CIFAR-100's binary files (train.bin or test.bin with
// fine_label_names.txt, or the folder cifar-100-binary), so that a dataset dispatcher hands them to
// read_cifar10, whose refusal says what they are. Never throws; false for a missing path.
bool is_cifar10_folder(const std::filesystem::path& directory);

// Loads a split of a CIFAR-10 folder (`directory` itself, or its cifar-10-batches-bin when only
// that holds the batches): train is data_batch_1.bin .. data_batch_5.bin in that order, all five
// required (a missing one is refused by name, not skipped); test is test_batch.bin.
// Each file is records of 3073 bytes: a label byte, then 1024 red, 1024 green and 1024 blue bytes,
// each plane row by row, which is Dataset's (channels, height, width) layout; the official batches
// hold 10000 records, but any positive whole number is read. The result has channels 3,
// height 32, width 32, and the class names of batches.meta.txt (one a line; a byte-order mark, CRLF
// and trailing blank lines tolerated), which is required.
// Throws convnet::Error naming the file and the fault: missing (with the expected layout and where
// the official files come from), empty, a size that is not a whole number of records (naming
// CIFAR-100's 3074-byte records when the size fits those), a label with no class name (the file,
// the record and the label), and a missing, empty or malformed batches.meta.txt. Every file's
// presence and size are checked before any image memory is allocated.
Dataset read_cifar10(const std::filesystem::path& directory, Split split);

}  // namespace convnet
