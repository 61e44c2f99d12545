// `convnet train`: trains a model file on a dataset folder, reporting progress and per-epoch
// metrics, and saves the weights after every epoch.
#include "cli.h"

#include <convnet/data.h>
#include <convnet/io.h>
#include <convnet/model.h>
#include <convnet/optim.h>
#include <convnet/train.h>

#include <unistd.h>
#include <cstdio>
#include <iostream>

namespace convnet::cli {

namespace {

constexpr const char* kTrainHelp = R"(usage: convnet train --model FILE --data DIR [options]

Trains the network described by FILE on DIR's train split and reports the test split after
every epoch.

options:
  --model FILE       model file (e.g. models/convnet1.model)
  --data DIR         dataset folder with IDX files (e.g. data/fashion-mnist; `make data` fetches it)
  --epochs N         passes over the training set (default 5)
  --batch B          images per step (default 100)
  --optimizer NAME   adam, adamw or sgd (default adam)
  --lr X             learning rate (default 0.001 for adam and adamw, 0.01 for sgd)
  --momentum M       SGD momentum (default 0.9)
  --nesterov         SGD with Nesterov momentum
  --weight-decay W   L2 for adam and sgd, decoupled for adamw (default 0; 0.01 for adamw)
  --schedule S       learning rate per epoch: constant (default), step:SIZE[:GAMMA] (StepLR),
                     cosine:T_MAX[:ETA_MIN] (CosineAnnealingLR)
  --seed S           seed for initialisation and shuffling (default 1)
  --threads T        threads to use (default: the cores not busy with other work, printed in the
                     header); the same seed and --threads give the same weights
  --save WEIGHTS     write the weights here after every epoch (atomically)
  --metrics FILE     append one JSON object per epoch to FILE
  --backend NAME     onednn (the default where every layer has a primitive) or reference
  --reference        the same as --backend reference: each layer's plain reference code
)";

// One line on stderr, redrawn in place when stderr is a terminal and left out otherwise.
class ProgressBar {
public:
    ProgressBar() : enabled_(::isatty(STDERR_FILENO) != 0) {}
    void show(const TrainProgress& progress, int epochs) {
        if (!enabled_ || (progress.seconds - last_seconds_ < 0.1 && progress.images_done < progress.images_total)) return;
        last_seconds_ = progress.seconds;
        constexpr int kWidth = 30;
        const double fraction = double(progress.images_done) / double(progress.images_total);
        const int filled = static_cast<int>(fraction * kWidth);
        const double rate = double(progress.images_done) / std::max(progress.seconds, 1e-9);
        const double remaining = double(progress.images_total - progress.images_done) / std::max(rate, 1e-9);
        std::fprintf(stderr, "\r  epoch %d/%d [%s%s] %6lld/%lld  %6.0f img/s  loss %.4f  ETA %3.0fs ", progress.epoch, epochs,
                     std::string(static_cast<std::size_t>(filled), '=').c_str(),
                     std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), static_cast<long long>(progress.images_done),
                     static_cast<long long>(progress.images_total), rate, shown(progress.running_loss), remaining);
        std::fflush(stderr);
    }
    void finish() {
        if (enabled_) std::fprintf(stderr, "\r%100s\r", "");
        last_seconds_ = -1.0;
    }

private:
    bool enabled_;
    double last_seconds_ = -1.0;
};

}  // namespace

int run_train(const std::vector<std::string>& words) {
    const Arguments arguments(words,
                              {"model", "data", "epochs", "batch", "optimizer", "lr", "momentum", "weight-decay", "schedule", "seed",
                               "threads", "save", "metrics", "backend"},
                              {"help", "reference", "nesterov"});
    if (arguments.has("help")) {
        std::cout << kTrainHelp;
        return 0;
    }
    const std::string threads = apply_threads(arguments);
    const std::string optimizer_name = arguments.text("optimizer", "adam");
    const int epochs = static_cast<int>(arguments.integer("epochs", 5, 1, 100000));
    const long long batch = arguments.integer("batch", 100, 1, 65536);
    const double learning_rate = arguments.real("lr", optimizer_name == "sgd" ? 0.01 : 0.001, 1e-12, 100.0);
    OptimizerOptions optimizer_options;
    optimizer_options.name = optimizer_name;
    optimizer_options.learning_rate = learning_rate;
    optimizer_options.momentum = arguments.real("momentum", 0.9, 0.0, 0.999999);
    optimizer_options.nesterov = arguments.has("nesterov");
    if (arguments.has("weight-decay")) optimizer_options.weight_decay = arguments.real("weight-decay", 0.0, 0.0, 1.0);
    const auto seed = static_cast<std::uint64_t>(arguments.integer("seed", 1, 0, (1LL << 62)));
    // Option values the library checks are still mistakes in the command: exit code 2.
    LearningRateSchedule schedule;
    std::unique_ptr<Optimizer> optimizer;
    try {
        schedule = parse_schedule(arguments.text("schedule", "constant"));
    } catch (const Error& error) {
        throw UsageError("option --schedule: " + std::string(error.what()));
    }
    try {
        optimizer = make_optimizer(optimizer_options);
    } catch (const Error& error) {
        throw UsageError("option --optimizer " + optimizer_name + ": " + error.what());
    }
    // Where the results go is checked before any time is spent training.
    if (arguments.has("save")) check_output_file("save", arguments.required("save"));
    if (arguments.has("metrics")) check_output_file("metrics", arguments.required("metrics"));

    Network network(read_model_file(arguments.required("model")));
    apply_backend(arguments, network);
    if (batch < network.minimum_training_batch())
        throw UsageError("option --batch " + std::to_string(batch) + ": " + network.source() +
                         " has a batch norm over one value per channel per image, which needs at least " +
                         std::to_string(network.minimum_training_batch()) + " images a batch (as torch.nn.BatchNorm1d)");
    const std::string data = arguments.required("data");
    const Dataset train = load_split(data, Split::train);
    const Dataset test = load_split(data, Split::test);
    check_compatible(network, train, "training");
    network.initialize(seed);
    Trainer trainer(network, *optimizer, batch, seed);

    std::cout << "model " << network.source() << ": " << network.trainable_count() << " parameters; data " << data << ": " << train.count
              << " train, " << test.count << " test images; " << optimizer->describe() << ", schedule " << schedule.describe() << ", batch "
              << batch << ", " << epochs << (epochs == 1 ? " epoch, " : " epochs, ") << threads << std::endl;
    if (network.layer(network.layer_count() - 1).type() == "softmax")
        std::cerr << "warning: " << network.source() << " ends in softmax, and the training loss applies its own softmax to the "
                  << "outputs; train without the last line and add it for prediction only\n";
    std::cout << "compute: "
              << (network.fast_path() ? "oneDNN primitives, blocked layout"
                                      : "reference layers" + (network.fast_path_unavailable().empty()
                                                                  ? std::string(" (--backend reference)")
                                                                  : " (no fast path: " + network.fast_path_unavailable() + ")"))
              << std::endl;
    FitOptions fit;
    fit.epochs = epochs;
    fit.learning_rate = learning_rate;
    fit.schedule = schedule;
    if (arguments.has("save")) fit.save = arguments.required("save");
    if (arguments.has("metrics")) fit.metrics = arguments.required("metrics");
    ProgressBar bar;
    FitCallbacks callbacks;
    callbacks.batch_done = [&](const TrainProgress& progress) { bar.show(progress, epochs); };
    callbacks.epoch_done = [&](const EpochResult& trained, const Evaluation& tested) {
        bar.finish();
        std::printf("epoch %d/%d  train loss %.4f  acc %.4f | test loss %.4f  acc %.4f | %.1f s, %.0f img/s\n", trained.epoch, epochs,
                    shown(trained.train_loss), trained.train_accuracy, shown(tested.loss), tested.accuracy, trained.seconds,
                    trained.images_per_second);
        std::fflush(stdout);
    };
    const Evaluation result = trainer.fit(train, test, fit, callbacks);
    std::printf("final test accuracy: %.4f\n", result.accuracy);
    return 0;
}

}  // namespace convnet::cli
