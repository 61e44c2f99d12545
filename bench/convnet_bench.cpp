// `convnet_bench`: measures convnet's training and inference speed on a dataset folder (IDX files,
// a segmentation folder such as data/m2nist, or a detection folder such as data/digit-boxes), one JSON line per run, for bench/run_bench.py to
// compare with bench/torch_bench.py (which prints the same fields). It measures in-process time
// only; peak RSS is taken by the driver around this process.
#include <convnet/data/data.h>
#include <convnet/data/dataset.h>
#include <convnet/core/error.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/core/threads.h>
#include <convnet/train/trainer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <omp.h>

namespace {

using Clock = std::chrono::steady_clock;
using convnet::Dataset;
using convnet::Network;

constexpr const char* kUsage = R"(usage: convnet_bench COMMAND [options]

commands (each prints one JSON line on stdout):
  train             training images/s over --epochs full passes, after --warmup-steps steps
  eval              evaluation images/s over the test split at --batch (median of --repeat passes,
                    after one untimed pass)
  latency           batch-1 predict: median and p99 over --count single test images
  time-to-accuracy  train epoch by epoch until the test accuracy reaches --target

options:
  --data DIR          dataset folder (default data/fashion-mnist): IDX files, or any folder convnet
                      train reads, e.g. the segmentation folder data/m2nist with
                      models/unet-m2nist.model or the detection folder data/digit-boxes with
                      models/detect-digits.model (converted to the model's input)
  --cache DIR         image and segmentation folders: where the converted split is kept between
                      runs (default: none, read every time)
  --model FILE        model file (default models/convnet1.model)
  --threads T         threads (default: the cores not busy with other work, as `convnet train`)
  --batch B           train: images per step (default 100); eval: images per predict (default 100)
  --epochs E          train: timed epochs (default 1)
  --images N          use only the first N images of the split being timed (default: all)
  --warmup-steps W    train: untimed steps before timing (default 10)
  --augment LIST      train: augmentation as convnet train's --augment (default none)
  --repeat R          eval: timed passes, the median is reported (default 3)
  --count C           latency: timed single-image predictions (default 1000)
  --warmup W          latency: untimed predictions first (default 100)
  --target A          time-to-accuracy: test accuracy to reach (default 0.90)
  --max-epochs E      time-to-accuracy: give up after E epochs (default 10)
  --lr X              Adam learning rate (default 0.001)
  --seed S            initialisation and shuffling seed (default 1)
  --reference         run the plain reference layers instead of the oneDNN fast path
)";

// "--name value" pairs and "--flag"s; everything else is an error.
class Options {
public:
    Options(int argc, char** argv, int first, const std::vector<std::string>& flags) {
        for (int i = first; i < argc; ++i) {
            const std::string word = argv[i];
            if (word.rfind("--", 0) != 0) throw convnet::Error("unexpected argument '" + word + "' (options start with --)");
            const std::string name = word.substr(2);
            if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
                flags_.insert(name);
                continue;
            }
            if (i + 1 >= argc) throw convnet::Error("option " + word + " needs a value");
            values_[name] = argv[++i];
        }
    }
    bool has(const std::string& name) const { return values_.count(name) != 0 || flags_.count(name) != 0; }
    std::string text(const std::string& name, const std::string& fallback) const {
        const auto found = values_.find(name);
        return found != values_.end() ? found->second : fallback;
    }
    long long integer(const std::string& name, long long fallback) const {
        const std::string value = text(name, std::to_string(fallback));
        try {
            std::size_t end = 0;
            const long long result = std::stoll(value, &end);
            if (end == value.size()) return result;
        } catch (const std::exception&) {
        }
        throw convnet::Error("option --" + name + ": expected an integer, got '" + value + "'");
    }
    double real(const std::string& name, double fallback) const {
        const std::string value = text(name, std::to_string(fallback));
        try {
            std::size_t end = 0;
            const double result = std::stod(value, &end);
            if (end == value.size()) return result;
        } catch (const std::exception&) {
        }
        throw convnet::Error("option --" + name + ": expected a number, got '" + value + "'");
    }
    // Throws on an option the command does not take (a typo would otherwise be silently ignored).
    void check_known(const std::string& command, const std::vector<std::string>& known) const {
        for (const std::string& name : names())
            if (std::find(known.begin(), known.end(), name) == known.end())
                throw convnet::Error("unknown option --" + name + " for " + command + " (see convnet_bench --help)");
    }

private:
    std::vector<std::string> names() const {
        std::vector<std::string> all(flags_.begin(), flags_.end());
        for (const auto& entry : values_) all.push_back(entry.first);
        return all;
    }

    std::map<std::string, std::string> values_;
    std::set<std::string> flags_;
};

// The first `count` images of `dataset` as a new dataset: copies those images only.
Dataset first_images(const Dataset& dataset, long long count) {
    count = std::clamp<long long>(count, 0, dataset.count);
    const auto pixels = static_cast<long long>(dataset.image_size());
    Dataset subset;
    subset.channels = dataset.channels;
    subset.height = dataset.height;
    subset.width = dataset.width;
    subset.class_names = dataset.class_names;
    subset.count = count;
    subset.images.assign(dataset.images.begin(), dataset.images.begin() + count * pixels);
    subset.labels.assign(dataset.labels.begin(), dataset.labels.begin() + (dataset.labels.empty() ? 0 : count));  // none: segmentation
    subset.masks.assign(dataset.masks.begin(), dataset.masks.begin() + (dataset.has_masks() ? count * dataset.mask_size() : 0));
    if (dataset.has_boxes()) {  // detection: the first count + 1 offsets, and the boxes they cover
        subset.box_offsets.assign(dataset.box_offsets.begin(), dataset.box_offsets.begin() + count + 1);
        subset.boxes.assign(dataset.boxes.begin(), dataset.boxes.begin() + subset.box_offsets.back());
    }
    return subset;
}

// `dataset` cut to its first `count` images (all of them when count <= 0); moves, never copies
// the whole split (which would add to the peak RSS the driver measures).
Dataset keep_first(Dataset dataset, long long count) {
    if (count <= 0 || count >= dataset.count) return dataset;
    return first_images(dataset, count);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double percentile(std::vector<double> values, double fraction) {
    std::sort(values.begin(), values.end());
    const double position = fraction * double(values.size() - 1);
    const auto below = static_cast<std::size_t>(position);
    const std::size_t above = std::min(below + 1, values.size() - 1);
    return values[below] + (position - double(below)) * (values[above] - values[below]);
}

std::string json_list(const std::vector<double>& values) {
    std::ostringstream out;
    out.precision(6);
    out << '[';
    for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
    out << ']';
    return out.str();
}

// What every command shares: the network, the data folder and the thread count.
struct Setup {
    std::string data, model, cache;
    int threads = 1;
    bool reference = false;
    std::uint64_t seed = 1;
    double learning_rate = 1e-3;

    explicit Setup(const Options& options) {
        data = options.text("data", "data/fashion-mnist");
        model = options.text("model", "models/convnet1.model");
        cache = options.text("cache", "");
        threads = options.has("threads") ? static_cast<int>(options.integer("threads", 1))
                                         : convnet::free_core_count(convnet::measure_core_usage(std::chrono::milliseconds(100)));
        if (threads < 1 || threads > 256) throw convnet::Error("option --threads: expected 1 to 256, got " + std::to_string(threads));
        reference = options.has("reference");
        seed = static_cast<std::uint64_t>(options.integer("seed", 1));
        learning_rate = options.real("lr", 1e-3);
        omp_set_num_threads(threads);
    }

    // The opening fields of every JSON line.
    std::string header(const std::string& command, const Network& network) const {
        std::ostringstream out;
        out << "{\"system\": \"convnet\", \"command\": \"" << command << "\", \"compute\": \""
            << (network.fast_path() ? "onednn" : "reference") << "\", \"threads\": " << threads;
        return out.str();
    }

    std::unique_ptr<Network> network() const {
        auto built = std::make_unique<Network>(convnet::read_model_file(model));
        if (reference) built->set_backend("reference");
        if (!reference && !built->fast_path())
            std::fprintf(stderr, "convnet_bench: no fast path for %s (%s): timing the reference layers\n", model.c_str(),
                         built->fast_path_unavailable().c_str());
        built->initialize(seed);
        return built;
    }

    // A split of --data as `convnet train` reads it (load_dataset): IDX files as they are, an image
    // or segmentation folder converted to `network`'s input (cached in --cache when given).
    Dataset load(convnet::Split split, const Network& network) const {
        convnet::DataOptions options;
        if (const convnet::Shape& input = network.sample_shape(); input.rank() == 3) {  // (C, H, W)
            options.images.channels = static_cast<int>(input[0]);
            options.images.height = static_cast<int>(input[1]);
            options.images.width = static_cast<int>(input[2]);
        }
        options.images.cache_dir = cache;
        return convnet::load_dataset(data, split == convnet::Split::train ? "train" : "test", options);
    }
};

std::unique_ptr<convnet::Optimizer> adam(double learning_rate) {
    convnet::AdamOptions options;
    options.learning_rate = learning_rate;
    return std::make_unique<convnet::Adam>(options);
}

int run_train(const Options& options) {
    const Setup setup(options);
    const long long batch = options.integer("batch", 100);
    const long long epochs = options.integer("epochs", 1);
    if (epochs < 1 || batch < 2) throw convnet::Error("train: expected --epochs >= 1 and --batch >= 2");
    const long long warmup_steps = options.integer("warmup-steps", 10);
    auto network = setup.network();
    const Dataset train = keep_first(setup.load(convnet::Split::train, *network), options.integer("images", 0));
    convnet::check_compatible(*network, train, "training");
    auto optimizer = adam(setup.learning_rate);

    // Warm-up on the first images: builds the plans, faults in the memory, wakes the threads.
    const auto warmup_start = Clock::now();
    if (warmup_steps > 0) {
        convnet::Trainer warmup(*network, *optimizer, batch, setup.seed + 1);
        warmup.train_epoch(first_images(train, std::min<long long>(warmup_steps * batch, train.count)), {});
    }
    const double warmup_seconds = seconds_since(warmup_start);

    convnet::Trainer trainer(*network, *optimizer, batch, setup.seed);
    const convnet::Augmentation augmentation = convnet::parse_augmentation(options.text("augment", "none"));
    trainer.set_batch_transform({}, augmentation);
    std::vector<double> epoch_rates;
    double seconds = 0.0, loss = 0.0;
    std::int64_t images = 0;
    for (long long epoch = 0; epoch < epochs; ++epoch) {
        const convnet::EpochResult result = trainer.train_epoch(train, {});
        epoch_rates.push_back(result.images_per_second);
        seconds += result.seconds;
        images += static_cast<std::int64_t>(result.images_per_second * result.seconds + 0.5);
        loss = result.train_loss;
    }
    // What the trainer's every-step check for NaN and infinity costs (the gradients before the
    // step, every weight and buffer after it): timed apart, as a share of a step it is below
    // what two training runs could tell apart.
    const int check_repeats = 2000;
    bool finite = true;
    const auto check_start = Clock::now();
    for (int i = 0; i < check_repeats; ++i)
        finite = convnet::all_finite(network->gradients()) && convnet::all_finite(network->all_values()) && finite;
    const double check_us = seconds_since(check_start) / check_repeats * 1e6;
    const double steps = std::ceil(double(images) / double(batch));
    std::printf(
        "%s, \"batch\": %lld, \"images\": %lld, \"epochs\": %lld, \"warmup_steps\": %lld, \"warmup_seconds\": %.4f, "
        "\"seconds\": %.4f, \"images_per_second\": %.1f, \"epoch_images_per_second\": %s, \"train_loss\": %.5f, \"augment\": \"%s\", "
        "\"finite_check_us_per_step\": %.3f, \"step_us\": %.1f, \"weights_finite\": %s}\n",
        setup.header("train", *network).c_str(), batch, static_cast<long long>(images), epochs, warmup_steps, warmup_seconds, seconds,
        double(images) / seconds, json_list(epoch_rates).c_str(), loss, augmentation.describe().c_str(), check_us, seconds / steps * 1e6,
        finite ? "true" : "false");
    return 0;
}

int run_eval(const Options& options) {
    const Setup setup(options);
    const long long batch = options.integer("batch", 100);
    const long long repeat = std::max(1LL, options.integer("repeat", 3));
    auto network = setup.network();
    const Dataset test = keep_first(setup.load(convnet::Split::test, *network), options.integer("images", 0));
    convnet::evaluate(*network, test, batch);  // warm-up: one untimed pass
    std::vector<double> rates;
    double accuracy = 0.0;
    for (long long pass = 0; pass < repeat; ++pass) {
        const auto start = Clock::now();
        accuracy = convnet::evaluate(*network, test, batch).accuracy;
        rates.push_back(double(test.count) / seconds_since(start));
    }
    std::printf(
        "%s, \"batch\": %lld, \"images\": %lld, \"repeat\": %lld, \"images_per_second\": %.1f, \"pass_images_per_second\": %s, "
        "\"accuracy\": %.4f}\n",
        setup.header("eval", *network).c_str(), batch, static_cast<long long>(test.count), repeat, percentile(rates, 0.5),
        json_list(rates).c_str(), accuracy);
    return 0;
}

int run_latency(const Options& options) {
    const Setup setup(options);
    const long long count = std::max(1LL, options.integer("count", 1000));
    const long long warmup = options.integer("warmup", 100);
    auto network = setup.network();
    const Dataset test = setup.load(convnet::Split::test, *network);
    convnet::Tensor image, logits;
    std::vector<std::uint8_t> label;
    // Each timing covers what a caller does for one image: convert its bytes and predict.
    auto predict_one = [&](std::int64_t index) {
        const std::int64_t indices[1] = {index % test.count};
        convnet::load_batch(test, indices, image, label);
        network->predict(image, logits);
    };
    for (long long i = 0; i < warmup; ++i) predict_one(i);
    std::vector<double> microseconds;
    microseconds.reserve(static_cast<std::size_t>(count));
    for (long long i = 0; i < count; ++i) {
        const auto start = Clock::now();
        predict_one(i);
        microseconds.push_back(seconds_since(start) * 1e6);
    }
    const double mean = std::accumulate(microseconds.begin(), microseconds.end(), 0.0) / double(count);
    std::printf("%s, \"count\": %lld, \"warmup\": %lld, \"median_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f, \"min_us\": %.2f}\n",
                setup.header("latency", *network).c_str(), count, warmup, percentile(microseconds, 0.5), percentile(microseconds, 0.99),
                mean, percentile(microseconds, 0.0));
    return 0;
}

int run_time_to_accuracy(const Options& options) {
    const Setup setup(options);
    const long long batch = options.integer("batch", 100);
    const double target = options.real("target", 0.90);
    const long long max_epochs = options.integer("max-epochs", 10);
    auto network = setup.network();
    const Dataset train = keep_first(setup.load(convnet::Split::train, *network), options.integer("images", 0));
    const Dataset test = setup.load(convnet::Split::test, *network);
    auto optimizer = adam(setup.learning_rate);
    convnet::Trainer trainer(*network, *optimizer, batch, setup.seed);
    // No warm-up: the first epoch's set-up is part of the time a user waits.
    double train_seconds = 0.0, total_seconds = 0.0;
    std::vector<double> accuracies, train_times, total_times;
    long long reached = 0;
    for (long long epoch = 1; epoch <= max_epochs && reached == 0; ++epoch) {
        const convnet::EpochResult result = trainer.train_epoch(train, {});
        train_seconds += result.seconds;
        const auto eval_start = Clock::now();
        const double accuracy = convnet::evaluate(*network, test, 1000).accuracy;
        total_seconds += result.seconds + seconds_since(eval_start);
        accuracies.push_back(accuracy);
        train_times.push_back(train_seconds);
        total_times.push_back(total_seconds);
        if (accuracy >= target) reached = epoch;
    }
    std::printf(
        "%s, \"batch\": %lld, \"target\": %.4f, \"reached\": %s, \"epochs\": %lld, \"train_seconds\": %.3f, "
        "\"seconds\": %.3f, \"test_accuracy\": %s, \"train_seconds_curve\": %s, \"seconds_curve\": %s}\n",
        setup.header("time-to-accuracy", *network).c_str(), batch, target, reached ? "true" : "false", reached ? reached : max_epochs,
        train_seconds, total_seconds, json_list(accuracies).c_str(), json_list(train_times).c_str(), json_list(total_times).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string command = argc > 1 ? argv[1] : "--help";
        if (command == "--help" || command == "-h" || command == "help") {
            std::cout << kUsage;
            return argc > 1 ? 0 : 2;
        }
        const Options options(argc, argv, 2, {"reference"});
        const std::vector<std::string> common{"data", "model", "cache", "threads", "reference", "seed", "lr"};
        const std::map<std::string, std::pair<int (*)(const Options&), std::vector<std::string>>> commands{
            {"train", {run_train, {"batch", "epochs", "images", "warmup-steps", "augment"}}},
            {"eval", {run_eval, {"batch", "repeat", "images"}}},
            {"latency", {run_latency, {"count", "warmup"}}},
            {"time-to-accuracy", {run_time_to_accuracy, {"batch", "target", "max-epochs", "images"}}},
        };
        const auto found = commands.find(command);
        if (found == commands.end())
            throw convnet::Error("unknown command '" + command + "' (expected train, eval, latency or time-to-accuracy)");
        std::vector<std::string> known = common;
        known.insert(known.end(), found->second.second.begin(), found->second.second.end());
        options.check_known(command, known);
        return found->second.first(options);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "convnet_bench: %s\n", error.what());
        return 1;
    }
}
