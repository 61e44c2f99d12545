// The checks a training run makes before it spends time: outputs, memory, batch, masks, ranks.
#include <convnet/train/preflight.h>
#include <convnet/train/task.h>

#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

namespace convnet {

namespace {

// A setting as text for the ranks' agreement: every bit of a double.
std::string preflight_exact(double value) {
    char text[40];
    std::snprintf(text, sizeof(text), "%.17g", value);
    return text;
}

std::string preflight_images(std::int64_t count) { return std::to_string(count) + (count == 1 ? " image" : " images"); }

}  // namespace

bool started_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

void check_mpirun_launch(bool distributed) {
    // Open MPI tells its ranks how many they are; several copies of one training writing the same files are a mistake.
    const char* ranks = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (!distributed && ranks != nullptr && std::string(ranks) != "1")
        throw MisconfigurationError(std::string("started by mpirun as one of ") + ranks +
                                    " processes without --distributed: each would train alone and write the same files; add --distributed");
}

void check_output_file(const std::string& option, const std::filesystem::path& path) {
    const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::error_code error;
    if (std::filesystem::is_directory(path, error))
        throw Error("option --" + option + " " + path.string() + ": is a folder; expected a file name");
    if (std::filesystem::exists(path, error) && !std::filesystem::is_regular_file(path, error))
        throw Error("option --" + option + " " + path.string() + ": exists and is not a regular file (a device?); not replacing it");
    if (std::filesystem::exists(folder, error) && !std::filesystem::is_directory(folder, error))
        throw Error("option --" + option + " " + path.string() + ": " + folder.string() + " is a file, not a folder");
    if (!std::filesystem::is_directory(folder, error))
        throw Error("option --" + option + " " + path.string() + ": the folder " + folder.string() + " does not exist");
    if (::access(folder.c_str(), W_OK) != 0)
        throw Error("option --" + option + " " + path.string() + ": cannot write in " + folder.string() + " (" + std::strerror(errno) +
                    ")");
}

void check_svg_output(const std::string& option, const std::filesystem::path& path) {
    std::string extension = path.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
    if (extension != ".svg")
        throw MisconfigurationError("option --" + option + " " + path.string() +
                                    ": the picture is written as SVG; give a name ending in .svg");
    check_output_file(option, path);
}

void check_distinct_outputs(const std::vector<std::pair<std::string, std::filesystem::path>>& outputs) {
    std::vector<std::pair<std::string, std::filesystem::path>> seen;
    for (const auto& [option, given] : outputs) {
        std::error_code error;
        const std::filesystem::path absolute = std::filesystem::absolute(given).lexically_normal();
        std::filesystem::path path = std::filesystem::weakly_canonical(absolute, error);
        if (error) path = absolute;
        for (const auto& [other, other_path] : seen)
            if (other_path == path)
                throw MisconfigurationError("options --" + other + " and --" + option + " name the same file " + given.string() +
                                            "; each needs a file of its own");
        seen.emplace_back(option, path);
    }
}

void check_run_outputs(const RunRequest& request, bool resumed) {
    std::vector<std::pair<std::string, std::filesystem::path>> outputs;
    const std::pair<const char*, const std::optional<std::filesystem::path>*> files[] = {
        {"save", &request.save}, {"metrics", &request.metrics}, {"checkpoint", &request.checkpoint}};
    for (const auto& [option, path] : files)
        if (*path) {
            check_output_file(option, **path);
            outputs.emplace_back(option, **path);
        }
    if (request.plot) {
        check_svg_output("plot", *request.plot);
        outputs.emplace_back("plot", *request.plot);
    }
    check_distinct_outputs(outputs);
    if (request.checkpoint_every.value_or(0) > 0 && !request.checkpoint && !resumed)
        throw MisconfigurationError("option --checkpoint-every: give --checkpoint FILE too, the file to write");
}

MachineShare this_machine_share(bool distributed) {
    MachineShare share;
    share.memory_bytes = machine_memory_bytes();
    // Open MPI tells each rank how many ranks it started on this machine.
    const char* local_ranks = distributed ? std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE") : nullptr;
    if (local_ranks != nullptr) share.ranks_here = std::max(1L, std::strtol(local_ranks, nullptr, 10));
    return share;
}

void check_training_memory(const PlanCosts& totals, const std::string& model, const RunConfig& config, int ranks,
                           int optimizer_state_values, bool resumed, const MachineShare& machine) {
    const std::int64_t batch = config.batch_size, share = (batch + ranks - 1) / ranks;
    const MemoryNeed need = training_memory_need(totals, share, optimizer_state_values, config.ema_decay > 0.0 ? 1 : 0);
    const std::int64_t on_this_machine = machine.ranks_here, available = machine.memory_bytes / on_this_machine;
    std::string what = model + ": training at --batch " + std::to_string(batch);
    if (on_this_machine > 1)
        what += " (" + std::to_string(share) + " images on each of " + std::to_string(on_this_machine) + " ranks here)";
    const std::int64_t fitting = largest_batch(need, available) * ranks;
    std::string hint;
    if (available <= need.parameter_bytes) hint = "its parameters and the optimiser's state alone do not fit";
    else if (fitting == 0) hint = "one image's activations alone do not fit (a smaller input or fewer channels)";
    else if (resumed)
        hint = "a resumed run keeps its checkpoint's batch: resume it on a larger machine, or start again with --batch " +
               std::to_string(fitting) + " or less";
    else
        hint = "--batch " + std::to_string(fitting) + " would fill the memory by this estimate alone (oneDNN's buffers and the data " +
               "come on top): give less";
    const std::string memory =
        on_this_machine > 1 ? "this rank's share of the machine's " + memory_text(machine.memory_bytes) : "this machine's memory";
    require_memory(need, available, what, hint + "; see `convnet summary " + model + "`", memory);
}

void check_batch_size(std::int64_t batch, const Network& network) {
    if (batch < network.minimum_training_batch())
        throw MisconfigurationError("option --batch " + std::to_string(batch) + ": " + network.source() +
                                    " has a batch norm over one value per channel per image, which needs at least " +
                                    std::to_string(network.minimum_training_batch()) + " images a batch (as torch.nn.BatchNorm1d)");
}

void check_distributed_batch(std::int64_t batch, const Network& network, int ranks) {
    const std::int64_t needed = network.minimum_training_batch() * ranks;
    if (batch < needed)
        throw MisconfigurationError("option --batch " + std::to_string(batch) + ": each of the " + std::to_string(ranks) +
                                    " ranks needs at least " + preflight_images(network.minimum_training_batch()) +
                                    " of every batch: give --batch " + std::to_string(needed) + " or more");
}

std::string last_batch_warning(std::int64_t batch, const Network& network, int ranks, std::int64_t train_count) {
    const std::int64_t needed = network.minimum_training_batch() * ranks, rest = train_count % batch;
    if (rest <= 0 || rest >= needed || rest < network.minimum_training_batch()) return "";
    return "the last batch of every epoch (" + preflight_images(rest) + ") is too small to share over " + std::to_string(ranks) +
           " ranks and joins the batch before; one process would train it alone, so this run differs from one process's there";
}

void check_training_classes(const Dataset& train, const std::string& data) {
    const Task& task = task_for(train.task());
    const std::int64_t classes = train.num_classes();
    if (classes == 0 || classes >= task.minimum_classes()) return;  // 0: names unknown, as the warnings treat it
    std::string names;
    for (const std::string& name : train.class_names) names += (names.empty() ? "" : ", ") + ("\"" + name + "\"");
    throw Error(data + ": the training data has " + std::to_string(classes) + (classes == 1 ? " class" : " classes") +
                (names.empty() ? "" : " (" + names + ")") + "; training to " + std::string(task.name()) + " needs " +
                std::to_string(task.minimum_classes()) +
                " classes or more: a softmax over one class is 1 whatever the image, its loss 0, and nothing is learned "
                "(add the images of another class, for example a background or \"other\" class)");
}

std::vector<std::string> check_training_masks(const Dataset& train, const std::string& data) {
    std::vector<std::int64_t> pixels(kMaxClasses, 0);
    for (const std::uint8_t value : train.masks) ++pixels[value];
    const auto total = static_cast<std::int64_t>(train.masks.size()), ignored = pixels[kIgnoreIndex];
    if (ignored == total)
        throw Error(data +
                    ": every pixel of every training mask is 255, which means \"ignore\": nothing to learn (masks saved as "
                    "pictures, with objects as 255? a mask's values are class indices: 0, 1, 2 ...)");
    std::vector<std::string> warnings;
    std::string missing;
    for (int c = 0; c < train.num_classes(); ++c)
        if (pixels[static_cast<std::size_t>(c)] == 0)
            missing += (missing.empty() ? "" : ", ") + train.class_names[static_cast<std::size_t>(c)];
    if (!missing.empty()) warnings.push_back("no training pixel has the class " + missing + " (its IoU cannot be learned)");
    if (2 * ignored > total)
        warnings.push_back(std::to_string(100 * ignored / total) + "% of the training pixels are 255 (\"ignore\") and count for nothing" +
                           (missing.empty() ? "" : ": masks saved as pictures, with objects as 255? mask values are class indices"));
    return warnings;
}

void check_same_run_on_every_rank(Communicator& world, const Network& network, const Dataset& train, const Dataset& judged,
                                  const RunConfig& config, const Optimizer& optimizer, std::int64_t steps_done) {
    const auto same = [&](const std::string& what, const std::string& text) {
        check_same_on_every_rank(world, std::hash<std::string>{}(text), what);
    };
    same("its model", format_model(network.layer_plans(), network.sample_shape()));
    same("its data", std::to_string(dataset_fingerprint(train)) + " " + std::to_string(dataset_fingerprint(judged)));
    same("its options (batch, seed, epochs, optimiser, schedule, augmentation, --on-nan, --no-sync-bn or the checkpoint)",
         std::to_string(config.batch_size) + " " + std::to_string(config.seed) + " " + std::to_string(config.epochs) + " " +
             optimizer.describe() + " " + config.schedule.describe() + " " + config.augmentation.describe() + " " +
             (config.non_finite_policy == NonFinitePolicy::skip ? "skip" : "stop") + " " + std::to_string(config.sync_batch_norm) + " " +
             preflight_exact(config.label_smoothing) + " " + test_time_augmentation_name(config.test_time_augmentation) + " " +
             preflight_exact(config.ema_decay) + " " + std::to_string(steps_done));
}

void check_epochs_to_train(int epochs, int epochs_done) {
    if (epochs_done >= epochs)
        throw MisconfigurationError("option --epochs " + std::to_string(epochs) + ": the checkpoint's run has done " +
                                    std::to_string(epochs_done) + (epochs_done == 1 ? " epoch" : " epochs") + " already; give --epochs " +
                                    std::to_string(epochs_done + 1) + " or more to train on");
}

}  // namespace convnet
