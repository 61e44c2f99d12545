// What the subcommands of the `convnet` tool share: option parsing and the subcommand table.
#pragma once

#include <convnet/core/error.h>
#include <convnet/data/augmentation.h>
#include <convnet/data/dataset.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>
#include <convnet/train/evaluation.h>
#include <convnet/train/preflight.h>
#include <convnet/train/run_config.h>

#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convnet::cli {

// A mistake in how the command was typed (an unknown option, a missing value, a stray word): the
// CLI answers it with exit code 2, as it answers the library's MisconfigurationError (settings
// that contradict each other), where an error in the input files or data exits with 1.
class UsageError : public MisconfigurationError {
public:
    using MisconfigurationError::MisconfigurationError;
};

// How many bare words (file names) a subcommand takes.
enum class Positional { none, any };

// "--name value" or "--name=value" options, flags, and bare words where the subcommand takes
// them; throws UsageError on an unknown option (with the nearest known one), a single-dash option,
// a missing value, a malformed or out-of-range number, or a stray word, naming what was typed.
class Arguments {
public:
    // `with_value` and `flags` list the option names the subcommand accepts (without dashes).
    Arguments(const std::vector<std::string>& words, const std::vector<std::string>& with_value, const std::vector<std::string>& flags,
              Positional positional = Positional::none);

    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string text(const std::string& name, const std::string& fallback) const;
    std::string required(const std::string& name) const;
    long long integer(const std::string& name, long long fallback, long long minimum, long long maximum) const;
    double real(const std::string& name, double fallback, double minimum, double maximum) const;
    const std::vector<std::string>& positional() const { return positional_; }
    // Every option given, by name without dashes, with its value as typed ("" for a flag).
    const std::map<std::string, std::string>& given() const { return values_; }
    // The names of the options given, in name order.
    std::vector<std::string> names() const;

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

// `value` for printf: a NaN without its sign bit, so that it prints "nan" as PyTorch shows it, not "-nan".
inline double shown(double value) { return value != value ? std::fabs(value) : value; }

// Applies --threads to the library's thread pool; without it, OMP_NUM_THREADS, else the cores that
// other processes leave free (measured over 0.1 s; all of them on a quiet machine). Returns what
// was chosen and why, for the run's header ("1 thread (1.0 of 2 cores busy ...)").
std::string apply_threads(const Arguments& arguments);

// --backend NAME (or --reference, its old name for the reference backend) on `network`; without
// either the network keeps the backend it chose. UsageError for a name no backend has.
void apply_backend(const Arguments& arguments, Network& network);

// --tta (none unless given); UsageError naming the option for a value that is neither none nor flip.
TestTimeAugmentation test_time_augmentation_option(const Arguments& arguments);

// The network of --weights: its model from --model, else from the safetensors file's metadata;
// on the backend --backend (or --reference) names. Warns on stderr about non-finite weights.
// `stored`, when given, receives the class names and preprocessing the weights file holds (empty
// defaults for a file in convnet's older format); the file is read once.
std::unique_ptr<Network> load_trained_network(const Arguments& arguments, WeightsMetadata* stored = nullptr);
// Throws convnet::Error (nn/costs.h) when `network`'s parameters and one forward pass over
// `images` images need more than the machine's memory; `what` says what the run was
// ("evaluating at --batch 1000"), and the message gives the --batch that would fill the memory.
void check_inference_memory(const Network& network, std::int64_t images, const std::string& what);

// How --data is read for `network`: an image folder converted to the network's input (channels,
// height, width) with `resize`, cached under --cache DIR (default $XDG_CACHE_HOME/convnet or
// ~/.cache/convnet; "none": no cache), --skip-bad; --val-split F and its seed for every kind.
DataOptions data_options(const Arguments& arguments, const Network& network, ResizePolicy resize);

// load_dataset with `options`, naming the split in progress; prints what --skip-bad left out and
// the reader's warnings (the first few and a count), and retries without the cache when the cache
// folder cannot be written.
Dataset load_data(const std::string& directory, std::string_view split, DataOptions options);

// Comma-separated indexes into a split of `count` images ("0,1,2"); UsageError naming the item.
std::vector<std::int64_t> parse_index_list(const std::string& text, std::int64_t count);

// Before predict writes pictures named after each image (`stems`: stem, then the image's name in
// messages): UsageError when two images share a stem ("A and B would both be written as
// STEM.*.png: ..."), then `output` created (convnet::Error when it cannot be).
void prepare_picture_folder(const std::filesystem::path& output, const std::vector<std::pair<std::string, std::string>>& stems);

// How a photo becomes the network's input: the weights file's preprocessing, with --resize over
// its policy and --invert (UsageError for an unknown policy).
Preprocessing photo_preprocessing(const Arguments& arguments, const WeightsMetadata& stored);

// An Evaluation::figures name as a person reads it: "accuracy", "pixel accuracy", "mIoU".
const char* figure_label(const std::string& name);
// The progress line's shorter form: "acc", "pixel acc", "class acc", else figure_label.
const char* short_figure_label(const std::string& name);
// The figures of an evaluation for a progress line: "acc 0.9123" or "pixel acc 0.9876  mIoU 0.9012".
std::string figures_text(const Evaluation& evaluation);

// `convnet predict` for a segmentation model (predict_segment.cpp): class maps, overlays and shares.
int predict_segmentation(const Arguments& arguments, const Network& network, const WeightsMetadata& stored, Preprocessing preprocessing);
// `convnet predict` for a detection model (predict_detect.cpp): boxes in the images' pixels, as text
// or JSON, and the images with the boxes drawn.
int predict_detection(const Arguments& arguments, const Network& network, const WeightsMetadata& stored,
                      const Preprocessing& preprocessing);

// `program`: argv[0], as the command was started (for the command that resumes an interrupted run).
int run_train(const std::vector<std::string>& words, const std::string& program);
int run_eval(const std::vector<std::string>& words);
int run_predict(const std::vector<std::string>& words);
int run_summary(const std::vector<std::string>& words);
int run_export(const std::vector<std::string>& words);
int run_visualize(const std::vector<std::string>& words);
int run_filter(const std::vector<std::string>& words);
int run_plot(const std::vector<std::string>& words);
int run_explain(const std::vector<std::string>& words);

}  // namespace convnet::cli
