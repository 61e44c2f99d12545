// Reading IDX image/label pairs (raw or gzip) and a dataset folder's class names. Every header is
// checked against the data actually present before anything large is allocated.
#include <convnet/data/data.h>
#include <convnet/core/error.h>

#include "../core/text_file.h"
#include "deflate.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

namespace convnet {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr std::int64_t kMaxItems = 100'000'000;     // ~1,700 times MNIST: beyond any real use here
constexpr std::int64_t kMaxDataBytes = 0x7fffffff;  // 2 GiB: also keeps rows and cols within int
constexpr unsigned kReadChunkBytes = 1u << 20;
constexpr std::int64_t kTrustedReserveBytes = std::int64_t{256} << 20;  // the largest MNIST-style file is 47 MB

std::string hex32(std::uint32_t value) {
    std::array<char, 11> text{};
    std::snprintf(text.data(), text.size(), "0x%08x", value);
    return text.data();
}

// One IDX file opened for sequential reading. zlib reads a file that is not gzip transparently,
// so one code path serves both; only raw files have a known payload size up front.
class IdxFile {
public:
    explicit IdxFile(std::filesystem::path path) : path_(std::move(path)) {
        std::error_code error;
        if (!std::filesystem::exists(path_, error)) fail("file not found");
        if (!std::filesystem::is_regular_file(path_, error)) fail("not a regular file");
        file_.reset(gzopen(path_.c_str(), "rb"));
        if (!file_) fail("cannot open: " + std::string(std::strerror(errno)));
        gzbuffer(file_.get(), 256 * 1024);
        is_gzip_ = gzdirect(file_.get()) == 0;
        file_size_ = static_cast<std::int64_t>(std::filesystem::file_size(path_));
    }

    [[noreturn]] void fail(const std::string& fault) const { throw Error(path_.string() + ": " + fault); }

    // Reads the magic number and dimensions; afterwards dims() holds them, each checked to be > 0.
    void read_header(std::uint32_t expected_magic, const char* what) {
        const int expected_dims = static_cast<int>(expected_magic & 0xff);
        std::array<std::uint8_t, 4> word{};
        const std::int64_t header_bytes = 4 + 4 * std::int64_t{expected_dims};
        read_header_word(word, header_bytes, 0);
        const std::uint32_t magic = big_endian(word);
        if ((magic >> 8) == (expected_magic >> 8) && magic != expected_magic) {
            fail("wrong dimension count: expected " + std::to_string(expected_dims) + " for IDX " + what + ", got " +
                 std::to_string(magic & 0xff) + " (magic " + hex32(magic) + ")");
        }
        if (magic != expected_magic) {
            fail("wrong magic number: expected " + hex32(expected_magic) + " (IDX " + what + "), got " + hex32(magic) +
                 "; is this an IDX file of unsigned bytes?");
        }
        dims_.clear();
        for (int axis = 0; axis < expected_dims; ++axis) {
            read_header_word(word, header_bytes, 4 + 4 * std::int64_t{axis});
            const std::uint32_t dim = big_endian(word);
            if (dim == 0) fail(std::string(axis == 0 ? "count" : axis == 1 ? "rows" : "cols") + " is 0 in the header");
            dims_.push_back(dim);
        }
        header_bytes_ = header_bytes;
    }

    const std::vector<std::int64_t>& dims() const { return dims_; }

    // Refuses a payload of `expected_bytes` before it is allocated, when the file cannot hold it: a
    // raw file must hold exactly that, a gzip file at most 1,032 times its size (its exact size is
    // known only once read, see read_payload). `claim` describes the header's claim for the message
    // ("60000 images of 28x28").
    void check_payload_fits(std::int64_t expected_bytes, const std::string& claim) const {
        if (is_gzip_) {
            if (expected_bytes > kDeflateLargestRatio * file_size_) {
                fail("truncated: the header claims " + claim + ", " + std::to_string(expected_bytes) + " bytes, more than a gzip file of " +
                     std::to_string(file_size_) + " bytes can hold (deflate expands at most 1,032 times)");
            }
            return;
        }
        const std::int64_t available = file_size_ - header_bytes_;
        if (available < expected_bytes) {
            fail("truncated: the header claims " + claim + ", expected " + std::to_string(expected_bytes) +
                 " bytes after the header, got " + std::to_string(available));
        }
        if (available > expected_bytes) {
            fail("has " + std::to_string(available - expected_bytes) + " bytes after the " + claim +
                 " its header claims; the header or the file is wrong");
        }
    }

    // Reads exactly `expected_bytes`. Up to kTrustedReserveBytes the buffer is reserved at once
    // (no copies while it grows, so the peak memory is the data itself); past that it grows only
    // as data arrives, so that a gzip stream whose header lies ends in an error after a small
    // allocation, not a huge one.
    std::vector<std::uint8_t> read_payload(std::int64_t expected_bytes) {
        std::vector<std::uint8_t> data;
        data.reserve(static_cast<std::size_t>(std::min(expected_bytes, kTrustedReserveBytes)));
        std::int64_t received = 0;
        while (received < expected_bytes) {
            const std::int64_t chunk = std::min<std::int64_t>(kReadChunkBytes, expected_bytes - received);
            data.resize(static_cast<std::size_t>(received + chunk));
            const std::int64_t got = read_some(data.data() + received, chunk);
            if (got == 0) {
                fail("truncated: expected " + std::to_string(expected_bytes) + " bytes after the header, got " + std::to_string(received));
            }
            received += got;
        }
        std::uint8_t extra = 0;
        if (read_some(&extra, 1) != 0) {
            fail("holds more data than the " + std::to_string(expected_bytes) +
                 " bytes its header accounts for; the header or the file is wrong");
        }
        return data;
    }

private:
    struct GzClose {
        void operator()(gzFile file) const { gzclose(file); }
    };

    static std::uint32_t big_endian(const std::array<std::uint8_t, 4>& bytes) {
        return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
    }

    void read_header_word(std::array<std::uint8_t, 4>& word, std::int64_t header_bytes, std::int64_t offset) {
        std::int64_t received = 0;
        while (received < 4) {
            const std::int64_t got = read_some(word.data() + received, 4 - received);
            if (got == 0) {
                fail("truncated header: expected " + std::to_string(header_bytes) + " bytes, got " + std::to_string(offset + received));
            }
            received += got;
        }
    }

    // Returns the bytes read (0 at the end of the data); a broken gzip stream is an error.
    std::int64_t read_some(std::uint8_t* destination, std::int64_t count) {
        const int got = gzread(file_.get(), destination, static_cast<unsigned>(count));
        if (got >= 0) return got;
        int code = Z_OK;
        const char* message = gzerror(file_.get(), &code);
        if (code == Z_BUF_ERROR) return 0;  // the gzip stream ends early: reported as truncation
        if (code == Z_ERRNO) fail("read error: " + std::string(std::strerror(errno)));
        // zlib prefixes its message with the path, which fail() already gives.
        std::string detail = message != nullptr ? message : "unknown zlib error";
        const std::string path_prefix = path_.string() + ": ";
        if (detail.starts_with(path_prefix)) detail.erase(0, path_prefix.size());
        fail("corrupt gzip data: " + detail);
    }

    std::filesystem::path path_;
    std::unique_ptr<gzFile_s, GzClose> file_;
    bool is_gzip_ = false;
    std::int64_t file_size_ = 0;  // on disk: compressed, for a gzip file
    std::int64_t header_bytes_ = 0;
    std::vector<std::int64_t> dims_;
};

// The first of `name`, `name.gz` that exists in the folder.
std::optional<std::filesystem::path> find_idx_file(const std::filesystem::path& directory, const std::string& name) {
    std::error_code error;
    for (const std::string& candidate : {name, name + ".gz"}) {
        if (std::filesystem::exists(directory / candidate, error)) return directory / candidate;
    }
    return std::nullopt;
}

}  // namespace

std::vector<std::string> read_class_names(const std::filesystem::path& directory) {
    const std::filesystem::path file = directory / "classes.txt";
    std::error_code error;
    if (!std::filesystem::exists(file, error)) {
        std::vector<std::string> digits;
        for (int digit = 0; digit < 10; ++digit) digits.push_back(std::to_string(digit));
        return digits;
    }
    std::vector<std::string> names;
    std::size_t line_number = 0;
    for (std::string line : detail::text_lines(detail::read_small_file(file, 1u << 20, "a class names file"))) {
        ++line_number;
        // Control bytes mean binary data, not names: they would reach the terminal and the PNGs' labels.
        const auto control = std::find_if(line.begin(), line.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
        if (control != line.end()) {
            char byte[8];
            std::snprintf(byte, sizeof(byte), "0x%02x", static_cast<unsigned char>(*control));
            throw Error(file.string() + ":" + std::to_string(line_number) + ": control byte " + byte + " at column " +
                        std::to_string(control - line.begin() + 1) + "; expected one class name a line, as text");
        }
        line = detail::trim_trailing_whitespace(std::move(line));
        if (!line.empty()) names.push_back(std::move(line));
    }
    if (names.empty()) throw Error(file.string() + ": holds no class names (one name a line expected)");
    return names;
}

Dataset read_idx_pair(const std::filesystem::path& images_file, const std::filesystem::path& labels_file) {
    IdxFile images(images_file);
    images.read_header(kImagesMagic, "images");
    IdxFile labels(labels_file);
    labels.read_header(kLabelsMagic, "labels");

    const std::int64_t count = images.dims()[0];
    const std::int64_t rows = images.dims()[1];
    const std::int64_t cols = images.dims()[2];
    if (count > kMaxItems) {
        images.fail("the header claims " + std::to_string(count) + " images, more than the limit of " + std::to_string(kMaxItems));
    }
    // Divisions, not products, so that nothing overflows before the limit is known to hold.
    if (rows > kMaxDataBytes / cols || count > kMaxDataBytes / (rows * cols)) {
        images.fail("the header claims " + std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols) +
                    ", more than the limit of " + std::to_string(kMaxDataBytes) + " bytes");
    }
    if (labels.dims()[0] != count) {
        throw Error("image and label counts differ: " + images_file.string() + " holds " + std::to_string(count) + " images, " +
                    labels_file.string() + " holds " + std::to_string(labels.dims()[0]) + " labels");
    }
    const std::string image_claim = std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
    images.check_payload_fits(count * rows * cols, image_claim);
    labels.check_payload_fits(count, std::to_string(count) + " labels");

    Dataset dataset;
    dataset.count = count;
    dataset.height = static_cast<int>(rows);
    dataset.width = static_cast<int>(cols);
    dataset.images = images.read_payload(count * rows * cols);
    dataset.labels = labels.read_payload(count);

    const std::filesystem::path directory = images_file.parent_path().empty() ? "." : images_file.parent_path();
    dataset.class_names = read_class_names(directory);
    const auto largest = std::max_element(dataset.labels.begin(), dataset.labels.end());
    if (std::size_t{*largest} >= dataset.class_names.size()) {
        const std::int64_t index = largest - dataset.labels.begin();
        const bool from_file = std::filesystem::exists(directory / "classes.txt");
        throw Error(labels_file.string() + ": label " + std::to_string(*largest) + " at index " + std::to_string(index) +
                    " is not below the number of classes, " + std::to_string(dataset.class_names.size()) +
                    (from_file ? " (the lines of " + (directory / "classes.txt").string() + ")"
                               : " (the default 0..9; add a classes.txt with one name a line)"));
    }
    return dataset;
}

Dataset load_split(const std::filesystem::path& directory, Split split) {
    std::error_code error;
    if (std::filesystem::exists(directory, error) && !std::filesystem::is_directory(directory, error))
        throw Error(directory.string() + ": a file, where a dataset folder was expected (one holding train-images-idx3-ubyte.gz, ...)");
    if (!std::filesystem::is_directory(directory, error)) {
        throw Error("dataset folder " + directory.string() + " not found; run `make data` to fetch it");
    }
    const std::string prefix = split == Split::train ? "train" : "t10k";
    std::array<std::filesystem::path, 2> files;
    const std::array<std::string, 2> names = {prefix + "-images-idx3-ubyte", prefix + "-labels-idx1-ubyte"};
    for (std::size_t which = 0; which < names.size(); ++which) {
        const std::optional<std::filesystem::path> found = find_idx_file(directory, names[which]);
        if (!found) {
            throw Error("dataset folder " + directory.string() + " holds no " + names[which] + " (or " + names[which] +
                        ".gz): an IDX dataset is four files, train and t10k images and labels (docs/DATA.md); `make data` "
                        "fetches Fashion-MNIST and MNIST into data/");
        }
        files[which] = *found;
    }
    return read_idx_pair(files[0], files[1]);
}

}  // namespace convnet
