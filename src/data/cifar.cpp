// Reading the CIFAR-10 binary batches and their class names. Every file is found and its size
// checked before image memory is allocated; records are then copied plane for plane, since the
// format's (label, R, G, B planes) record is Dataset's (channels, height, width) image after a byte.
#include <convnet/data/cifar.h>
#include <convnet/core/error.h>

#include "../core/text_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace convnet {

namespace {

namespace fs = std::filesystem;

constexpr int kChannels = 3;
constexpr int kSide = 32;
constexpr std::int64_t kImageBytes = std::int64_t{kChannels} * kSide * kSide;  // 3072
constexpr std::int64_t kRecordBytes = 1 + kImageBytes;                         // 3073: a label byte, then the image
constexpr std::int64_t kCifar100RecordBytes = 2 + kImageBytes;                 // 3074: coarse and fine label bytes
// An official batch is 30,730,000 bytes; 1 GiB (~349,000 records) leaves room for home-made ones
// while refusing, before it is read, a file given by mistake.
constexpr std::int64_t kMaxBatchBytes = std::int64_t{1} << 30;
constexpr std::int64_t kRecordsPerRead = 1024;  // ~3 MB read at a time
constexpr std::uintmax_t kMaxNamesFileBytes = 1u << 16;

constexpr const char* kTarballUrl = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
constexpr const char* kTarballName = "cifar-10-binary.tar.gz";
constexpr const char* kTarballFolder = "cifar-10-batches-bin";
constexpr const char* kNamesFile = "batches.meta.txt";
constexpr const char* kOfficialNames = "airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck";

bool is_file(const fs::path& path) {
    std::error_code error;
    return fs::is_regular_file(path, error);
}

bool holds_cifar10_batches(const fs::path& folder) { return is_file(folder / "data_batch_1.bin") || is_file(folder / "test_batch.bin"); }

// CIFAR-100's binary tarball extracts to cifar-100-binary/{train.bin, test.bin, fine_label_names.txt, ...}.
bool holds_cifar100_batches(const fs::path& folder) {
    return is_file(folder / "fine_label_names.txt") && (is_file(folder / "train.bin") || is_file(folder / "test.bin"));
}

// The folder holding the batches: `directory` itself, else the tarball's folder inside it, else
// `directory` (so that errors name the folder the user gave).
fs::path batches_folder(const fs::path& directory) {
    if (holds_cifar10_batches(directory)) return directory;
    if (holds_cifar10_batches(directory / kTarballFolder)) return directory / kTarballFolder;
    return directory;
}

// What a CIFAR-10 folder holds and where it comes from, for the errors about missing files.
std::string layout_hint(const fs::path& directory) {
    std::string hint =
        "a CIFAR-10 folder holds data_batch_1.bin .. data_batch_5.bin and test_batch.bin (records of 3073 bytes: a label byte, then "
        "1024 red, 1024 green and 1024 blue bytes of a 32x32 image) and batches.meta.txt (the class names, one a line), as extracted "
        "from " +
        std::string(kTarballUrl) + " (its folder " + kTarballFolder + " may be the folder given or lie inside it)";
    if (is_file(directory / kTarballName)) {
        hint += "; " + (directory / kTarballName).string() + " is there but not extracted: run `tar -xzf " +
                (directory / kTarballName).string() + " -C " + directory.string() + "`";
    }
    return hint;
}

std::vector<std::string> batch_names(Split split) {
    if (split == Split::test) return {"test_batch.bin"};
    std::vector<std::string> names;
    for (int batch = 1; batch <= 5; ++batch) names.push_back("data_batch_" + std::to_string(batch) + ".bin");
    return names;
}

// batches.meta.txt: one name a line; blank lines are allowed only at the end (the official file
// ends with one), since one inside would shift every later label's name.
std::vector<std::string> read_names_file(const fs::path& file) {
    std::error_code error;
    if (!fs::exists(file, error)) {
        throw Error(file.string() + ": not found; it holds the class names, one a line (the official file, in " + kTarballUrl + ", lists " +
                    kOfficialNames + "), and labels are not guessed without it");
    }
    std::vector<std::string> lines = detail::text_lines(detail::read_small_file(file, kMaxNamesFileBytes, "a CIFAR-10 class names file"));
    for (std::string& line : lines) line = detail::trim_trailing_whitespace(std::move(line));
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) throw Error(file.string() + ": holds no class names (one name a line expected, such as " + kOfficialNames + ")");
    if (lines.size() > kMaxClasses) {
        throw Error(file.string() + ": " + std::to_string(lines.size()) + " class names, more than the " + std::to_string(kMaxClasses) +
                    " a label byte can tell apart");
    }
    for (std::size_t index = 0; index < lines.size(); ++index) {
        const std::string line_number = "line " + std::to_string(index + 1);
        if (lines[index].empty()) {
            throw Error(file.string() + ":" + std::to_string(index + 1) + ": blank line among the class names; " + line_number +
                        " names label " + std::to_string(index) + ", so blank lines may only end the file");
        }
        const auto earlier = std::find(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(index), lines[index]);
        if (earlier != lines.begin() + static_cast<std::ptrdiff_t>(index)) {
            throw Error(file.string() + ":" + std::to_string(index + 1) + ": the class name \"" + detail::visible(lines[index]) +
                        "\" repeats line " + std::to_string(earlier - lines.begin() + 1));
        }
    }
    return lines;
}

// The size of one batch file after checking that it is a non-empty whole number of records.
std::int64_t checked_batch_size(const fs::path& file) {
    detail::check_regular_file(file, "a CIFAR-10 batch");
    std::error_code error;
    const std::uintmax_t file_size = fs::file_size(file, error);
    if (error) throw Error(file.string() + ": cannot read its size (" + error.message() + ")");
    if (file_size == 0) throw Error(file.string() + ": empty; expected records of 3073 bytes (a label byte and a 3x32x32 image)");
    if (file_size > static_cast<std::uintmax_t>(kMaxBatchBytes)) {
        throw Error(file.string() + ": " + std::to_string(file_size) + " bytes, more than the limit of " + std::to_string(kMaxBatchBytes) +
                    " for one CIFAR-10 batch (an official one is 30730000 bytes); is this the right file?");
    }
    const auto size = static_cast<std::int64_t>(file_size);
    if (size % kRecordBytes != 0) {
        std::string message = file.string() + ": " + std::to_string(size) + " bytes, not a whole number of 3073-byte records (" +
                              std::to_string(size / kRecordBytes) + (size / kRecordBytes == 1 ? " record and " : " records and ") +
                              std::to_string(size % kRecordBytes) + " bytes over): truncated or not a CIFAR-10 binary batch";
        if (size % kCifar100RecordBytes == 0) {
            message +=
                "; it is a whole number of 3074-byte records, as in CIFAR-100's binary files (a coarse and a fine label byte), "
                "which convnet does not read";
        }
        throw Error(message);
    }
    return size;
}

// Reads one batch's records into `labels` and `images` (room for them made by the caller), from
// record `first` of the dataset on. Each label must name a class.
void read_batch(const fs::path& file, std::int64_t size, const fs::path& names_file, std::size_t class_count, std::int64_t first,
                std::vector<std::uint8_t>& labels, std::vector<std::uint8_t>& images) {
    std::ifstream stream(file, std::ios::binary);
    if (!stream) throw Error(file.string() + ": cannot open a CIFAR-10 batch (" + std::strerror(errno) + ")");
    const std::int64_t records = size / kRecordBytes;
    std::vector<std::uint8_t> chunk(static_cast<std::size_t>(std::min(records, kRecordsPerRead) * kRecordBytes));
    for (std::int64_t start = 0; start < records; start += kRecordsPerRead) {
        const std::int64_t count = std::min(kRecordsPerRead, records - start);
        stream.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(count * kRecordBytes));
        const std::int64_t got = stream.gcount();
        if (got != count * kRecordBytes) {
            throw Error(file.string() + ": truncated while reading: expected " + std::to_string(size) + " bytes, got " +
                        std::to_string(start * kRecordBytes + got) + " (did the file change?)");
        }
        for (std::int64_t record = 0; record < count; ++record) {
            const std::uint8_t* source = chunk.data() + record * kRecordBytes;
            if (source[0] >= class_count) {
                throw Error(file.string() + ": record " + std::to_string(start + record) + " (counting from 0) has label " +
                            std::to_string(source[0]) + ", but " + names_file.string() + " names " + std::to_string(class_count) +
                            " classes (labels 0.." + std::to_string(class_count - 1) + ")");
            }
            const std::int64_t index = first + start + record;
            labels[static_cast<std::size_t>(index)] = source[0];
            std::copy(source + 1, source + kRecordBytes, images.begin() + static_cast<std::ptrdiff_t>(index * kImageBytes));
        }
    }
}

}  // namespace

bool is_cifar10_folder(const std::filesystem::path& directory) {
    std::error_code error;
    if (!fs::is_directory(directory, error)) return false;
    return holds_cifar10_batches(directory) || holds_cifar10_batches(directory / kTarballFolder) || holds_cifar100_batches(directory) ||
           holds_cifar100_batches(directory / "cifar-100-binary");
}

Dataset read_cifar10(const std::filesystem::path& directory, Split split) {
    std::error_code error;
    if (!fs::exists(directory, error)) throw Error("CIFAR-10 folder " + directory.string() + " not found; " + layout_hint(directory));
    if (!fs::is_directory(directory, error)) {
        const bool tarball = directory.string().ends_with(".tar.gz");
        throw Error(directory.string() + ": a file, where a CIFAR-10 folder was expected" +
                    (tarball ? "; extract it (`tar -xzf " + directory.string() + "`) and give the folder it makes" : "") + "; " +
                    layout_hint(directory));
    }
    const fs::path folder = batches_folder(directory);
    if (!holds_cifar10_batches(folder)) {
        for (const fs::path& candidate : {directory, directory / "cifar-100-binary"}) {
            if (holds_cifar100_batches(candidate)) {
                throw Error(candidate.string() +
                            " holds CIFAR-100 binary files (train.bin, test.bin, fine_label_names.txt: 3074-byte records with a coarse "
                            "and a fine label byte), which convnet does not read; it reads CIFAR-10, whose binary version is " +
                            kTarballUrl);
            }
        }
    }

    // Every file present and of a sound size before anything large is allocated.
    const std::vector<std::string> names = batch_names(split);
    std::vector<std::string> missing;
    for (const std::string& name : names) {
        if (!fs::exists(folder / name, error)) missing.push_back(name);
    }
    if (!missing.empty()) {
        std::string also;
        for (std::size_t index = 1; index < missing.size(); ++index) also += (also.empty() ? "" : ", ") + missing[index];
        throw Error((folder / missing.front()).string() + ": not found" + (also.empty() ? "" : " (nor " + also + ")") + "; the " +
                    (split == Split::train ? "train split reads all five of data_batch_1.bin .. data_batch_5.bin"
                                           : "test split reads test_batch.bin") +
                    "; " + layout_hint(directory));
    }
    std::vector<std::int64_t> sizes;
    std::int64_t total_records = 0;
    for (const std::string& name : names) {
        sizes.push_back(checked_batch_size(folder / name));
        total_records += sizes.back() / kRecordBytes;
    }
    const fs::path names_file = folder / kNamesFile;

    Dataset dataset;
    dataset.class_names = read_names_file(names_file);
    dataset.count = total_records;
    dataset.channels = kChannels;
    dataset.height = kSide;
    dataset.width = kSide;
    dataset.labels.resize(static_cast<std::size_t>(total_records));
    dataset.images.resize(static_cast<std::size_t>(total_records * kImageBytes));
    std::int64_t first = 0;
    for (std::size_t batch = 0; batch < names.size(); ++batch) {
        read_batch(folder / names[batch], sizes[batch], names_file, dataset.class_names.size(), first, dataset.labels, dataset.images);
        first += sizes[batch] / kRecordBytes;
    }
    return dataset;
}

}  // namespace convnet
