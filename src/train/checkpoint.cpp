// Checkpoints as safetensors: tensors for the model and the optimiser, one JSON metadata field
// for the rest of the run's state.
#include <convnet/core/error.h>
#include <convnet/core/format.h>
#include <convnet/io/safetensors.h>
#include <convnet/train/checkpoint.h>

#include "../core/json_depth.h"
#include "../io/weights_checks.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <sstream>

namespace convnet {

namespace {

constexpr int kCheckpointVersion = 1;

nlohmann::ordered_json schedule_json(const LearningRateSchedule& schedule) {
    const char* kinds[] = {"constant", "step", "cosine", "one_cycle"};
    return {{"kind", kinds[static_cast<int>(schedule.kind)]},
            {"step_size", schedule.step_size},
            {"gamma", schedule.gamma},
            {"t_max", schedule.t_max},
            {"eta_min", schedule.eta_min},
            {"pct_start", schedule.pct_start}};
}

// Reads checkpoint fields, naming the file and the field in every error.
class FieldReader {
public:
    FieldReader(const nlohmann::json& root, std::string file) : root_(root), file_(std::move(file)) {}
    const nlohmann::json& at(const nlohmann::json& object, const char* key, const std::string& where) const {
        if (!object.is_object() || !object.contains(key)) fail(where + key + " is missing");
        return object[key];
    }
    template <typename T>
    T number(const nlohmann::json& object, const char* key, const std::string& where = "") const {
        const nlohmann::json& value = at(object, key, where);
        if constexpr (std::is_same_v<T, bool>) {
            if (!value.is_boolean()) fail(where + key + ": expected true or false, found " + value.dump());
        } else if constexpr (std::is_integral_v<T>) {
            if (!value.is_number_integer()) fail(where + key + ": expected an integer, found " + value.dump());
            if constexpr (std::is_unsigned_v<T>) {
                if (value.is_number_integer() && !value.is_number_unsigned()) fail(where + key + ": expected an integer ≥ 0");
            }
        } else {
            if (!value.is_number()) fail(where + key + ": expected a number, found " + value.dump());
        }
        return value.get<T>();
    }
    std::string text(const nlohmann::json& object, const char* key, const std::string& where = "") const {
        const nlohmann::json& value = at(object, key, where);
        if (!value.is_string()) fail(where + key + ": expected a string, found " + value.dump());
        return value.get<std::string>();
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(file_ + ": checkpoint field " + what + " (the file is damaged or from another program)");
    }
    const nlohmann::json& root() const { return root_; }

private:
    const nlohmann::json& root_;
    std::string file_;
};

LearningRateSchedule read_schedule(const FieldReader& reader, const nlohmann::json& object) {
    LearningRateSchedule schedule;
    const std::string kind = reader.text(object, "kind", "schedule.");
    if (kind == "constant") schedule.kind = LearningRateSchedule::Kind::constant;
    else if (kind == "step") schedule.kind = LearningRateSchedule::Kind::step;
    else if (kind == "cosine") schedule.kind = LearningRateSchedule::Kind::cosine;
    else if (kind == "one_cycle") schedule.kind = LearningRateSchedule::Kind::one_cycle;
    else reader.fail("schedule.kind: '" + kind + "', expected constant, step, cosine or one_cycle");
    schedule.step_size = reader.number<std::int64_t>(object, "step_size", "schedule.");
    schedule.gamma = reader.number<double>(object, "gamma", "schedule.");
    schedule.t_max = reader.number<std::int64_t>(object, "t_max", "schedule.");
    schedule.eta_min = reader.number<double>(object, "eta_min", "schedule.");
    if (object.contains("pct_start"))
        schedule.pct_start = reader.number<double>(object, "pct_start", "schedule.");  // absent before one_cycle
    if (schedule.step_size < 1 || schedule.t_max < 1) reader.fail("schedule: step_size and t_max must be at least 1");
    if (!(schedule.pct_start > 0.0 && schedule.pct_start < 1.0)) reader.fail("schedule.pct_start: expected a fraction between 0 and 1");
    return schedule;
}

}  // namespace

void write_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint, const Network& network) {
    std::vector<StateTensor> tensors = checkpoint.model_state;
    const std::vector<NamedParameter> trainable = network.named_parameters();
    for (const auto& [buffer, values] : checkpoint.optimizer_state.buffers) {
        if (static_cast<std::int64_t>(values.size()) != network.trainable_count())
            throw Error(path.string() + ": optimiser buffer " + buffer + " holds " + std::to_string(values.size()) + " values, the model " +
                        std::to_string(network.trainable_count()));
        std::size_t offset = 0;
        for (std::size_t index = 0; index < trainable.size(); ++index) {
            const Shape& shape = trainable[index].parameter->shape;
            const auto count = static_cast<std::size_t>(shape.element_count());
            tensors.push_back({kOptimizerStatePrefix + std::to_string(index) + "." + buffer, StateTensor::DType::f32, shape,
                               std::vector<float>(values.begin() + static_cast<std::ptrdiff_t>(offset),
                                                  values.begin() + static_cast<std::ptrdiff_t>(offset + count)),
                               0});
            offset += count;
        }
    }
    if (!checkpoint.ema_values.empty())
        tensors.push_back(
            {kEmaEntry, StateTensor::DType::f32, Shape{static_cast<std::int64_t>(checkpoint.ema_values.size())}, checkpoint.ema_values, 0});
    const OptimizerOptions& optimizer = checkpoint.optimizer;
    nlohmann::ordered_json parameter_names = nlohmann::ordered_json::array();
    for (const NamedParameter& entry : trainable) parameter_names.push_back(entry.name);
    // Under torch's param_groups keys where torch has one.
    const nlohmann::ordered_json optimizer_json = {{"name", optimizer.name},
                                                   {"lr", optimizer.learning_rate},
                                                   {"momentum", optimizer.momentum},
                                                   {"nesterov", optimizer.nesterov},
                                                   {"weight_decay", optimizer.weight_decay.value_or(0.0)},
                                                   {"betas", {optimizer.beta1, optimizer.beta2}},
                                                   {"eps", optimizer.eps},
                                                   {"dampening", optimizer.dampening},
                                                   {"step", checkpoint.optimizer_state.step},
                                                   {"params", parameter_names}};
    const TrainingPosition& position = checkpoint.position;
    nlohmann::ordered_json generators = nlohmann::ordered_json::object();
    for (const auto& [name, state] : checkpoint.generators) generators[name] = state;
    const nlohmann::ordered_json state = {{"version", kCheckpointVersion},
                                          {"optimizer", optimizer_json},
                                          {"schedule", schedule_json(checkpoint.schedule)},
                                          {"batch_size", checkpoint.batch_size},
                                          {"seed", checkpoint.seed},
                                          {"epochs", checkpoint.epochs},
                                          {"checkpoint_every", checkpoint.checkpoint_every},
                                          {"augmentation", checkpoint.augmentation.describe()},
                                          {"data_fingerprint", checkpoint.data_fingerprint},
                                          {"threads", checkpoint.threads},
                                          {"ranks", checkpoint.ranks},
                                          {"sync_batch_norm", checkpoint.sync_batch_norm},
                                          {"label_smoothing", checkpoint.label_smoothing},
                                          {"class_weights", checkpoint.class_weights},
                                          {"test_time_augmentation", test_time_augmentation_name(checkpoint.test_time_augmentation)},
                                          {"ema_decay", checkpoint.ema_decay},
                                          {"position",
                                           {{"epochs_done", position.epochs_done},
                                            {"images_done", position.images_done},
                                            {"steps_done", position.steps_done},
                                            {"loss_sum", position.loss_sum},
                                            {"correct", position.correct},
                                            {"seconds", position.seconds},
                                            {"counted", position.counted}}},
                                          {"generators", generators},
                                          {"metrics", checkpoint.metrics}};
    std::map<std::string, std::string> metadata = encode_weights_metadata(network, checkpoint.weights);
    metadata[kCheckpointKey] = state.dump();
    write_safetensors(path, tensors, metadata);
}

Checkpoint read_checkpoint(const std::filesystem::path& path) {
    const std::string file = path.string();
    SafetensorsContents contents = read_safetensors(path);
    const auto found = contents.metadata.find(kCheckpointKey);
    if (found == contents.metadata.end())
        throw Error(file +
                    ": a weights file, not a checkpoint (it has no \"checkpoint\" metadata): it holds no optimiser state or "
                    "position to resume from; train with --checkpoint FILE to write one");
    Checkpoint checkpoint;
    checkpoint.weights = decode_weights_metadata(contents.metadata, file);
    nlohmann::json root;
    try {
        detail::refuse_nul_bytes(found->second, file + ": __metadata__ \"checkpoint\"");
        root = nlohmann::json::parse(found->second, detail::json_depth_limit(file + ": __metadata__ \"checkpoint\""));
    } catch (const nlohmann::json::exception& error) {
        throw Error(file + ": __metadata__ \"checkpoint\" is not JSON (" + error.what() + ")");
    }
    const FieldReader reader(root, file);
    if (reader.number<int>(root, "version") != kCheckpointVersion)
        reader.fail("version: " + root["version"].dump() + ", this build reads version " + std::to_string(kCheckpointVersion));
    const nlohmann::json& optimizer = reader.at(root, "optimizer", "");
    OptimizerOptions& options = checkpoint.optimizer;
    options.name = reader.text(optimizer, "name", "optimizer.");
    options.learning_rate = reader.number<double>(optimizer, "lr", "optimizer.");
    options.momentum = reader.number<double>(optimizer, "momentum", "optimizer.");
    options.nesterov = reader.number<bool>(optimizer, "nesterov", "optimizer.");
    options.weight_decay = reader.number<double>(optimizer, "weight_decay", "optimizer.");
    const nlohmann::json& betas = reader.at(optimizer, "betas", "optimizer.");
    if (!betas.is_array() || betas.size() != 2 || !betas[0].is_number() || !betas[1].is_number())
        reader.fail("optimizer.betas: expected two numbers");
    options.beta1 = betas[0].get<double>();
    options.beta2 = betas[1].get<double>();
    options.eps = reader.number<double>(optimizer, "eps", "optimizer.");
    options.dampening = reader.number<double>(optimizer, "dampening", "optimizer.");
    // Each value within what the command line takes, or what torch.optim checks, named by its key.
    const auto within = [&](const char* key, double value, OptionRange range, bool high_included = true) {
        if (!range.contains(value) || (!high_included && value == range.high))
            reader.fail(std::string("optimizer.") + key + ": " + number_text(value) + " is out of range (" + number_text(range.low) +
                        " to " + number_text(range.high) + (high_included ? "" : ", not included") + ")");
    };
    within("lr", options.learning_rate, kLearningRateRange);
    within("momentum", options.momentum, kMomentumRange);
    within("weight_decay", *options.weight_decay, kWeightDecayRange);
    within("betas", options.beta1, {0.0, 1.0}, false);
    within("betas", options.beta2, {0.0, 1.0}, false);
    within("eps", options.eps, {0.0, 1.0});
    within("dampening", options.dampening, {0.0, 1.0});
    try {  // what else the optimiser checks (Nesterov only with momentum, a known name)
        make_optimizer(options);
    } catch (const Error& error) {
        reader.fail(std::string("optimizer: ") + error.what());
    }
    checkpoint.optimizer_state.step = reader.number<std::int64_t>(optimizer, "step", "optimizer.");
    checkpoint.schedule = read_schedule(reader, reader.at(root, "schedule", ""));
    checkpoint.batch_size = reader.number<std::int64_t>(root, "batch_size");
    checkpoint.seed = reader.number<std::uint64_t>(root, "seed");
    checkpoint.epochs = reader.number<int>(root, "epochs");
    checkpoint.checkpoint_every = reader.number<std::int64_t>(root, "checkpoint_every");
    checkpoint.data_fingerprint = reader.number<std::uint64_t>(root, "data_fingerprint");
    try {
        checkpoint.augmentation = parse_augmentation(reader.text(root, "augmentation"));
    } catch (const Error& error) {
        reader.fail(std::string("augmentation: ") + error.what());
    }
    checkpoint.threads = reader.number<int>(root, "threads");
    // Absent from checkpoints written before distributed training: one process.
    if (root.contains("ranks")) checkpoint.ranks = reader.number<int>(root, "ranks");
    if (root.contains("sync_batch_norm")) checkpoint.sync_batch_norm = reader.number<bool>(root, "sync_batch_norm");
    if (root.contains("label_smoothing")) checkpoint.label_smoothing = reader.number<double>(root, "label_smoothing");  // absent: 0
    if (root.contains("ema_decay")) checkpoint.ema_decay = reader.number<double>(root, "ema_decay");                    // absent: 0
    if (root.contains("test_time_augmentation")) {                                                                      // absent: none
        try {
            checkpoint.test_time_augmentation = parse_test_time_augmentation(reader.text(root, "test_time_augmentation"));
        } catch (const Error& error) {
            reader.fail(std::string("test_time_augmentation: ") + error.what());
        }
    }
    const nlohmann::json& position = reader.at(root, "position", "");
    TrainingPosition& at = checkpoint.position;
    at.epochs_done = reader.number<int>(position, "epochs_done", "position.");
    at.images_done = reader.number<std::int64_t>(position, "images_done", "position.");
    at.steps_done = reader.number<std::int64_t>(position, "steps_done", "position.");
    at.loss_sum = reader.number<double>(position, "loss_sum", "position.");
    at.correct = reader.number<std::int64_t>(position, "correct", "position.");
    at.seconds = reader.number<double>(position, "seconds", "position.");
    // Absent before segmentation: one target an image.
    at.counted = position.contains("counted") ? reader.number<std::int64_t>(position, "counted", "position.") : at.images_done;
    if (root.contains("class_weights")) {  // absent: none
        const nlohmann::json& weights = reader.at(root, "class_weights", "");
        if (!weights.is_array()) reader.fail("class_weights: expected an array of numbers");
        for (const nlohmann::json& weight : weights) {
            if (!weight.is_number() || !(weight.get<double>() >= 0.0) || !std::isfinite(weight.get<double>()))
                reader.fail("class_weights: expected numbers of 0 or more, found " + weight.dump());
            checkpoint.class_weights.push_back(weight.get<float>());
        }
    }
    // Each count within what a run can hold, named with its value when not.
    const std::pair<const char*, bool> ranges[] = {
        {"batch_size", checkpoint.batch_size >= 1 && checkpoint.batch_size <= 65536},
        {"epochs", checkpoint.epochs >= 1 && checkpoint.epochs <= 100000},
        {"checkpoint_every", checkpoint.checkpoint_every >= 0},
        {"threads", checkpoint.threads >= 1 && checkpoint.threads <= 1024},
        {"ranks", checkpoint.ranks >= 1},
        {"label_smoothing", checkpoint.label_smoothing >= 0.0 && checkpoint.label_smoothing < 1.0},
        {"ema_decay", checkpoint.ema_decay >= 0.0 && checkpoint.ema_decay < 1.0},
        {"position.epochs_done", at.epochs_done >= 0 && at.epochs_done <= checkpoint.epochs},
        {"position.images_done", at.images_done >= 0},
        {"position.steps_done", at.steps_done >= 0},
        {"position.counted", at.counted >= 0},
        {"position.correct", at.correct >= 0 && at.correct <= at.counted},
    };
    for (const auto& [field, within] : ranges)
        if (!within) {
            const nlohmann::json* value = &root;
            for (std::string_view rest = field; value != nullptr;) {  // "position.correct": two levels
                const std::size_t dot = rest.find('.');
                const std::string key(rest.substr(0, dot));
                value = value->contains(key) ? &(*value)[key] : nullptr;
                if (dot == std::string_view::npos) break;
                rest.remove_prefix(dot + 1);
            }
            reader.fail(std::string(field) + ": " + (value != nullptr ? value->dump() : "?") + " is out of range");
        }
    // The model the run trains is built from the checkpoint's model text: its size is checked
    // against the tensors before anything of that size is allocated.
    detail::check_model_fits_tensors(parse_model(checkpoint.weights.model, file), contents, file);
    const nlohmann::json& generators = reader.at(root, "generators", "");
    if (!generators.is_object()) reader.fail("generators: expected an object of layer names to states");
    for (const auto& [name, state] : generators.items()) {
        if (!state.is_number_unsigned()) reader.fail("generators." + name + ": expected an integer ≥ 0");
        checkpoint.generators.emplace_back(name, state.get<std::uint64_t>());
    }
    checkpoint.metrics = reader.text(root, "metrics");

    // The optimiser's buffers, joined back in parameter order.
    std::map<std::string, std::map<std::int64_t, std::vector<float>>> pieces;
    for (StateTensor& tensor : contents.tensors) {
        if (!is_checkpoint_entry(tensor)) {
            checkpoint.model_state.push_back(std::move(tensor));
            continue;
        }
        if (tensor.name == kEmaEntry) {
            if (tensor.dtype != StateTensor::DType::f32 || tensor.shape.rank() != 1)
                throw Error(file + ": entry " + std::string(kEmaEntry) + ": expected one row of float32 values");
            checkpoint.ema_values = std::move(tensor.values);
            continue;
        }
        const std::string rest = tensor.name.substr(std::string(kOptimizerStatePrefix).size());
        const std::size_t dot = rest.find('.');
        std::int64_t index = -1;
        const auto [end, error] = std::from_chars(rest.data(), rest.data() + (dot == std::string::npos ? 0 : dot), index);
        if (dot == std::string::npos || error != std::errc() || end != rest.data() + dot || index < 0 ||
            tensor.dtype != StateTensor::DType::f32)
            throw Error(file + ": entry " + tensor.name + ": expected optimizer.state.INDEX.BUFFER holding float32 values");
        pieces[rest.substr(dot + 1)][index] = std::move(tensor.values);
    }
    for (auto& [buffer, by_index] : pieces) {
        std::vector<float>& joined = checkpoint.optimizer_state.buffers[buffer];
        std::int64_t expected = 0;
        for (auto& [index, values] : by_index) {
            if (index != expected++) throw Error(file + ": optimizer.state." + std::to_string(expected - 1) + "." + buffer + " is missing");
            joined.insert(joined.end(), values.begin(), values.end());
        }
    }
    return checkpoint;
}

}  // namespace convnet
