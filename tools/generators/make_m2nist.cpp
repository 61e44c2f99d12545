// `make-m2nist`: writes an M2NIST-style semantic-segmentation dataset from MNIST (docs/DATA.md,
// "Generated segmentation data"): grey canvases of 1..K non-overlapping digits and their class masks.
// A data generator built on the library's public API; not part of the library or the `convnet` CLI.
#include <convnet/data/data.h>
#include <convnet/core/error.h>
#include <convnet/data/image.h>
#include <convnet/core/random.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: make-m2nist --mnist DIR --out DIR [--train N] [--test N] [--seed S] [--height H] [--width W] [--max-digits K]\n";

constexpr const char* kHelp = R"(
Writes an M2NIST-style segmentation dataset from MNIST's IDX files (docs/DATA.md):
  OUT/classes.txt                         background, 0, ..., 9 (line i = class i)
  OUT/{train,test}/images/NNNNN.png       grey 8-bit canvases, H×W
  OUT/{train,test}/masks/NNNNN.png        grey 8-bit, pixel = class: 0 background, digit d → d + 1
Each canvas holds 1..K MNIST digits (K = --max-digits, the count drawn uniformly), each 28×28, at
random positions inside the canvas whose 28×28 boxes do not overlap; train canvases take digits
from MNIST's train split, test canvases from its test split. A mask pixel is d + 1 where the
digit's pixel is at least 64, else background. The same arguments give the same bytes.

options:
  --mnist DIR       MNIST's IDX files (`make data` places them in data/mnist)
  --out DIR         the folder to create; one that exists must be empty, or hold a set made
                    with the same arguments (then nothing is done: "up to date")
  --train N         train canvases (default 10000, at most 100000)
  --test N          test canvases (default 2000, at most 100000)
  --seed S          the seed of every draw (default 1)
  --height H        canvas height (default 64, at least 28)
  --width W         canvas width (default 84, at least 28)
  --max-digits K    the most digits on a canvas (default 3, 1 to 64)
)";

constexpr int kDigitSide = 28;                  // MNIST's images
constexpr std::uint8_t kMaskThreshold = 64;     // a digit pixel at least this is the digit's class in the mask
constexpr int kPlacementAttempts = 100;         // random positions tried per digit before it is left out
constexpr std::int64_t kLargestSplit = 100000;  // names stay 5 digits
// The first line of OUT/.m2nist-args: a change to how canvases are drawn must change it, so that
// an old folder is not taken as up to date.
constexpr const char* kFormat = "make-m2nist 1";

// Bad command lines: exit status 2 with the usage line (errors in the work itself are
// convnet::Error, exit status 1).
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Options {
    fs::path mnist, out;
    std::int64_t train_count = 10000;
    std::int64_t test_count = 2000;
    std::uint64_t seed = 1;
    int height = 64;
    int width = 84;
    int max_digits = 3;
};

std::uint64_t parse_number(std::string_view option, std::string_view text, std::uint64_t lowest, std::uint64_t highest) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty())
        throw UsageError(std::string(option) + " '" + std::string(text) + "': expected a whole number");
    if (value < lowest || value > highest)
        throw UsageError(std::string(option) + " " + std::string(text) + ": expected " + std::to_string(lowest) + " to " +
                         std::to_string(highest));
    return value;
}

Options parse_options(const std::vector<std::string>& words) {
    Options options;
    bool has_mnist = false, has_out = false;
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string& option = words[i];
        if (!option.starts_with("--")) throw UsageError("unexpected argument '" + option + "'");
        if (i + 1 >= words.size()) throw UsageError(option + ": expected a value after it");
        const std::string& value = words[++i];
        if (option == "--mnist") {
            options.mnist = value;
            has_mnist = true;
        } else if (option == "--out") {
            options.out = value;
            has_out = true;
        } else if (option == "--train") options.train_count = static_cast<std::int64_t>(parse_number(option, value, 0, kLargestSplit));
        else if (option == "--test") options.test_count = static_cast<std::int64_t>(parse_number(option, value, 0, kLargestSplit));
        else if (option == "--seed") options.seed = parse_number(option, value, 0, std::numeric_limits<std::uint64_t>::max());
        else if (option == "--height") options.height = static_cast<int>(parse_number(option, value, kDigitSide, 16384));
        else if (option == "--width") options.width = static_cast<int>(parse_number(option, value, kDigitSide, 16384));
        else if (option == "--max-digits") options.max_digits = static_cast<int>(parse_number(option, value, 1, 64));
        else throw UsageError("unknown option '" + option + "'");
    }
    if (!has_mnist || options.mnist.empty()) throw UsageError("--mnist DIR is required");
    if (!has_out || options.out.empty()) throw UsageError("--out DIR is required");
    // "data/m2nist/" names the folder data/m2nist: its siblings (the partial folder) sit beside it.
    options.out = options.out.lexically_normal();
    if (!options.out.has_filename()) options.out = options.out.parent_path();
    if (options.out.filename() == "." || options.out.filename() == "..")
        throw UsageError("--out " + options.out.string() + ": name a folder");
    return options;
}

std::string hex(std::uint64_t value) {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
    return text;
}

// A 64-bit FNV-1a digest of a split's labels and image bytes, computed here rather than by the
// library's dataset_fingerprint, whose definition may change with the library: a folder made from
// the same MNIST must stay up to date.
std::uint64_t mnist_digest(const convnet::Dataset& dataset) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (const std::vector<std::uint8_t>* bytes : {&dataset.labels, &dataset.images})
        for (const std::uint8_t byte : *bytes) hash = (hash ^ byte) * 0x100000001b3ull;
    return hash;
}

// What OUT/.m2nist-args holds: every option that changes a byte of the output, and MNIST's
// content (mnist_digest), not its path, so that the same files elsewhere count as the same.
std::string arguments_record(const Options& options, const convnet::Dataset& train_source, const convnet::Dataset& test_source) {
    std::ostringstream record;
    record << kFormat << "\n"
           << "train " << options.train_count << "\n"
           << "test " << options.test_count << "\n"
           << "seed " << options.seed << "\n"
           << "height " << options.height << "\n"
           << "width " << options.width << "\n"
           << "max-digits " << options.max_digits << "\n"
           << "mask-threshold " << int{kMaskThreshold} << "\n"
           << "mnist-train " << hex(mnist_digest(train_source)) << "\n"
           << "mnist-test " << hex(mnist_digest(test_source)) << "\n";
    return record.str();
}

std::string read_text(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    if (!stream) return {};
    std::ostringstream text;
    text << stream.rdbuf();
    return text.str();
}

std::string file_name(std::int64_t index) {
    char name[32];
    std::snprintf(name, sizeof(name), "%05lld.png", static_cast<long long>(index));
    return name;
}

// Whether `folder` holds the set `record` describes: the record itself (written last, so a folder
// that has it was finished) and every file it names.
bool holds_complete_set(const fs::path& folder, const std::string& record, const Options& options) {
    if (read_text(folder / ".m2nist-args") != record) return false;
    std::error_code error;
    if (!fs::is_regular_file(folder / "classes.txt", error)) return false;
    for (const auto& [split, count] : {std::pair{"train", options.train_count}, std::pair{"test", options.test_count}})
        for (std::int64_t index = 0; index < count; ++index)
            for (const char* kind : {"images", "masks"})
                if (!fs::is_regular_file(folder / split / kind / file_name(index), error)) return false;
    return true;
}

struct DigitPlacement {
    std::int64_t source_index;  // in the MNIST split
    int top, left;              // of its 28×28 box on the canvas
};

// 1..max_digits digits (the count drawn uniformly) at positions whose boxes do not overlap; a digit
// that finds no free position in kPlacementAttempts draws is left out, with those after it.
std::vector<DigitPlacement> place_digits(convnet::Random& random, std::int64_t source_count, const Options& options, int& wanted_digits) {
    wanted_digits = 1 + static_cast<int>(random.below(static_cast<std::uint64_t>(options.max_digits)));
    std::vector<DigitPlacement> placements;
    for (int digit = 0; digit < wanted_digits; ++digit) {
        bool placed = false;
        for (int attempt = 0; attempt < kPlacementAttempts && !placed; ++attempt) {
            const int top = static_cast<int>(random.below(static_cast<std::uint64_t>(options.height - kDigitSide + 1)));
            const int left = static_cast<int>(random.below(static_cast<std::uint64_t>(options.width - kDigitSide + 1)));
            bool overlaps = false;
            for (const DigitPlacement& other : placements)
                overlaps = overlaps || (top < other.top + kDigitSide && other.top < top + kDigitSide && left < other.left + kDigitSide &&
                                        other.left < left + kDigitSide);
            if (overlaps) continue;
            placements.push_back({static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(source_count))), top, left});
            placed = true;
        }
        if (!placed) break;
    }
    return placements;
}

// Plain writes: the whole folder is renamed into place once complete (and synced before), so
// each file need not be replaced atomically on its own (write_png's fsyncs would cost 24,000
// disk flushes for the default set).
void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    stream.close();
    if (!stream) throw convnet::Error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
}

struct SplitSummary {
    std::vector<std::int64_t> canvases_by_digits;  // index = digits placed
    std::int64_t fewer_than_drawn = 0;             // canvases where a digit found no free position
};

// Canvas `placements` and its mask, each height×width, from the split's digits.
void render_canvas(const convnet::Dataset& source, const std::vector<DigitPlacement>& placements, const Options& options,
                   std::vector<std::uint8_t>& canvas, std::vector<std::uint8_t>& mask) {
    const std::size_t canvas_size = static_cast<std::size_t>(options.height) * static_cast<std::size_t>(options.width);
    canvas.assign(canvas_size, 0);
    mask.assign(canvas_size, 0);
    for (const DigitPlacement& placement : placements) {
        const std::uint8_t* digit = source.image(placement.source_index);
        const auto mask_class = static_cast<std::uint8_t>(source.labels[static_cast<std::size_t>(placement.source_index)] + 1);
        for (int row = 0; row < kDigitSide; ++row)
            for (int column = 0; column < kDigitSide; ++column) {
                const std::uint8_t value = digit[row * kDigitSide + column];
                const std::size_t at = static_cast<std::size_t>(placement.top + row) * static_cast<std::size_t>(options.width) +
                                       static_cast<std::size_t>(placement.left + column);
                canvas[at] = value;
                mask[at] = value >= kMaskThreshold ? mask_class : std::uint8_t{0};
            }
    }
}

// Canvases 0..count-1 of one split into folder/images and folder/masks. Every draw from `random`
// happens first, in canvas order; the PNGs are then encoded in parallel (OpenMP), which changes no
// byte: each file depends on its own placements alone.
SplitSummary write_split(const convnet::Dataset& source, std::int64_t count, convnet::Random& random, const Options& options,
                         const fs::path& folder) {
    fs::create_directories(folder / "images");
    fs::create_directories(folder / "masks");
    if (count > 0 && source.count == 0) throw convnet::Error(options.mnist.string() + ": the MNIST split holds no images");
    SplitSummary summary;
    summary.canvases_by_digits.assign(static_cast<std::size_t>(options.max_digits) + 1, 0);
    std::vector<std::vector<DigitPlacement>> placements(static_cast<std::size_t>(count));
    for (std::size_t index = 0; index < placements.size(); ++index) {
        int wanted_digits = 0;
        placements[index] = place_digits(random, source.count, options, wanted_digits);
        ++summary.canvases_by_digits[placements[index].size()];
        if (static_cast<int>(placements[index].size()) < wanted_digits) ++summary.fewer_than_drawn;
    }
    // Blocks of canvases: encoded in parallel, then written in order by this thread alone (threads
    // creating files in one folder at once spend more time waiting on its lock than they save).
    constexpr std::int64_t kBlock = 512;
    std::vector<std::string> image_bytes(kBlock), mask_bytes(kBlock);
    for (std::int64_t block_start = 0; block_start < count; block_start += kBlock) {
        const std::int64_t block_end = std::min(count, block_start + kBlock);
        std::exception_ptr failure;
#pragma omp parallel
        {
            std::vector<std::uint8_t> canvas, mask;
#pragma omp for schedule(dynamic, 16)
            for (std::int64_t index = block_start; index < block_end; ++index) {
                try {
                    render_canvas(source, placements[static_cast<std::size_t>(index)], options, canvas, mask);
                    const auto slot = static_cast<std::size_t>(index - block_start);
                    image_bytes[slot] = convnet::encode_png(canvas, 1, options.height, options.width, "canvas " + std::to_string(index));
                    mask_bytes[slot] = convnet::encode_png(mask, 1, options.height, options.width, "mask " + std::to_string(index));
                } catch (...) {
#pragma omp critical(make_m2nist_failure)
                    if (!failure) failure = std::current_exception();
                }
            }
        }
        if (failure) std::rethrow_exception(failure);
        for (std::int64_t index = block_start; index < block_end; ++index) {
            const auto slot = static_cast<std::size_t>(index - block_start);
            write_bytes(folder / "images" / file_name(index), image_bytes[slot]);
            write_bytes(folder / "masks" / file_name(index), mask_bytes[slot]);
        }
    }
    return summary;
}

// MNIST as the canvases need it: 28×28 grey, labels 0..9.
convnet::Dataset load_mnist(const fs::path& folder, convnet::Split split) {
    convnet::Dataset dataset = convnet::load_split(folder, split);
    const char* name = split == convnet::Split::train ? "train" : "test";
    if (dataset.channels != 1 || dataset.height != kDigitSide || dataset.width != kDigitSide)
        throw convnet::Error(folder.string() + ": the " + name + " split holds " + std::to_string(dataset.channels) + "×" +
                             std::to_string(dataset.height) + "×" + std::to_string(dataset.width) + " images; expected MNIST's 1×28×28");
    for (std::int64_t n = 0; n < dataset.count; ++n)
        if (dataset.labels[static_cast<std::size_t>(n)] > 9)
            throw convnet::Error(folder.string() + ": the " + name + " split's label " + std::to_string(n) + " is " +
                                 std::to_string(dataset.labels[static_cast<std::size_t>(n)]) + "; expected a digit 0..9");
    return dataset;
}

fs::path partial_folder(const fs::path& out, long pid) {
    return out.parent_path() / (out.filename().string() + ".partial-" + std::to_string(pid));
}

// Partial folders beside `out` left by runs that no longer exist (killed, or a crash), removed.
// Best effort, as write_file_atomically's stale temporaries: a failure here is no reason to stop.
void remove_stale_partials(const fs::path& out) {
    const std::string prefix = out.filename().string() + ".partial-";
    std::error_code error;
    fs::directory_iterator entries(out.has_parent_path() ? out.parent_path() : fs::path("."), error);
    if (error) return;
    for (const fs::directory_entry& entry : entries) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with(prefix) || name.size() == prefix.size() || name.size() - prefix.size() > 9) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const auto pid = static_cast<pid_t>(std::stol(digits));
        if (pid <= 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
        std::error_code ignored;
        fs::remove_all(entry.path(), ignored);
    }
}

// Removes the partial folder unless the run got as far as renaming it.
struct PartialFolder {
    fs::path path;
    bool renamed = false;
    ~PartialFolder() {
        if (renamed) return;
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
};

std::string summary_text(const SplitSummary& summary) {
    std::string text = "digits";
    for (std::size_t digits = 1; digits < summary.canvases_by_digits.size(); ++digits)
        text += (digits == 1 ? " " : ", ") + std::to_string(digits) + ": " + std::to_string(summary.canvases_by_digits[digits]);
    if (summary.fewer_than_drawn > 0) text += "; " + std::to_string(summary.fewer_than_drawn) + " with fewer than drawn (no free place)";
    return text;
}

int run(const Options& options) {
    const auto start = std::chrono::steady_clock::now();
    const convnet::Dataset train_source = load_mnist(options.mnist, convnet::Split::train);
    const convnet::Dataset test_source = load_mnist(options.mnist, convnet::Split::test);
    const std::string record = arguments_record(options, train_source, test_source);
    const fs::path& out = options.out;

    std::error_code error;
    if (fs::exists(out, error)) {
        if (!fs::is_directory(out, error)) throw convnet::Error(out.string() + ": exists and is not a folder; choose another --out");
        if (!fs::is_empty(out, error)) {
            if (holds_complete_set(out, record, options)) {
                std::cout << out.string() << ": up to date\n";
                return 0;
            }
            throw convnet::Error(out.string() + ": exists and is not empty, and holds no complete set made with these arguments (" +
                                 (fs::exists(out / ".m2nist-args") ? "its .m2nist-args differs" : "no .m2nist-args") +
                                 "); remove it or choose another --out");
        }
    }
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    remove_stale_partials(out);
    PartialFolder partial{partial_folder(out, static_cast<long>(::getpid()))};
    fs::remove_all(partial.path);
    fs::create_directories(partial.path);

    std::string classes = "background\n";
    for (int digit = 0; digit < 10; ++digit) classes += std::to_string(digit) + "\n";
    write_bytes(partial.path / "classes.txt", classes);

    // One generator from the seed gives each split its own stream, so the train canvases do not
    // depend on --test and the reverse.
    convnet::Random root(options.seed);
    convnet::Random train_random(root.next());
    convnet::Random test_random(root.next());
    const SplitSummary train_summary = write_split(train_source, options.train_count, train_random, options, partial.path / "train");
    const SplitSummary test_summary = write_split(test_source, options.test_count, test_random, options, partial.path / "test");
    write_bytes(partial.path / ".m2nist-args", record);  // last: a folder holding it is complete

    // Everything on disk before the rename makes it visible: one syncfs for the filesystem, not a
    // fsync per file.
    const int descriptor = ::open(partial.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (descriptor < 0 || ::syncfs(descriptor) != 0) {
        const int cause = errno;
        if (descriptor >= 0) ::close(descriptor);
        throw convnet::Error(partial.path.string() + ": flushing to disk failed (" + std::strerror(cause) + ")");
    }
    ::close(descriptor);
    // rename(2) replaces an empty folder and refuses a non-empty one (one another run just finished).
    fs::rename(partial.path, out, error);
    if (error) {
        if (holds_complete_set(out, record, options)) {
            std::cout << out.string() << ": up to date (written meanwhile by another run)\n";
            return 0;
        }
        throw convnet::Error("cannot rename " + partial.path.string() + " to " + out.string() + " (" + error.message() + ")");
    }
    partial.renamed = true;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %lld train canvases (%s), %lld test canvases (%s), %d×%d, in %.1f s\n", out.c_str(),
                static_cast<long long>(options.train_count), summary_text(train_summary).c_str(),
                static_cast<long long>(options.test_count), summary_text(test_summary).c_str(), options.height, options.width, seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> words(argv + 1, argv + argc);
    for (const std::string& word : words)
        if (word == "--help" || word == "-h") {
            std::cout << kUsage << kHelp;
            return 0;
        }
    try {
        return run(parse_options(words));
    } catch (const UsageError& error) {
        std::cerr << "make-m2nist: error: " << error.what() << "\n" << kUsage;
        return 2;
    } catch (const convnet::Error& error) {
        std::cerr << "make-m2nist: error: " << error.what() << "\n";
        return 1;
    } catch (const std::exception& error) {  // std::filesystem's errors (a folder that cannot be made), std::bad_alloc
        std::cerr << "make-m2nist: error: " << error.what() << "\n";
        return 1;
    }
}
