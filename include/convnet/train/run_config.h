// A training run's settings: what a caller asks for (RunRequest), merged with the checkpoint of a
// resumed run into what the run uses (RunConfig, then FitOptions), the split that judges its
// epochs, and the command that resumes it after an interruption. The checks made before a run
// spends time are preflight.h's. Option names in messages are `convnet train`'s (docs/CLI.md).
#pragma once

#include <convnet/core/error.h>
#include <convnet/data/augmentation.h>
#include <convnet/data/data.h>
#include <convnet/data/dataset.h>
#include <convnet/data/image.h>
#include <convnet/nn/network.h>
#include <convnet/train/checkpoint.h>
#include <convnet/train/optim.h>
#include <convnet/train/trainer.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convnet {

// Settings that contradict each other, the checkpoint being resumed or the data's task: a mistake
// in how the run was asked for, not in its files (Lightning's MisconfigurationException). The CLI
// answers it as it answers a mistyped option, with exit code 2.
class MisconfigurationError : public Error {
public:
    using Error::Error;
};

// What a caller asks of a run. An unset field was not given: a new run takes the default named
// beside it, a resumed run its checkpoint's value (RunConfig). Values are already parsed and in
// range (the CLI's option parser checks them); the texts that need the training set are parsed by
// fit_options.
struct RunRequest {
    bool model = false;                                          // a model file given (a resumed run has its checkpoint's)
    std::optional<std::string> optimizer;                        // adam (default), adamw or sgd
    std::optional<double> learning_rate;                         // default_learning_rate(optimizer)
    std::optional<double> momentum;                              // 0.9 (sgd)
    bool nesterov = false;                                       // sgd
    std::optional<double> weight_decay;                          // the optimiser's default (OptimizerOptions)
    std::optional<LearningRateSchedule> schedule;                // constant
    std::optional<std::int64_t> batch_size;                      // 100
    std::optional<std::uint64_t> seed;                           // 1
    std::optional<int> epochs;                                   // 5; a resumed run may extend its own
    std::optional<int> eval_every;                               // 1; not kept by checkpoints
    std::optional<std::int64_t> checkpoint_every;                // 0 (epoch ends only); a resumed run keeps its own unless given
    std::optional<Augmentation> augmentation;                    // none
    std::optional<double> label_smoothing;                       // 0
    std::optional<double> ema_decay;                             // 0 (no weight average)
    std::optional<TestTimeAugmentation> test_time_augmentation;  // none
    std::optional<ResizePolicy> resize;                          // stretch
    std::optional<TaskKind> task;                                // by what the data folder holds
    std::optional<double> val_split;                             // 0 (read by the data options; here for the resume rule)
    std::optional<std::string> normalize;                        // none; parse_normalization's forms
    std::optional<std::string> class_weights;                    // none; parse_class_weights' forms
    std::optional<bool> sync_batch_norm;                         // true (distributed runs); a resumed run keeps its own unless given
    std::optional<NonFinitePolicy> non_finite_policy;            // stop; not kept by checkpoints
    // Where the results go (none unless given): --save, --metrics, --checkpoint, --plot.
    std::optional<std::filesystem::path> save, metrics, checkpoint, plot;
};

// What a run uses: the request merged with the defaults or the resumed checkpoint.
struct RunConfig {
    OptimizerOptions optimizer;  // learning_rate: the run's base rate, before the schedule
    LearningRateSchedule schedule;
    std::int64_t batch_size = 100;
    std::uint64_t seed = 1;
    int epochs = 5;
    int eval_every = 1;
    std::int64_t checkpoint_every = 0;
    Augmentation augmentation;
    double label_smoothing = 0.0;
    double ema_decay = 0.0;
    TestTimeAugmentation test_time_augmentation = TestTimeAugmentation::none;
    ResizePolicy resize = ResizePolicy::stretch;
    std::optional<TaskKind> task;  // unset: by what the data folder holds (dataset_kind)
    bool sync_batch_norm = true;
    NonFinitePolicy non_finite_policy = NonFinitePolicy::stop;
    // Outputs; `checkpoint` is the request's, else a resumed run's own file (written back to).
    std::filesystem::path save, metrics, checkpoint, plot;
};

// The options a resumed run takes from its checkpoint, in `convnet train`'s names without dashes:
// model, optimizer, lr, momentum, nesterov, weight-decay, schedule, seed, batch, augment,
// normalize, val-split, resize, label-smoothing, tta, ema, class-weights, task.
const std::vector<std::string>& checkpoint_kept_options();

// The resume rule by name: throws MisconfigurationError "option --NAME: a resumed run keeps the
// settings its checkpoint was written with (with --resume only --data, --epochs, --checkpoint,
// ...)" for the first of checkpoint_kept_options() (in its order) that `given` holds. `given`:
// the option names a caller was given, without dashes, in any order.
void check_resume_options(const std::vector<std::string>& given);

// The learning rate a new run starts from when none is given: 0.01 for sgd, 0.001 otherwise
// (adam, adamw), as the CLI documents.
double default_learning_rate(const std::string& optimizer);

// Merges `request` with the defaults (a new run, `resumed` null) or with the checkpoint of a
// resumed run: its optimiser, schedule, batch, seed, augmentation, label smoothing, weight
// average, test-time augmentation, resize policy and task, its planned epochs, checkpoint_every
// and batch norm synchronisation unless the request gives them (epochs, checkpoint_every and
// sync_batch_norm may be given), and `resumed_from` as the checkpoint to write unless the request
// names one. Throws MisconfigurationError as check_resume_options does when the request sets
// any field that the checkpoint keeps.
RunConfig resolve_run_config(const RunRequest& request, const Checkpoint* resumed = nullptr,
                             const std::filesystem::path& resumed_from = {});

// make_optimizer(config.optimizer), its convnet::Error restated: for a resumed run
// (`resumed_from` not empty) as convnet::Error "RESUMED_FROM: checkpoint field optimizer: ...",
// the checkpoint's fault; for a new run as MisconfigurationError "option --optimizer NAME: ...".
std::unique_ptr<Optimizer> make_run_optimizer(const RunConfig& config, const std::filesystem::path& resumed_from = {});

// The checkpoint's thread count where a resumed run should take it: when no thread count is given
// (`threads_given` false) and OMP_NUM_THREADS is not set in the environment; the same count
// repeats the unbroken run's bits. nullopt otherwise.
std::optional<int> checkpoint_thread_count(const Checkpoint& resumed, bool threads_given);

// `--normalize TEXT`: "none" (no mean and std), "auto" (channel_statistics over `train`), or
// "MEAN/STD" with one value or one per channel of `train` on each side ("0.2860/0.3530",
// "0.49,0.48,0.45/0.25,0.24,0.26"). Throws MisconfigurationError "option --normalize TEXT: ..."
// naming a value that is no finite number, a count that is neither 1 nor the channels, or a std
// that is not positive; convnet::Error as channel_statistics does for "auto".
Preprocessing parse_normalization(const std::string& text, const Dataset& train);

// `--class-weights TEXT` for a model scoring `classes` classes: "none" (empty: every class 1),
// "auto" (balanced_class_weights over `train`), or one weight of 0 or more a class "w0,w1,...".
// Throws MisconfigurationError "option --class-weights TEXT: ..." naming an item that is not such
// a number, or a count other than `classes`.
std::vector<float> parse_class_weights(const std::string& text, const Dataset& train, std::int64_t classes);

// The options of Trainer::fit for the run `config` on `train` (read from the folder `data`) with
// `network`. A resumed run keeps its checkpoint's weights metadata (model, task, class names,
// preprocessing) and class weights; a new run takes the training set's task and class names,
// `config.resize`, and `request`'s normalize and class_weights texts (parse_normalization,
// parse_class_weights). Throws MisconfigurationError when a resumed run's task is not the data's
// ("DATA is segment data, but the checkpoint's run trained to classify: ..."), for test-time flip
// with a task whose outputs do not average (detection), and for label smoothing or class weights
// given to a detection run (its loss takes neither).
FitOptions fit_options(const RunRequest& request, const RunConfig& config, const Checkpoint* resumed, const Dataset& train,
                       const Network& network, const std::string& data);

// Which split judges a run's epochs.
struct ValidationSplit {
    bool held_out = false;        // true: "val" judges the epochs and the test split is evaluated once at the end
    const char* judged = "test";  // "val" or "test": the split the epochs are judged on
};

// The validation split of a run on `data`, a dataset folder of `kind`: "val" when `val_split` > 0
// (that fraction of train/ held out) or when an image, segmentation or detection folder has a
// val/ folder; else the test split. Throws MisconfigurationError "option --val-split TEXT:
// DATA/val exists and is the validation split; give one or the other" when `val_split_given`
// (the option's value as typed; nullopt when not given) and such a val/ folder meet.
ValidationSplit choose_validation_split(const std::string& data, DatasetKind kind, double val_split,
                                        const std::optional<std::string>& val_split_given);

// Where an interrupted run without a checkpoint file writes one: beside `save` (its extension
// replaced by ".checkpoint.safetensors") when the run saves weights (`save` not empty), else
// "convnet-interrupted.checkpoint.safetensors" in the working folder.
std::filesystem::path interrupt_checkpoint_path(const std::filesystem::path& save);

// `text` as one word for a POSIX shell: unchanged when it holds only letters, digits and
// _ - . / : , + = @ %; otherwise in single quotes, each ' written as '\''.
std::string shell_quoted(const std::string& text);

// The command that continues an interrupted run: "[mpirun -np RANKS ]PROGRAM train --resume
// CHECKPOINT --data DATA", then those of `given` (option name without dashes → value as typed,
// "" for a flag) that a checkpoint does not keep but that decide what the run reads, writes or
// computes, in this order: --save, --metrics, --plot, --eval-every, --threads, --backend, --cache,
// --on-nan, the flags --reference and --skip-bad; then --distributed when `ranks` > 0 (0: not a
// distributed run). Every value is shell_quoted; `program` is how the command was started
// (argv[0]: `./build/convnet` says so, as `convnet` alone is not on a build tree's PATH).
std::string resume_command(const std::string& program, const std::filesystem::path& checkpoint, const std::string& data,
                           const std::map<std::string, std::string>& given, int ranks);

}  // namespace convnet
