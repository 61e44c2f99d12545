// Option parsing for the subcommands.
#include "cli.h"

#include <convnet/core/error.h>
#include <convnet/core/threads.h>
#include <convnet/io/weights.h>
#include <convnet/nn/costs.h>
#include <convnet/nn/executor.h>

#include <omp.h>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace convnet::cli {

namespace {

// " (did you mean --epochs?)" for the known option nearest `name`, when one is near enough.
std::string suggestion(const std::string& name, const std::vector<std::string>& with_value, const std::vector<std::string>& flags) {
    std::vector<std::string> names = with_value;
    names.insert(names.end(), flags.begin(), flags.end());
    const std::string best = convnet::nearest_name(name, names);
    return best.empty() ? "" : " (did you mean --" + best + "?)";
}

// A number as a person writes it: 1e-12, 0.999999, 100 (not 0.000000 or 100.000000).
std::string readable(double value) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    return text;
}

bool is_number(const std::string& word) {
    double value = 0.0;
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
    return error == std::errc() && end == word.data() + word.size();
}

}  // namespace

namespace {
const std::string kOutput = "--output";
}  // namespace

Arguments::Arguments(const std::vector<std::string>& words, const std::vector<std::string>& with_value,
                     const std::vector<std::string>& flags, Positional positional) {
    auto listed = [](const std::vector<std::string>& names, const std::string& name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    for (std::size_t i = 0; i < words.size(); ++i) {
        // -o is the one short option, as compilers spell it: --output wherever a command has one.
        const bool short_output = listed(with_value, "output") && (words[i] == "-o" || words[i].starts_with("-o="));
        const std::string word = short_output ? kOutput + words[i].substr(2) : words[i];
        if (word.size() > 1 && word[0] == '-' && word[1] != '-' && !is_number(word)) {
            const std::string name = word.substr(1, word.find('=') - 1);
            const bool known = listed(with_value, name) || listed(flags, name);
            throw UsageError("option " + word + ": options take two dashes" +
                             (known ? " (did you mean --" + name + "?)" : suggestion(name, with_value, flags)));
        }
        if (!word.starts_with("--") || word.size() == 2) {
            if (positional == Positional::none)
                throw UsageError("unexpected argument '" + word + "': this command takes only --options (see --help)");
            positional_.push_back(word);
            continue;
        }
        std::string name = word.substr(2), value;
        const std::size_t equals = name.find('=');
        if (equals != std::string::npos) {
            value = name.substr(equals + 1);
            name.erase(equals);
        }
        if (!listed(with_value, name) && !listed(flags, name))
            throw UsageError("unknown option --" + name + suggestion(name, with_value, flags) + " (see --help)");
        if (listed(flags, name) && equals != std::string::npos) throw UsageError("option --" + name + " takes no value");
        if (listed(with_value, name) && equals == std::string::npos) {
            // The next word is the value, unless it is another option: `--epochs --batch 10`.
            if (i + 1 >= words.size() || (words[i + 1].starts_with("--") && words[i + 1].size() > 2))
                throw UsageError("option --" + name + " needs a value");
            value = words[++i];
        }
        values_[name] = value;  // the last one given counts, as in argparse and getopt
    }
}

std::vector<std::string> Arguments::names() const {
    std::vector<std::string> names;
    for (const auto& [name, value] : values_) names.push_back(name);
    return names;
}

std::string Arguments::text(const std::string& name, const std::string& fallback) const {
    auto found = values_.find(name);
    return found == values_.end() ? fallback : found->second;
}

std::string Arguments::required(const std::string& name) const {
    auto found = values_.find(name);
    if (found == values_.end() || found->second.empty()) throw UsageError("option --" + name + " is required (see --help)");
    return found->second;
}

long long Arguments::integer(const std::string& name, long long fallback, long long minimum, long long maximum) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    long long value = 0;
    const std::string& text = found->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < minimum || value > maximum)
        throw UsageError("option --" + name + " " + text + ": expected an integer from " + std::to_string(minimum) + " to " +
                         std::to_string(maximum));
    return value;
}

double Arguments::real(const std::string& name, double fallback, double minimum, double maximum) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    double value = 0.0;
    const std::string& text = found->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < minimum || value > maximum)
        throw UsageError("option --" + name + " " + text + ": expected a number from " + readable(minimum) + " to " + readable(maximum));
    return value;
}

std::string apply_threads(const Arguments& arguments) {
    if (arguments.has("threads")) {
        const long long threads = arguments.integer("threads", 1, 1, 256);
        set_thread_count(static_cast<int>(threads));
        if (const int cores = omp_get_num_procs(); threads > cores)
            std::cerr << "warning: --threads " << threads << " is more than the " << cores << " cores this process may use; every layer "
                      << "waits for its slowest thread, so this runs many times slower than --threads " << cores << "\n";
        return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    }
    // OMP_NUM_THREADS is the user's own choice too, as in PyTorch; OpenMP has applied it already.
    if (const char* variable = std::getenv("OMP_NUM_THREADS"); variable != nullptr && *variable != '\0')
        return std::to_string(thread_count()) + " threads (OMP_NUM_THREADS)";
    const CoreUsage usage = measure_core_usage(std::chrono::milliseconds(100));
    const int threads = free_core_count(usage);
    set_thread_count(threads);
    char busy[32];
    std::snprintf(busy, sizeof(busy), "%.1f", usage.busy_cores);
    std::string text = std::to_string(threads) + (threads == 1 ? " thread (" : " threads (") + busy + " of " +
                       std::to_string(usage.usable_cores) + " cores busy with other work; ";
    if (threads < usage.usable_cores) text += "--threads " + std::to_string(usage.usable_cores) + " to use them all, ";
    return text + "--threads " + std::to_string(threads) + " to repeat this run)";
}

TestTimeAugmentation test_time_augmentation_option(const Arguments& arguments) {
    try {
        return parse_test_time_augmentation(arguments.text("tta", "none"));
    } catch (const Error& error) {
        throw UsageError("option --tta: " + std::string(error.what()));
    }
}

void apply_backend(const Arguments& arguments, Network& network) {
    if (arguments.has("reference") && arguments.has("backend") && arguments.text("backend", "") != "reference")
        throw UsageError("--reference and --backend " + arguments.text("backend", "") + " disagree");
    const std::string name = arguments.has("reference") ? "reference" : arguments.text("backend", "");
    if (name.empty()) return;
    if (find_backend(name) == nullptr) throw UsageError("option --backend " + name + ": expected one of " + backend_names());
    network.set_backend(name);
}

std::unique_ptr<Network> load_trained_network(const Arguments& arguments, WeightsMetadata* stored) {
    const std::string weights = arguments.required("weights");
    std::unique_ptr<Network> network;
    std::vector<std::string> suspect;
    if (arguments.has("model")) {
        network = std::make_unique<Network>(read_model_file(arguments.required("model")));
        suspect = load_weights(*network, weights, stored);
    } else {
        network = load_network(weights, &suspect, stored);  // the model travels in a safetensors file's metadata
    }
    apply_backend(arguments, *network);
    for (const std::string& tensor : suspect)
        std::cerr << "warning: " << weights << ": " << tensor << "; outputs may be NaN or infinite, as PyTorch's would be (did the "
                  << "training that wrote these weights diverge?)\n";
    return network;
}

void check_inference_memory(const Network& network, std::int64_t images, const std::string& what) {
    const ModelSpec spec = parse_model(format_model(network.layer_plans(), network.sample_shape()), network.source());
    const MemoryNeed need = inference_memory_need(plan_costs(spec), images);
    const std::int64_t available = machine_memory_bytes(), fitting = largest_batch(need, available);
    require_memory(need, available, network.source() + ": " + what,
                   fitting > 0 ? "--batch " + std::to_string(fitting) + " would fill the memory by this estimate alone: give less"
                               : "one image's activations alone do not fit");
}

const char* figure_label(const std::string& name) {
    if (name == "pixel_accuracy") return "pixel accuracy";
    if (name == "miou") return "mIoU";
    if (name == "map50") return "mAP@0.5";
    if (name == "map") return "mAP@[.5:.95]";
    if (name == "class_accuracy") return "class accuracy";
    return "accuracy";
}

const char* short_figure_label(const std::string& name) {
    if (name == "accuracy") return "acc";
    if (name == "pixel_accuracy") return "pixel acc";
    if (name == "class_accuracy") return "class acc";
    return figure_label(name);
}

std::string figures_text(const Evaluation& evaluation) {
    std::string text;
    char number[32];
    for (const auto& [name, value] : evaluation.figures) {
        std::snprintf(number, sizeof(number), "%.4f", shown(value));
        text += (text.empty() ? "" : "  ") + std::string(short_figure_label(name)) + " " + number;
    }
    return text;
}

DataOptions data_options(const Arguments& arguments, const Network& network, ResizePolicy resize) {
    DataOptions options;
    const Shape& input = network.sample_shape();
    options.images.channels = static_cast<int>(input[0]);
    options.images.height = static_cast<int>(input[1]);
    options.images.width = static_cast<int>(input[2]);
    options.images.resize = resize;
    options.images.skip_bad = arguments.has("skip-bad");
    options.images.val_split = arguments.real("val-split", 0.0, 0.0, 0.99);
    options.images.split_seed = static_cast<std::uint64_t>(arguments.integer("seed", 1, 0, (1LL << 62)));
    const std::string cache = arguments.text("cache", "");
    if (cache == "none") return options;
    if (!cache.empty()) {
        // Inside the dataset folder the cache would read as a class, or a split, of the data.
        const auto inside = [](const std::filesystem::path& path, const std::filesystem::path& folder) {
            const std::string a = std::filesystem::weakly_canonical(path).string(), b = std::filesystem::weakly_canonical(folder).string();
            return a == b || a.starts_with(b + "/");
        };
        if (arguments.has("data") && inside(cache, arguments.required("data")))
            throw UsageError("option --cache " + cache + ": inside the dataset folder " + arguments.required("data") +
                             ", where it would be read as data; choose a folder outside it");
        options.images.cache_dir = cache;
    } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
        options.images.cache_dir = std::filesystem::path(xdg) / "convnet";
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        options.images.cache_dir = std::filesystem::path(home) / ".cache" / "convnet";
    }
    return options;
}

Dataset load_data(const std::string& directory, std::string_view split, DataOptions options) {
    std::vector<std::string> skipped, warnings;
    Dataset dataset;
    try {
        dataset = load_dataset(directory, split, options, &skipped, &warnings);
    } catch (const Error& error) {
        // A cache that cannot be written costs time, not the run.
        if (options.images.cache_dir.empty() || std::string(error.what()).find(options.images.cache_dir.string()) == std::string::npos)
            throw;
        std::cerr << "warning: " << error.what() << "; reading without a cache\n";
        options.images.cache_dir.clear();
        skipped.clear();
        dataset = load_dataset(directory, split, options, &skipped, &warnings);
    }
    // A few by name, then how many: a set of many background images without label files says so once.
    constexpr std::size_t kWarningsShown = 5;
    for (std::size_t i = 0; i < std::min(warnings.size(), kWarningsShown); ++i) std::cerr << "warning: " << warnings[i] << "\n";
    if (warnings.size() > kWarningsShown)
        std::cerr << "warning: ... and " << warnings.size() - kWarningsShown << " more of the " << split << " split (" << warnings.size()
                  << " in all)\n";
    for (const std::string& line : skipped) std::cerr << "skipped " << line << "\n";
    if (!skipped.empty())
        std::cerr << "--skip-bad: " << skipped.size() << (skipped.size() == 1 ? " file" : " files") << " of the " << split
                  << " split left out\n";
    return dataset;
}

std::vector<std::int64_t> parse_index_list(const std::string& text, std::int64_t count) {
    std::vector<std::int64_t> indexes;
    std::stringstream stream(text);
    for (std::string item; std::getline(stream, item, ',');) {
        std::size_t used = 0;
        long long value = -1;
        try {
            value = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || value < 0 || value >= count)
            throw UsageError("option --index: '" + item + "' is not an index from 0 to " + std::to_string(count - 1));
        indexes.push_back(value);
    }
    if (indexes.empty()) throw UsageError("option --index: expected one or more indexes, e.g. 0,1,2");
    return indexes;
}

void prepare_picture_folder(const std::filesystem::path& output, const std::vector<std::pair<std::string, std::string>>& stems) {
    // Each image's pictures are named by its file's stem: two of one name would overwrite each other.
    std::map<std::string, std::string> seen;
    for (const auto& [stem, label] : stems)
        if (const auto [at, added] = seen.emplace(stem, label); !added)
            throw UsageError(at->second + " and " + label + " would both be written as " + stem +
                             ".*.png: predict them into different -o folders");
    std::error_code error;
    std::filesystem::create_directories(output, error);
    if (error) throw Error(output.string() + ": cannot create the output folder (" + error.message() + ")");
}

Preprocessing photo_preprocessing(const Arguments& arguments, const WeightsMetadata& stored) {
    Preprocessing preprocessing = stored.preprocessing;
    if (arguments.has("resize")) {
        const std::string policy = arguments.required("resize");
        if (const std::optional<ResizePolicy> parsed = resize_policy_from_name(policy)) preprocessing.resize = *parsed;
        else throw UsageError("option --resize " + policy + ": expected stretch or center-crop");
    }
    preprocessing.invert = arguments.has("invert");
    return preprocessing;
}

}  // namespace convnet::cli
