// `make-digit-boxes`: writes a digit-detection dataset from MNIST in the Darknet/YOLO layout
// (docs/DETECTION.md, "The digit-boxes data"): square grey canvases of 1..K scaled digits and one
// label file of their boxes each. A data generator built on the library's public API; not part of
// the library or the `convnet` CLI. Its folder handling follows make_m2nist.cpp.
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
#include <cmath>
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
    "usage: make-digit-boxes --mnist DIR --out DIR [--train N] [--test N] [--seed S] [--size S] [--max-digits K]\n"
    "                        [--min-box P] [--max-box P]\n";

constexpr const char* kHelp = R"(
Writes a digit-detection dataset from MNIST's IDX files in the Darknet/YOLO layout (docs/DETECTION.md):
  OUT/classes.txt                         0, 1, ..., 9 (line i = class i)
  OUT/{train,test}/images/NNNNN.png       grey 8-bit canvases, S×S, black background
  OUT/{train,test}/labels/NNNNN.txt       one digit a line: `class cx cy w h`, normalised by S, 6 decimals
Each canvas holds 1..K MNIST digits (the count drawn uniformly), train canvases from MNIST's train
split, test canvases from its test split. Each digit's 28×28 image is scaled (bilinear, antialiased,
aspect kept) so that the longer side of its ink box (pixels at least 32) is P pixels (a pixel off
for about 1 digit in 2,000), P drawn uniformly from --min-box..--max-box, and drawn at a random
place, composited by maximum; a place whose ink box covers more than 20% of the smaller of it and
an earlier box is drawn again, up to 100 times, then the canvas keeps the digits it has. A label is
the tight box of the scaled digit's ink. The same arguments give the same bytes.

options:
  --mnist DIR       MNIST's IDX files (`make data` places them in data/mnist)
  --out DIR         the folder to create; one that exists must be empty, or hold a set made
                    with the same arguments (then nothing is done: "up to date")
  --train N         train canvases (default 10000, at most 100000)
  --test N          test canvases (default 2000, at most 100000)
  --seed S          the seed of every draw (default 1)
  --size S          canvas side in pixels (default 96, 16 to 2048)
  --max-digits K    the most digits on a canvas (default 5, 1 to 64)
  --min-box P       the smallest longer side of a digit's ink box (default 14, at least 4)
  --max-box P       the largest (default 42, or --size if smaller; from --min-box to --size)
)";

constexpr int kDigitSide = 28;                  // MNIST's images
constexpr std::uint8_t kInkThreshold = 32;      // a pixel at least this is ink: the boxes are tight around such pixels
constexpr int kSmallestSourceInk = 8;           // MNIST digits whose ink box's longer side is shorter are not used
constexpr int kPlacementAttempts = 100;         // random places tried per digit before the canvas is left as it is
constexpr int kLargestOverlapPercent = 20;      // of the smaller box's area that a later box may cover
constexpr std::int64_t kLargestSplit = 100000;  // names stay 5 digits
// The first line of OUT/.digit-boxes-args: a change to how canvases are drawn must change it, so
// that an old folder is not taken as up to date.
constexpr const char* kFormat = "make-digit-boxes 1";

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
    int size = 96;
    int max_digits = 5;
    int min_box = 14;
    int max_box = 42;
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
    bool has_mnist = false, has_out = false, has_max_box = false;
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
        else if (option == "--size") options.size = static_cast<int>(parse_number(option, value, 16, 2048));
        else if (option == "--max-digits") options.max_digits = static_cast<int>(parse_number(option, value, 1, 64));
        else if (option == "--min-box") options.min_box = static_cast<int>(parse_number(option, value, 4, 2048));
        else if (option == "--max-box") {
            options.max_box = static_cast<int>(parse_number(option, value, 4, 2048));
            has_max_box = true;
        } else throw UsageError("unknown option '" + option + "'");
    }
    if (!has_mnist || options.mnist.empty()) throw UsageError("--mnist DIR is required");
    if (!has_out || options.out.empty()) throw UsageError("--out DIR is required");
    // A smaller canvas with the default boxes: the largest box is the canvas.
    if (!has_max_box) options.max_box = std::min(options.max_box, options.size);
    if (options.min_box > options.max_box)
        throw UsageError("--min-box " + std::to_string(options.min_box) + " is larger than --max-box " + std::to_string(options.max_box));
    if (options.max_box > options.size)
        throw UsageError("--max-box " + std::to_string(options.max_box) + " is larger than the canvas (--size " +
                         std::to_string(options.size) + ")");
    // "data/digit-boxes/" names the folder data/digit-boxes: its siblings (the partial folder) sit beside it.
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

// A 64-bit FNV-1a digest of a split's labels and image bytes (as make_m2nist's: computed here, not
// by the library's dataset_fingerprint, whose definition may change with the library).
std::uint64_t mnist_digest(const convnet::Dataset& dataset) {
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (const std::vector<std::uint8_t>* bytes : {&dataset.labels, &dataset.images})
        for (const std::uint8_t byte : *bytes) hash = (hash ^ byte) * 0x100000001b3ull;
    return hash;
}

// What OUT/.digit-boxes-args holds: every option that changes a byte of the output, and MNIST's
// content (mnist_digest), not its path, so that the same files elsewhere count as the same.
std::string arguments_record(const Options& options, const convnet::Dataset& train_source, const convnet::Dataset& test_source) {
    std::ostringstream record;
    record << kFormat << "\n"
           << "train " << options.train_count << "\n"
           << "test " << options.test_count << "\n"
           << "seed " << options.seed << "\n"
           << "size " << options.size << "\n"
           << "max-digits " << options.max_digits << "\n"
           << "min-box " << options.min_box << "\n"
           << "max-box " << options.max_box << "\n"
           << "ink-threshold " << int{kInkThreshold} << "\n"
           << "largest-overlap-percent " << kLargestOverlapPercent << "\n"
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

std::string file_name(std::int64_t index, const char* extension) {
    char name[32];
    std::snprintf(name, sizeof(name), "%05lld%s", static_cast<long long>(index), extension);
    return name;
}

// Whether `folder` holds the set `record` describes: the record itself (written last, so a folder
// that has it was finished) and every file it names.
bool holds_complete_set(const fs::path& folder, const std::string& record, const Options& options) {
    if (read_text(folder / ".digit-boxes-args") != record) return false;
    std::error_code error;
    if (!fs::is_regular_file(folder / "classes.txt", error)) return false;
    for (const auto& [split, count] : {std::pair{"train", options.train_count}, std::pair{"test", options.test_count}})
        for (std::int64_t index = 0; index < count; ++index)
            if (!fs::is_regular_file(folder / split / "images" / file_name(index, ".png"), error) ||
                !fs::is_regular_file(folder / split / "labels" / file_name(index, ".txt"), error))
                return false;
    return true;
}

// A box of whole pixels: rows [top, top + height), columns [left, left + width).
struct PixelBox {
    int top = 0, left = 0, height = 0, width = 0;
    std::int64_t area() const { return std::int64_t{height} * width; }
};

// The tight box of the pixels at least kInkThreshold in a side×side image; height 0 when there is none.
PixelBox ink_box(const std::uint8_t* pixels, int side) {
    int top = side, left = side, bottom = -1, right = -1;
    for (int row = 0; row < side; ++row)
        for (int column = 0; column < side; ++column)
            if (pixels[row * side + column] >= kInkThreshold) {
                top = std::min(top, row);
                bottom = std::max(bottom, row);
                left = std::min(left, column);
                right = std::max(right, column);
            }
    if (bottom < 0) return {};
    return {top, left, bottom - top + 1, right - left + 1};
}

// Whether `box` covers more than kLargestOverlapPercent of the smaller of it and `other`.
bool overlaps_too_much(const PixelBox& box, const PixelBox& other) {
    const std::int64_t rows = std::min(box.top + box.height, other.top + other.height) - std::max(box.top, other.top);
    const std::int64_t columns = std::min(box.left + box.width, other.left + other.width) - std::max(box.left, other.left);
    if (rows <= 0 || columns <= 0) return false;
    return 100 * rows * columns > kLargestOverlapPercent * std::min(box.area(), other.area());
}

// An MNIST digit as the canvases use it: its source ink box, measured once.
struct SourceDigit {
    std::int64_t index;  // in the MNIST split
    int longer_ink_side;
};

// A digit scaled for one canvas: its square frame (the 28×28 image scaled) and the ink box in it.
struct ScaledDigit {
    int side = 0;
    std::vector<std::uint8_t> pixels;  // side×side
    PixelBox ink;
};

// The 28×28 image scaled to side×side with the library's resize_bilinear (Pillow's antialiased
// bilinear filter), rounded to 8 bits, and the ink box measured on the result.
ScaledDigit scale_frame(const convnet::Dataset& source, std::int64_t index, int side) {
    ScaledDigit scaled;
    scaled.side = side;
    const std::uint8_t* image = source.image(index);
    const std::vector<float> planes(image, image + kDigitSide * kDigitSide);
    const std::vector<float> resized = convnet::resize_bilinear(planes, 1, kDigitSide, kDigitSide, side, side);
    scaled.pixels.resize(resized.size());
    for (std::size_t i = 0; i < resized.size(); ++i)
        scaled.pixels[i] = static_cast<std::uint8_t>(std::clamp(std::lround(resized[i]), 0l, 255l));
    scaled.ink = ink_box(scaled.pixels.data(), scaled.side);
    return scaled;
}

int longer_ink_side(const ScaledDigit& digit) { return std::max(digit.ink.height, digit.ink.width); }

// The digit scaled (a square frame, so the aspect is kept) so that the longer side of its ink box,
// measured after scaling, is longer_side: the frame side starts at 28·longer_side / (the source's
// longer ink side), rounded, and moves a pixel at a time towards longer_side, at most
// kSideSearchSteps times, until the measured side reaches or passes it; the frame whose side is
// nearest wins, the earlier one on a tie. (The ink of a scaled digit is not the scaled ink: the
// filter blurs its rim across the threshold, so the first guess is often a pixel or two off.)
ScaledDigit scale_digit(const convnet::Dataset& source, const SourceDigit& digit, int longer_side) {
    constexpr int kSideSearchSteps = 8;
    int side = std::max(1, static_cast<int>(std::lround(double{kDigitSide} * longer_side / digit.longer_ink_side)));
    ScaledDigit best = scale_frame(source, digit.index, side);
    const int direction = longer_ink_side(best) < longer_side ? 1 : -1;
    for (int step = 0; step < kSideSearchSteps && longer_ink_side(best) != longer_side && side + direction >= 1; ++step) {
        side += direction;
        ScaledDigit next = scale_frame(source, digit.index, side);
        const bool reached = direction > 0 ? longer_ink_side(next) >= longer_side : longer_ink_side(next) <= longer_side;
        if (std::abs(longer_ink_side(next) - longer_side) < std::abs(longer_ink_side(best) - longer_side)) best = std::move(next);
        if (reached) break;
    }
    return best;
}

struct Placement {
    int digit_class;
    ScaledDigit digit;
    PixelBox box;  // the ink box on the canvas
};

// 1..max_digits digits (the count drawn uniformly), each drawn from `usable`, scaled to a drawn
// box size and placed where its box covers at most kLargestOverlapPercent of the smaller of it and
// each earlier box; a digit that finds no such place in kPlacementAttempts draws is left out, with
// those after it.
std::vector<Placement> place_digits(convnet::Random& random, const convnet::Dataset& source, const std::vector<SourceDigit>& usable,
                                    const Options& options, int& wanted_digits) {
    wanted_digits = 1 + static_cast<int>(random.below(static_cast<std::uint64_t>(options.max_digits)));
    std::vector<Placement> placements;
    for (int digit = 0; digit < wanted_digits; ++digit) {
        const SourceDigit& chosen = usable[random.below(usable.size())];
        const int longer_side =
            options.min_box + static_cast<int>(random.below(static_cast<std::uint64_t>(options.max_box - options.min_box + 1)));
        ScaledDigit scaled = scale_digit(source, chosen, longer_side);
        const PixelBox& ink = scaled.ink;
        if (ink.height == 0 || ink.height > options.size || ink.width > options.size) break;
        bool placed = false;
        for (int attempt = 0; attempt < kPlacementAttempts && !placed; ++attempt) {
            PixelBox box = ink;
            box.top = static_cast<int>(random.below(static_cast<std::uint64_t>(options.size - ink.height + 1)));
            box.left = static_cast<int>(random.below(static_cast<std::uint64_t>(options.size - ink.width + 1)));
            bool refused = false;
            for (const Placement& other : placements) refused = refused || overlaps_too_much(box, other.box);
            if (refused) continue;
            placements.push_back({source.labels[static_cast<std::size_t>(chosen.index)], std::move(scaled), box});
            placed = true;
        }
        if (!placed) break;
    }
    return placements;
}

// The canvas (size×size, each pixel the largest of the digits' pixels there) and its label lines.
void render_canvas(const std::vector<Placement>& placements, const Options& options, std::vector<std::uint8_t>& canvas,
                   std::string& labels) {
    const int size = options.size;
    canvas.assign(static_cast<std::size_t>(size) * static_cast<std::size_t>(size), 0);
    labels.clear();
    for (const Placement& placement : placements) {
        const ScaledDigit& digit = placement.digit;
        // The frame sits so that its ink box lands on placement.box; what falls outside the canvas
        // is below the ink threshold (the ink box is inside), and is cut.
        const int frame_top = placement.box.top - digit.ink.top, frame_left = placement.box.left - digit.ink.left;
        const int first_row = std::max(0, -frame_top), last_row = std::min(digit.side, size - frame_top);
        const int first_column = std::max(0, -frame_left), last_column = std::min(digit.side, size - frame_left);
        for (int row = first_row; row < last_row; ++row)
            for (int column = first_column; column < last_column; ++column) {
                std::uint8_t& pixel = canvas[static_cast<std::size_t>(frame_top + row) * static_cast<std::size_t>(size) +
                                             static_cast<std::size_t>(frame_left + column)];
                pixel = std::max(
                    pixel,
                    digit.pixels[static_cast<std::size_t>(row) * static_cast<std::size_t>(digit.side) + static_cast<std::size_t>(column)]);
            }
        const PixelBox& box = placement.box;
        char line[96];
        std::snprintf(line, sizeof(line), "%d %.6f %.6f %.6f %.6f\n", placement.digit_class, (box.left + box.width / 2.0) / size,
                      (box.top + box.height / 2.0) / size, static_cast<double>(box.width) / size, static_cast<double>(box.height) / size);
        labels += line;
    }
}

// Plain writes: the whole folder is renamed into place once complete (and synced before), so
// each file need not be replaced atomically on its own.
void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    stream.close();
    if (!stream) throw convnet::Error(path.string() + ": cannot write (" + std::strerror(errno) + ")");
}

struct SplitSummary {
    std::vector<std::int64_t> canvases_by_digits;  // index = digits placed
    std::int64_t fewer_than_drawn = 0;             // canvases where a digit found no place
    std::int64_t objects = 0;
    int smallest_side = std::numeric_limits<int>::max(), largest_side = 0;  // the longer side of a box, pixels
    int narrowest = std::numeric_limits<int>::max(), widest = 0, lowest = std::numeric_limits<int>::max(), highest = 0;

    void add(const SplitSummary& other) {
        objects += other.objects;
        smallest_side = std::min(smallest_side, other.smallest_side);
        largest_side = std::max(largest_side, other.largest_side);
        narrowest = std::min(narrowest, other.narrowest);
        widest = std::max(widest, other.widest);
        lowest = std::min(lowest, other.lowest);
        highest = std::max(highest, other.highest);
    }
};

// Canvases 0..count-1 of one split into folder/images and folder/labels, in blocks: the digits of a
// block are drawn and scaled in canvas order by this thread (every draw from `random` happens
// here), then the canvases are drawn and encoded in parallel (OpenMP), which changes no byte: each
// file depends on its own placements alone; then this thread writes them in order.
SplitSummary write_split(const convnet::Dataset& source, const std::vector<SourceDigit>& usable, std::int64_t count,
                         convnet::Random& random, const Options& options, const fs::path& folder) {
    fs::create_directories(folder / "images");
    fs::create_directories(folder / "labels");
    if (count > 0 && usable.empty()) throw convnet::Error(options.mnist.string() + ": the MNIST split holds no usable digit");
    SplitSummary summary;
    summary.canvases_by_digits.assign(static_cast<std::size_t>(options.max_digits) + 1, 0);
    constexpr std::int64_t kBlock = 512;
    std::vector<std::vector<Placement>> placements(kBlock);
    std::vector<std::string> image_bytes(kBlock), label_text(kBlock);
    for (std::int64_t block_start = 0; block_start < count; block_start += kBlock) {
        const std::int64_t block_end = std::min(count, block_start + kBlock);
        for (std::int64_t index = block_start; index < block_end; ++index) {
            std::vector<Placement>& canvas_placements = placements[static_cast<std::size_t>(index - block_start)];
            int wanted_digits = 0;
            canvas_placements = place_digits(random, source, usable, options, wanted_digits);
            ++summary.canvases_by_digits[canvas_placements.size()];
            if (static_cast<int>(canvas_placements.size()) < wanted_digits) ++summary.fewer_than_drawn;
            for (const Placement& placement : canvas_placements) {
                const PixelBox& box = placement.box;
                ++summary.objects;
                summary.smallest_side = std::min(summary.smallest_side, std::max(box.width, box.height));
                summary.largest_side = std::max(summary.largest_side, std::max(box.width, box.height));
                summary.narrowest = std::min(summary.narrowest, box.width);
                summary.widest = std::max(summary.widest, box.width);
                summary.lowest = std::min(summary.lowest, box.height);
                summary.highest = std::max(summary.highest, box.height);
            }
        }
        std::exception_ptr failure;
#pragma omp parallel
        {
            std::vector<std::uint8_t> canvas;
#pragma omp for schedule(dynamic, 16)
            for (std::int64_t index = block_start; index < block_end; ++index) {
                try {
                    const auto slot = static_cast<std::size_t>(index - block_start);
                    render_canvas(placements[slot], options, canvas, label_text[slot]);
                    image_bytes[slot] = convnet::encode_png(canvas, 1, options.size, options.size, "canvas " + std::to_string(index));
                } catch (...) {
#pragma omp critical(make_digit_boxes_failure)
                    if (!failure) failure = std::current_exception();
                }
            }
        }
        if (failure) std::rethrow_exception(failure);
        for (std::int64_t index = block_start; index < block_end; ++index) {
            const auto slot = static_cast<std::size_t>(index - block_start);
            write_bytes(folder / "images" / file_name(index, ".png"), image_bytes[slot]);
            write_bytes(folder / "labels" / file_name(index, ".txt"), label_text[slot]);
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

// The digits of a split whose ink box's longer side is at least kSmallestSourceInk (all of MNIST's,
// in practice): a speck would be scaled up to a blur.
std::vector<SourceDigit> usable_digits(const convnet::Dataset& dataset) {
    std::vector<SourceDigit> usable;
    for (std::int64_t n = 0; n < dataset.count; ++n) {
        const PixelBox ink = ink_box(dataset.image(n), kDigitSide);
        const int longer_side = std::max(ink.width, ink.height);
        if (longer_side >= kSmallestSourceInk) usable.push_back({n, longer_side});
    }
    return usable;
}

fs::path partial_folder(const fs::path& out, long pid) {
    return out.parent_path() / (out.filename().string() + ".partial-" + std::to_string(pid));
}

// Partial folders beside `out` left by runs that no longer exist (killed, or a crash), removed.
// Best effort: a failure here is no reason to stop.
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

std::string summary_text(const char* split, std::int64_t count, const SplitSummary& summary) {
    std::string text = std::to_string(count) + " " + split + " canvases with " + std::to_string(summary.objects) + " digits (";
    for (std::size_t digits = 0; digits < summary.canvases_by_digits.size(); ++digits)
        if (digits > 0 || summary.canvases_by_digits[0] > 0)
            text += (digits <= 1 ? "" : ", ") + std::to_string(digits) + ": " + std::to_string(summary.canvases_by_digits[digits]);
    if (summary.fewer_than_drawn > 0) text += "; " + std::to_string(summary.fewer_than_drawn) + " fewer than drawn";
    return text + ")";
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
                                 (fs::exists(out / ".digit-boxes-args") ? "its .digit-boxes-args differs" : "no .digit-boxes-args") +
                                 "); remove it or choose another --out");
        }
    }
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    remove_stale_partials(out);
    PartialFolder partial{partial_folder(out, static_cast<long>(::getpid()))};
    fs::remove_all(partial.path);
    fs::create_directories(partial.path);

    std::string classes;
    for (int digit = 0; digit < 10; ++digit) classes += std::to_string(digit) + "\n";
    write_bytes(partial.path / "classes.txt", classes);

    // One generator from the seed gives each split its own stream, so the train canvases do not
    // depend on --test and the reverse.
    convnet::Random root(options.seed);
    convnet::Random train_random(root.next());
    convnet::Random test_random(root.next());
    const SplitSummary train_summary =
        write_split(train_source, usable_digits(train_source), options.train_count, train_random, options, partial.path / "train");
    const SplitSummary test_summary =
        write_split(test_source, usable_digits(test_source), options.test_count, test_random, options, partial.path / "test");
    write_bytes(partial.path / ".digit-boxes-args", record);  // last: a folder holding it is complete

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
    SplitSummary all = train_summary;
    all.add(test_summary);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string boxes = "no boxes";
    if (all.objects > 0)
        boxes = "boxes' longer side " + std::to_string(all.smallest_side) + "–" + std::to_string(all.largest_side) + " px (width " +
                std::to_string(all.narrowest) + "–" + std::to_string(all.widest) + ", height " + std::to_string(all.lowest) + "–" +
                std::to_string(all.highest) + ")";
    std::printf("%s: %s, %s, %d×%d, %s, in %.1f s\n", out.c_str(), summary_text("train", options.train_count, train_summary).c_str(),
                summary_text("test", options.test_count, test_summary).c_str(), options.size, options.size, boxes.c_str(), seconds);
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
        std::cerr << "make-digit-boxes: error: " << error.what() << "\n" << kUsage;
        return 2;
    } catch (const convnet::Error& error) {
        std::cerr << "make-digit-boxes: error: " << error.what() << "\n";
        return 1;
    } catch (const std::exception& error) {  // std::filesystem's errors (a folder that cannot be made), std::bad_alloc
        std::cerr << "make-digit-boxes: error: " << error.what() << "\n";
        return 1;
    }
}
