// The checks a training run makes before it spends time: where its results go, whether its
// parameters and activations fit the memory, whether its batch suits the model and the ranks,
// whether its masks can teach anything, and whether every rank of a distributed run runs the same.
// Each throws convnet::Error (MisconfigurationError, run_config.h, for a mistake in the settings)
// with the figures and a hint; warnings come back as text for the caller to show.
#pragma once

#include <convnet/core/distributed.h>
#include <convnet/data/data.h>
#include <convnet/nn/network.h>
#include <convnet/nn/costs.h>
#include <convnet/train/optim.h>
#include <convnet/train/run_config.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace convnet {

// Whether Open MPI started this process (its OMPI_COMM_WORLD_SIZE environment variable is set).
bool started_by_mpirun();

// Throws MisconfigurationError "started by mpirun as one of N processes without --distributed:
// each would train alone and write the same files; add --distributed" when a run that is not
// `distributed` is one of N > 1 processes Open MPI started (OMPI_COMM_WORLD_SIZE is N).
void check_mpirun_launch(bool distributed);

// Throws convnet::Error "option --OPTION PATH: ..." unless a file can be written at `path`: its
// folder exists and is writable, and `path` is neither a folder nor another non-regular file.
void check_output_file(const std::string& option, const std::filesystem::path& path);

// check_output_file, after MisconfigurationError "option --OPTION PATH: the picture is written as
// SVG; give a name ending in .svg" unless `path` ends in .svg (any case).
void check_svg_output(const std::string& option, const std::filesystem::path& path);

// Throws MisconfigurationError "options --A and --B name the same file PATH; each needs a file of
// its own" when two of `outputs` (option name, path as given) are one file, compared after
// resolving the folders and links: one would overwrite the other at every epoch.
void check_distinct_outputs(const std::vector<std::pair<std::string, std::filesystem::path>>& outputs);

// The request's outputs, before any time is spent training: --save, --metrics and --checkpoint
// by check_output_file, --plot by check_svg_output, all of them by check_distinct_outputs; then
// MisconfigurationError "option --checkpoint-every: give --checkpoint FILE too, the file to write"
// for a new run (`resumed` false) asking for checkpoints every N steps without a file.
void check_run_outputs(const RunRequest& request, bool resumed);

// The memory a run may use on this machine.
struct MachineShare {
    std::int64_t memory_bytes = 0;  // the machine's or its control group's (machine_memory_bytes); 0: unknown, no check
    std::int64_t ranks_here = 1;    // processes of the run that share it (1 unless distributed)
};

// This machine as a run sees it: machine_memory_bytes(), shared, when `distributed`, by the ranks
// Open MPI started here (its OMPI_COMM_WORLD_LOCAL_SIZE environment variable, at least 1; 1 when
// it is not set).
MachineShare this_machine_share(bool distributed);

// Refuses, before the network is built or the data read, a run of `config` on the model `model`
// (a model file's name, for messages) whose parameters, optimiser state (`optimizer_state_values`
// per trainable value: Optimizer::state_values_per_parameter), weight average (config.ema_decay >
// 0) and activations at this rank's share of the batch (⌈batch / ranks⌉ images) need more than
// this rank's share of `machine` (memory_bytes / ranks_here). `totals`: the model's summary totals
// (plan_costs, nn/costs.h). Throws convnet::Error as require_memory does ("M: training at --batch B
// needs at least ..."), its hint the largest --batch that would fit (a resumed run, which keeps its
// batch, is told to resume on a larger machine or start again), or that the parameters or one
// image alone do not fit; nothing when machine.memory_bytes is 0.
void check_training_memory(const PlanCosts& totals, const std::string& model, const RunConfig& config, int ranks,
                           int optimizer_state_values, bool resumed, const MachineShare& machine);

// Throws MisconfigurationError "option --batch B: MODEL has a batch norm over one value per
// channel per image, which needs at least M images a batch (as torch.nn.BatchNorm1d)" when
// `batch` is under network.minimum_training_batch().
void check_batch_size(std::int64_t batch, const Network& network);

// Distributed over `ranks` ranks: throws MisconfigurationError "option --batch B: each of the R
// ranks needs at least M image(s) of every batch: give --batch R·M or more" when a rank's share of
// `batch` could fall under network.minimum_training_batch() (M).
void check_distributed_batch(std::int64_t batch, const Network& network, int ranks);

// Distributed over `ranks` ranks: a warning (empty: none) when the last batch of an epoch over
// `train_count` images is too small to share over the ranks but not for one process, so that it
// joins the batch before where one process would train it alone.
std::string last_batch_warning(std::int64_t batch, const Network& network, int ranks, std::int64_t train_count);

// Refuses a training set with fewer classes than its task needs (Task::minimum_classes; a set whose
// class names are unknown, 0, is left to the other checks): convnet::Error
// "DATA: the training data has 1 class ("shirt"); training to classify needs 2 classes or more ...".
void check_training_classes(const Dataset& train, const std::string& data);

// Refuses a segmentation training set whose masks teach nothing: convnet::Error "DATA: every pixel
// of every training mask is 255, which means "ignore": nothing to learn (...)". Returns warnings
// (empty: none) for classes no training pixel has, and for a set whose pixels are mostly 255 —
// most often masks saved as pictures, an object as 255. `data` names the folder in messages.
std::vector<std::string> check_training_masks(const Dataset& train, const std::string& data);

// Checks, collectively, that every rank of `world` holds the same model (`network`'s layers and
// input), the same data (`train`'s and `judged`'s fingerprints) and the same run (`config`'s
// batch, seed, epochs, schedule, augmentation, non-finite policy, batch norm synchronisation,
// label smoothing, test-time augmentation and weight average, `optimizer`'s description and the
// position `steps_done`). Throws convnet::Error as check_same_on_every_rank does ("rank 1 of 2
// differs from rank 0 in its model: ...").
void check_same_run_on_every_rank(Communicator& world, const Network& network, const Dataset& train, const Dataset& judged,
                                  const RunConfig& config, const Optimizer& optimizer, std::int64_t steps_done);

// Throws MisconfigurationError "option --epochs E: the checkpoint's run has done D epochs already;
// give --epochs D+1 or more to train on" when a run has nothing left to train (`epochs_done` ≥
// `epochs`).
void check_epochs_to_train(int epochs, int epochs_done);

}  // namespace convnet
