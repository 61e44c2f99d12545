// Mini-batch training and evaluation loops.
#include <convnet/core/error.h>
#include <convnet/core/files.h>
#include <convnet/core/random.h>
#include <convnet/core/threads.h>
#include <convnet/io/weights.h>
#include <convnet/nn/loss.h>
#include <convnet/train/trainer.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>

namespace convnet {

namespace {

// The end of TrainingDiverged's message for a batch that can be left out.
constexpr const char* kSkippable = " The weights are those before this step; --on-nan skip leaves such batches out instead.";

// The counts and the loss sum of every rank's shard, in one all-reduce (exact in double up to 2^53).
void sum_over_ranks(Communicator& communicator, Evaluation& result, double& loss_sum, double& denominator) {
    std::vector<std::int64_t>* parts[] = {&result.class_correct, &result.class_total, &result.confusion};
    std::vector<double> sums{loss_sum, denominator, double(result.counted)};
    for (const auto* part : parts) sums.insert(sums.end(), part->begin(), part->end());
    communicator.all_reduce_sum(sums);
    loss_sum = sums[0];
    denominator = sums[1];
    result.counted = static_cast<std::int64_t>(sums[2]);
    std::size_t next = 3;
    for (auto* part : parts)
        for (std::int64_t& value : *part) value = static_cast<std::int64_t>(sums[next++]);
}

std::size_t non_finite_count(std::span<const float> values) {
    return static_cast<std::size_t>(std::count_if(values.begin(), values.end(), [](float value) { return !std::isfinite(value); }));
}

// table[c * 256 + v]: the network input of byte v in channel c, (v / 255 − mean) / std. The
// division is correctly rounded, as torchvision's ToTensor divides (a multiply by 1/255 is off
// by an ulp for about half the bytes).
std::vector<float> byte_table(int channels, const Preprocessing& preprocessing) {
    const auto per_channel = [&](const std::vector<float>& values, const char* name, float fallback) {
        if (values.empty()) return std::vector<float>(static_cast<std::size_t>(channels), fallback);
        if (values.size() == 1) return std::vector<float>(static_cast<std::size_t>(channels), values[0]);
        if (values.size() != static_cast<std::size_t>(channels))
            throw Error(std::string("preprocessing: ") + std::to_string(values.size()) + " " + name + " values for " +
                        std::to_string(channels) + (channels == 1 ? " channel" : " channels"));
        return values;
    };
    const std::vector<float> mean = per_channel(preprocessing.mean, "mean", 0.0f), std = per_channel(preprocessing.std, "std", 1.0f);
    const bool normalized = !preprocessing.mean.empty() || !preprocessing.std.empty();
    std::vector<float> table(static_cast<std::size_t>(channels) * 256);
    for (int c = 0; c < channels; ++c)
        for (int value = 0; value < 256; ++value) {
            const float scaled = static_cast<float>(value) / 255.0f;
            table[static_cast<std::size_t>(c * 256 + value)] = normalized ? (scaled - mean[c]) / std[c] : scaled;
        }
    return table;
}

// The planes of one image through `table`, cropped and mirrored as `draw` says; pixels the crop
// takes from the padding read as byte 0.
void convert_image(const std::uint8_t* source, float* target, int channels, int height, int width, const float* table, int padding,
                   const AugmentationDraw& draw) {
    for (int c = 0; c < channels; ++c) {
        const float* lookup = table + c * 256;
        const std::uint8_t* plane = source + static_cast<std::int64_t>(c) * height * width;
        for (int y = 0; y < height; ++y) {
            float* row = target + (static_cast<std::int64_t>(c) * height + y) * width;
            const int source_y = y + draw.crop_y - padding;
            if (source_y < 0 || source_y >= height) {
                std::fill(row, row + width, lookup[0]);
                continue;
            }
            const std::uint8_t* source_row = plane + static_cast<std::int64_t>(source_y) * width;
            for (int x = 0; x < width; ++x) {
                const int source_x = (draw.mirror ? width - 1 - x : x) + draw.crop_x - padding;
                row[x] = source_x >= 0 && source_x < width ? lookup[source_row[source_x]] : lookup[0];
            }
        }
    }
}

}  // namespace

void load_batch(const Dataset& dataset, std::span<const std::int64_t> indices, Tensor& images, Targets& targets,
                const BatchTransform& transform) {
    const std::vector<float> table = byte_table(dataset.channels, transform.preprocessing);
    const std::int64_t size = dataset.image_size();
    const Task& task = task_for(dataset.task());
    images.resize(Shape{static_cast<std::int64_t>(indices.size()), dataset.channels, dataset.height, dataset.width});
    targets.clear();
    const Augmentation& augmentation = transform.augmentation;
    for (std::size_t b = 0; b < indices.size(); ++b) {
        const std::uint8_t* source = dataset.image(indices[b]);
        float* target = images.data() + static_cast<std::int64_t>(b) * size;
        if (augmentation.enabled()) {
            const AugmentationDraw draw = draw_augmentation(augmentation, transform.seed, transform.epoch, indices[b]);
            convert_image(source, target, dataset.channels, dataset.height, dataset.width, table.data(), augmentation.crop_padding, draw);
            task.append_targets(dataset, indices[b], &draw, augmentation.crop_padding, targets);
        } else {
            const std::int64_t plane = std::int64_t{dataset.height} * dataset.width;
            for (int c = 0; c < dataset.channels; ++c) {
                const float* lookup = table.data() + c * 256;
                for (std::int64_t p = c * plane; p < (c + 1) * plane; ++p) target[p] = lookup[source[p]];
            }
            task.append_targets(dataset, indices[b], nullptr, 0, targets);
        }
    }
}

void load_batch(const Dataset& dataset, std::span<const std::int64_t> indices, Tensor& images, std::vector<std::uint8_t>& labels,
                const BatchTransform& transform) {
    Targets targets;
    load_batch(dataset, indices, images, targets, transform);
    labels = std::move(targets.labels);
}

Preprocessing channel_statistics(const Dataset& dataset) {
    if (dataset.count == 0) throw Error("normalisation: the training set has no images to measure");
    Preprocessing statistics;
    const std::int64_t plane = std::int64_t{dataset.height} * dataset.width;
    for (int c = 0; c < dataset.channels; ++c) {
        // Byte counts, then exact sums: no rounding drift over millions of pixels.
        std::int64_t histogram[256] = {};
        for (std::int64_t n = 0; n < dataset.count; ++n) {
            const std::uint8_t* values = dataset.image(n) + c * plane;
            for (std::int64_t p = 0; p < plane; ++p) ++histogram[values[p]];
        }
        const double pixels = double(dataset.count) * double(plane);
        double sum = 0.0, squares = 0.0;
        for (int value = 0; value < 256; ++value) {
            const double scaled = value / 255.0;
            sum += double(histogram[value]) * scaled;
            squares += double(histogram[value]) * scaled * scaled;
        }
        const double mean = sum / pixels;
        const double deviation = std::sqrt(std::max(0.0, squares / pixels - mean * mean));
        if (!(deviation > 0.0))
            throw Error("normalisation: channel " + std::to_string(c) + " of the training set has one value throughout; nothing to scale");
        statistics.mean.push_back(static_cast<float>(mean));
        statistics.std.push_back(static_cast<float>(deviation));
    }
    return statistics;
}

std::vector<float> balanced_class_weights(const Dataset& dataset, std::int64_t classes) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(classes), 0);
    std::int64_t total = 0;
    for (const std::uint8_t label : dataset.has_masks() ? dataset.masks : dataset.labels) {
        if (dataset.has_masks() && label == kIgnoreIndex) continue;
        if (label < classes) ++counts[label];
        ++total;
    }
    std::vector<float> weights(static_cast<std::size_t>(classes), 1.0f);
    for (std::size_t c = 0; c < counts.size(); ++c)
        if (counts[c] > 0) weights[c] = static_cast<float>(double(total) / (double(classes) * double(counts[c])));
    return weights;
}

void check_compatible(const Network& network, const Dataset& dataset, const std::string& what) {
    task_for(dataset.task()).check_compatible(network, dataset, what);
}

namespace {

// Reverses every row of the last axis of `tensor`: a left-right mirror of images or score maps.
void mirror_rows(Tensor& tensor) {
    const std::int64_t width = tensor.shape()[tensor.shape().rank() - 1];
    for (std::int64_t row = 0; row < tensor.size() / width; ++row)
        std::reverse(tensor.data() + row * width, tensor.data() + (row + 1) * width);
}

// logits = (logits + the logits of `images` mirrored left to right) / 2; `images` is mirrored in
// place. Score maps (N, K, H, W) are mirrored back before they are averaged, pixel with pixel.
void average_with_mirror(const Network& network, Tensor& images, Tensor& logits, Tensor& mirrored_logits) {
    mirror_rows(images);
    network.predict(images, mirrored_logits);
    if (mirrored_logits.shape().rank() == 4) mirror_rows(mirrored_logits);
    for (std::int64_t i = 0; i < logits.size(); ++i) logits[i] = 0.5f * (logits[i] + mirrored_logits[i]);
}

}  // namespace

Evaluation evaluate(const Network& network, const Dataset& dataset, std::int64_t batch_size, const Preprocessing& preprocessing,
                    Communicator* communicator, TestTimeAugmentation augmentation) {
    const Task& task = task_for(dataset.task());
    task.check_compatible(network, dataset, "evaluation");
    if (dataset.count == 0) throw Error("the evaluation set has no images");
    if (augmentation == TestTimeAugmentation::flip && !task.averages_mirrored_outputs())
        throw Error("test-time flip averages the outputs of an image and its mirror, which means nothing for the " +
                    std::string(task.name()) + " task: its outputs are not scores alone (use --tta none)");
    // A task that cannot sum its counts over ranks (detection) scores every image on every rank.
    if (!task.sums_over_ranks()) communicator = nullptr;
    Evaluation result;
    task.start(result, task.model_classes(network));
    const Shard shard =
        communicator != nullptr ? shard_of(dataset.count, communicator->rank(), communicator->size()) : Shard{0, dataset.count};
    std::vector<std::int64_t> indices(static_cast<std::size_t>(dataset.count));
    std::iota(indices.begin(), indices.end(), 0);
    Tensor images, logits, mirrored_logits;
    Targets targets;
    double loss_sum = 0.0, denominator = 0.0;
    for (std::int64_t first = shard.first, end = shard.first + shard.count; first < end; first += batch_size) {
        const std::int64_t size = std::min(batch_size, end - first);
        BatchTransform transform;
        transform.preprocessing = preprocessing;
        load_batch(dataset, std::span(indices).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(size)), images, targets,
                   transform);
        network.predict(images, logits);
        if (augmentation == TestTimeAugmentation::flip) average_with_mirror(network, images, logits, mirrored_logits);
        const LossResult loss = task.loss(network, logits, targets, nullptr, CrossEntropyOptions{});
        loss_sum += loss.loss * loss.denominator;
        denominator += loss.denominator;
        task.score(logits, targets, first, result);
    }
    if (communicator != nullptr) sum_over_ranks(*communicator, result, loss_sum, denominator);
    result.loss = denominator > 0.0 ? loss_sum / denominator : 0.0;
    task.finish(result);
    return result;
}

std::string epoch_metrics_json(const EpochResult& epoch, const Evaluation* test) {
    nlohmann::ordered_json record = {{"epoch", epoch.epoch}, {"train_loss", epoch.train_loss}};
    record["train_" + std::string(task_for(epoch.task).accuracy_name())] = epoch.train_accuracy;
    if (test != nullptr) {
        record["test_loss"] = test->loss;
        // An Evaluation no task finished (made by hand) reports its accuracy, as a classification's.
        if (test->figures.empty()) record["test_accuracy"] = test->accuracy;
        for (const auto& [name, value] : test->figures) record["test_" + name] = value;
    }
    record["epoch_seconds"] = epoch.seconds;
    record["images_per_second"] = epoch.images_per_second;
    if (epoch.communication_seconds > 0.0) record["communication_seconds"] = epoch.communication_seconds;  // distributed runs
    return record.dump();  // nlohmann writes NaN and infinities as null
}

Trainer::Trainer(Network& network, Optimizer& optimizer, std::int64_t batch_size, std::uint64_t seed)
    : network_(network), optimizer_(optimizer), batch_size_(batch_size), seed_(seed), base_learning_rate_(optimizer.learning_rate()) {
    const std::int64_t minimum = network.minimum_training_batch();
    if (batch_size < minimum || batch_size > 65536)
        throw Error("batch size " + std::to_string(batch_size) + ": expected " + std::to_string(minimum) + " to 65536" +
                    (minimum > 1 ? " (" + network.source() + " has a batch norm over one value per channel per image)" : ""));
}

EpochResult Trainer::train_epoch(const Dataset& dataset, const std::function<void(const TrainProgress&)>& progress,
                                 const std::function<bool()>& keep_going) {
    const Task& task = task_for(dataset.task());
    task.check_compatible(network_, dataset, "training");
    const int ranks = communicator_ != nullptr ? communicator_->size() : 1;
    const std::int64_t minimum = smallest_batch();
    const double communication_at_start = communicator_ != nullptr ? communicator_->communication_seconds() : 0.0;
    if (dataset.count < minimum)
        throw Error("the training set has " + std::to_string(dataset.count) + (dataset.count == 1 ? " image" : " images") + "; " +
                    (dataset.count == 0
                         ? std::string("there is nothing to train on")
                         : network_.source() + " has a batch norm over one value per channel per image, which needs at least " +
                               std::to_string(minimum) + " images a batch (as torch.nn.BatchNorm1d)"));
    if (position_.images_done >= dataset.count)
        throw Error("the run stopped after image " + std::to_string(position_.images_done) + " of an epoch, but the training set has " +
                    std::to_string(dataset.count) + " images (resumed on other data?)");
    const auto start = std::chrono::steady_clock::now();
    const double earlier_seconds = position_.seconds;  // of this epoch, before a stop
    const auto seconds_so_far = [&] {
        return earlier_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    EpochResult result;
    result.epoch = position_.epochs_done + 1;
    result.task = task.kind();
    // Fisher–Yates with a generator seeded from (seed, epoch) alone.
    Random shuffle_random((seed_ ^ 0x5eedba7c4ull) + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(result.epoch));
    std::vector<std::int64_t> order(static_cast<std::size_t>(dataset.count));
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle_random.below(i)]);

    for (std::int64_t first = position_.images_done, size = 0; first < dataset.count; first += size) {
        size = batch_at(first, dataset.count);
        if (step_schedule_ && position_.steps_done < step_schedule_->total_steps)
            optimizer_.set_learning_rate(step_schedule_->schedule.rate_at_step(
                step_schedule_->base_rate, position_.steps_done, step_schedule_->total_steps, step_schedule_->steps_per_epoch));
        transform_.seed = seed_;
        transform_.epoch = result.epoch;
        const Shard shard = communicator_ != nullptr ? shard_of(size, communicator_->rank(), ranks) : Shard{0, size};
        load_batch(dataset, std::span(order).subspan(static_cast<std::size_t>(first + shard.first), static_cast<std::size_t>(shard.count)),
                   images_, targets_, transform_);
        const Tensor& logits = network_.forward_train(images_);
        LossResult loss = task.loss(network_, logits, targets_, &grad_logits_, loss_options_);
        if (communicator_ != nullptr) loss = global_loss(loss);
        // Checked before the step, so that a bad batch leaves the weights (and every checkpoint) the
        // last good ones: the loss, then the gradients (a finite loss can still overflow in backward).
        bool take_step = std::isfinite(loss.loss);
        std::string trouble;  // why this batch is left out, when it is
        if (!take_step) {
            trouble = divergence_report("the loss is " + std::to_string(loss.loss), output_report(), result.epoch);
            if (non_finite_policy_ == NonFinitePolicy::stop) throw TrainingDiverged(trouble + kSkippable);
        }
        if (take_step) {
            network_.backward(grad_logits_);
            // The whole arena in one all-reduce: each rank's part of the global batch's gradient.
            if (communicator_ != nullptr) communicator_->all_reduce_sum(network_.gradients());
            take_step = all_finite(network_.gradients());
            if (!take_step) {
                trouble = divergence_report("the loss is " + std::to_string(loss.loss) + " but the gradients are not finite",
                                            gradient_report(), result.epoch);
                if (non_finite_policy_ == NonFinitePolicy::stop) throw TrainingDiverged(trouble + kSkippable);
            }
        }
        if (take_step) {
            optimizer_.step(network_.trainable_values(), network_.gradients());
            // A finite gradient times the learning rate can still overflow. The step cannot be
            // undone, so this stops under either policy; the files written so far are the last good ones.
            if (!all_finite(network_.all_values()))
                throw TrainingDiverged(
                    divergence_report("the step left values that are not finite", weights_report(), result.epoch) +
                    " The weights are no longer usable and --on-nan skip cannot undo a step already taken; any checkpoint or weights "
                    "file written so far is from before this step.");
            if (communicator_ != nullptr && !synchronised_batch_norm_) average_buffers();
            if (ema_decay_ > 0.0) update_average(ema_decay_);
            position_.loss_sum += loss.loss * double(size);
            position_.correct += loss.correct;
            position_.counted += loss.counted;
        } else {
            if (skipped_steps_ == 0) first_skipped_ = std::move(trouble);
            ++skipped_steps_;
            skipped_images_ += size;
        }
        position_.images_done += size;
        ++position_.steps_done;
        position_.seconds = seconds_so_far();
        if (progress)
            progress(TrainProgress{result.epoch, position_.images_done, dataset.count, position_.loss_sum / double(position_.images_done),
                                   position_.seconds});
        if (first + size < dataset.count && keep_going && !keep_going()) {
            result.finished = false;
            return result;
        }
    }
    result.seconds = seconds_so_far();
    const double counted = double(position_.images_done - skipped_images_);  // images

    // An epoch of nothing but skipped batches learns nothing: going on would only repeat it.
    if (counted == 0 && skipped_steps_ > 0)
        throw TrainingDiverged("every batch of epoch " + std::to_string(result.epoch) + " (" + std::to_string(skipped_steps_) +
                               ") was left out under --on-nan skip, so nothing was learned. The first: " + first_skipped_);
    result.train_loss = counted > 0 ? position_.loss_sum / counted : std::numeric_limits<double>::quiet_NaN();
    result.train_accuracy = position_.counted > 0 ? double(position_.correct) / double(position_.counted) : 0.0;
    result.skipped_steps = skipped_steps_;
    skipped_steps_ = skipped_images_ = 0;
    result.images_per_second = double(position_.images_done) / result.seconds;
    if (communicator_ != nullptr) result.communication_seconds = communicator_->communication_seconds() - communication_at_start;
    position_ = TrainingPosition{position_.epochs_done + 1, 0, position_.steps_done};
    return result;
}

LossResult Trainer::global_loss(const LossResult& local) {
    // A NaN on any rank makes the sum NaN on every rank, so all of them stop or skip alike.
    std::vector<double> totals{local.loss * local.denominator, double(local.correct), double(local.counted), local.denominator};
    communicator_->all_reduce_sum(totals);
    // This rank's logits' gradient of the global batch's mean loss: the shard's mean's, scaled by
    // the shard's part of the global mean's denominator (its images, or its weighted labelled pixels).
    const double denominator = totals[3];
    const float scale = denominator > 0.0 ? static_cast<float>(local.denominator / denominator) : 0.0f;
    for (std::int64_t i = 0; i < grad_logits_.size(); ++i) grad_logits_[i] *= scale;
    return LossResult{denominator > 0.0 ? totals[0] / denominator : 0.0, static_cast<std::int64_t>(totals[1]),
                      static_cast<std::int64_t>(totals[2]), denominator};
}

void Trainer::average_buffers() {
    const std::span<float> buffers = network_.buffers();
    if (buffers.empty()) return;
    communicator_->all_reduce_sum(buffers);
    const float ranks = static_cast<float>(communicator_->size());
    for (float& value : buffers) value /= ranks;
}

void Trainer::set_communicator(Communicator* communicator, bool sync_batch_norm) {
    if (communicator != nullptr) {
        const std::int64_t minimum = network_.minimum_training_batch() * communicator->size();
        if (batch_size_ < minimum)
            throw Error("batch size " + std::to_string(batch_size_) + " over " + std::to_string(communicator->size()) +
                        " ranks: expected at least " + std::to_string(minimum) + ", " + std::to_string(network_.minimum_training_batch()) +
                        " a rank");
        // The same masks on every rank would drop the same units of different images.
        for (const auto& [name, generator] : network_.random_generators())
            generator->set_state(generator->state() ^ (0xD1B54A32D192ED03ull * static_cast<std::uint64_t>(communicator->rank())));
    }
    // One rank is one process: no collectives, so that it computes one process's bytes.
    communicator_ = communicator != nullptr && communicator->size() > 1 ? communicator : nullptr;
    synchronised_batch_norm_ = sync_batch_norm;
    network_.synchronise_batch_norm(sync_batch_norm ? communicator_ : nullptr);
}

std::string Trainer::weights_report() const {
    // The first entry in layer order (parameters, then buffers): a bad value early in the network
    // spoils everything after it.
    std::vector<NamedParameter> entries = network_.named_parameters();
    for (NamedParameter& buffer : network_.named_buffers()) entries.push_back(std::move(buffer));
    for (const NamedParameter& entry : entries) {
        const std::span<const float> values(entry.parameter->value, static_cast<std::size_t>(entry.parameter->shape.element_count()));
        if (!all_finite(values))
            return "the weights are not finite from " + entry.name + " on (" + std::to_string(non_finite_count(values)) + " of " +
                   std::to_string(values.size()) + " values)";
    }
    return {};
}

std::string Trainer::output_report() const {
    std::string where = weights_report();
    if (where.empty()) {
        Tensor logits;
        network_.observe(images_, logits, [&](std::size_t, const LayerPlan& plan, const Tensor& output) {
            if (where.empty() && !all_finite(std::span(output.data(), static_cast<std::size_t>(output.size()))))
                where = "the first layer whose output is not finite for this batch: " + plan.name + " (" + plan.layer->type() + ")";
        });
    }
    if (where.empty())
        where = "every layer's output is finite in evaluation mode: the overflow is in training mode's batch statistics or the loss";
    return where;
}

std::string Trainer::gradient_report() const {
    // Backward runs from the last layer to the first, so the last parameter in layer order whose
    // gradient is bad is the first to have gone bad; the earlier ones follow from it.
    const std::vector<NamedParameter> entries = network_.named_parameters();
    for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
        if (entry->parameter->grad == nullptr) continue;
        const std::span<const float> gradient(entry->parameter->grad, static_cast<std::size_t>(entry->parameter->shape.element_count()));
        if (!all_finite(gradient))
            return "the first gradient to go bad in backward (which runs from the last layer): " + entry->name + " (" +
                   std::to_string(non_finite_count(gradient)) + " of " + std::to_string(gradient.size()) + " values not finite)";
    }
    return "the gradients of no single parameter are bad";  // not reached: the arena is the parameters' gradients
}

std::string Trainer::divergence_report(const std::string& what, const std::string& where, int epoch) const {
    const std::string report = "training diverged at step " + std::to_string(position_.steps_done + 1) + " (epoch " +
                               std::to_string(epoch) + ", images " + std::to_string(position_.images_done + 1) + " to " +
                               std::to_string(position_.images_done + images_.shape()[0]) + "): " + what;
    // The likely cause, against the rates these optimisers are usually run at.
    const OptimizerOptions options = optimizer_.options();
    const double usual = options.name == "sgd" ? 0.1 : 1e-3;
    std::ostringstream rate;
    rate << optimizer_.learning_rate() << " is far above the usual " << usual << " for " << options.name;
    const std::string cause =
        optimizer_.learning_rate() > 10.0 * usual
            ? "learning rate " + rate.str()
            : "the step overshot: lower the learning rate (--lr), normalise the inputs (--normalize auto), or add batch norm";
    return report + "; " + where + "; likely cause: " + cause + ".";
}

void Trainer::update_average(double decay) {
    const std::span<const float> values = network_.all_values();
    if (average_.empty()) {  // as AveragedModel: the first update copies
        average_.assign(values.begin(), values.end());
        return;
    }
    for (std::size_t i = 0; i < average_.size(); ++i)
        average_[i] = static_cast<float>(decay * double(average_[i]) + (1.0 - decay) * double(values[i]));
}

void Trainer::swap_average() {
    if (average_.empty()) return;
    const std::span<float> trainable = network_.trainable_values(), buffers = network_.buffers();  // both mark the values changed
    std::swap_ranges(trainable.begin(), trainable.end(), average_.begin());
    std::swap_ranges(buffers.begin(), buffers.end(), average_.begin() + static_cast<std::ptrdiff_t>(trainable.size()));
}

void Trainer::set_label_smoothing(double label_smoothing) {
    if (!(label_smoothing >= 0.0 && label_smoothing < 1.0))
        throw Error("label smoothing " + std::to_string(label_smoothing) + ": expected a value in [0, 1)");
    loss_options_.label_smoothing = label_smoothing;
}

void Trainer::set_class_weights(const std::vector<float>& weights) {
    for (const float weight : weights)
        if (!(weight >= 0.0f) || !std::isfinite(weight))
            throw Error("class weight " + std::to_string(weight) + ": expected a finite value of 0 or more");
    loss_options_.weight = weights;
}

std::int64_t Trainer::smallest_batch() const {
    // Every rank's shard of a batch needs the network's minimum.
    return network_.minimum_training_batch() * (communicator_ != nullptr ? communicator_->size() : 1);
}

std::int64_t Trainer::batch_at(std::int64_t first, std::int64_t count) const {
    // Every image is used: a last batch smaller than the network can train on (one image, under
    // a batch norm that needs two) joins the batch before it.
    const std::int64_t size = std::min(batch_size_, count - first), rest = count - first - size;
    return rest > 0 && rest < smallest_batch() ? size + rest : size;
}

std::int64_t Trainer::steps_per_epoch(std::int64_t count) const {
    std::int64_t steps = 0;
    for (std::int64_t first = 0; first < count; first += batch_at(first, count)) ++steps;
    return steps;
}

Checkpoint Trainer::checkpoint(const FitOptions& options) const {
    Checkpoint checkpoint;
    checkpoint.weights = options.metadata;
    checkpoint.model_state = network_.state_dict();
    checkpoint.optimizer = optimizer_.options();
    checkpoint.optimizer.learning_rate = options.learning_rate > 0.0 ? options.learning_rate : base_learning_rate_;
    checkpoint.optimizer_state = optimizer_.state();
    checkpoint.schedule = options.schedule;
    checkpoint.batch_size = batch_size_;
    checkpoint.seed = seed_;
    checkpoint.epochs = options.epochs;
    checkpoint.checkpoint_every = options.checkpoint_every;
    checkpoint.augmentation = options.augmentation;
    checkpoint.data_fingerprint = data_fingerprint_;
    checkpoint.threads = thread_count();
    checkpoint.ranks = communicator_ != nullptr ? communicator_->size() : 1;
    checkpoint.sync_batch_norm = synchronised_batch_norm_;
    checkpoint.label_smoothing = loss_options_.label_smoothing;
    checkpoint.class_weights = loss_options_.weight;
    checkpoint.test_time_augmentation = options.test_time_augmentation;
    checkpoint.ema_decay = options.ema_decay;
    checkpoint.ema_values = average_;
    checkpoint.position = position_;
    for (const auto& [name, generator] : network_.random_generators()) checkpoint.generators.emplace_back(name, generator->state());
    checkpoint.metrics = metrics_;
    return checkpoint;
}

void Trainer::restore(const Checkpoint& checkpoint) {
    if (checkpoint.batch_size != batch_size_ || checkpoint.seed != seed_)
        throw Error("the checkpoint was written with batch " + std::to_string(checkpoint.batch_size) + " and seed " +
                    std::to_string(checkpoint.seed) + ", this run has batch " + std::to_string(batch_size_) + " and seed " +
                    std::to_string(seed_));
    const std::string name = optimizer_.options().name;
    if (checkpoint.optimizer.name != name)
        throw Error("the checkpoint holds the state of " + checkpoint.optimizer.name + ", this run's optimiser is " + name);
    network_.load_state_dict(checkpoint.model_state, /*strict=*/true);  // names and shapes first: the clearest message
    for (const auto& [buffer, values] : checkpoint.optimizer_state.buffers)
        if (static_cast<std::int64_t>(values.size()) != network_.trainable_count())
            throw Error("the checkpoint's optimiser state " + buffer + " holds " + std::to_string(values.size()) +
                        " values, but the model has " + std::to_string(network_.trainable_count()) +
                        " trainable values (a checkpoint whose parts do not belong together)");
    auto generators = network_.random_generators();
    std::vector<std::string> expected, found;
    for (const auto& entry : generators) expected.push_back(entry.first);
    for (const auto& entry : checkpoint.generators) found.push_back(entry.first);
    if (expected != found) throw Error("the checkpoint's random generators do not match the layers of " + network_.source());
    optimizer_.load_state(checkpoint.optimizer_state);
    for (std::size_t i = 0; i < generators.size(); ++i) generators[i].second->set_state(checkpoint.generators[i].second);
    if (!checkpoint.ema_values.empty() && checkpoint.ema_values.size() != network_.all_values().size())
        throw Error("the checkpoint's weight average holds " + std::to_string(checkpoint.ema_values.size()) + " values, the model " +
                    std::to_string(network_.all_values().size()));
    average_ = checkpoint.ema_values;
    position_ = checkpoint.position;
    metrics_ = checkpoint.metrics;
    metrics_restored_ = true;
    data_fingerprint_ = checkpoint.data_fingerprint;
}

FitResult Trainer::fit(const Dataset& train, const Dataset& test, const FitOptions& options, const FitCallbacks& callbacks) {
    if (!options.metrics.empty() && !metrics_restored_) {  // appended to what is there
        std::ifstream existing(options.metrics, std::ios::binary);
        metrics_.assign(std::istreambuf_iterator<char>(existing), std::istreambuf_iterator<char>());
    }
    const std::int64_t evaluation_batch = options.evaluation_batch > 0 ? options.evaluation_batch : batch_size_;
    set_batch_transform(options.metadata.preprocessing, options.augmentation);
    set_label_smoothing(options.label_smoothing);
    set_class_weights(options.class_weights);
    if (!(options.ema_decay >= 0.0 && options.ema_decay < 1.0))
        throw Error("weight averaging: decay " + std::to_string(options.ema_decay) + ", expected a value in [0, 1)");
    ema_decay_ = options.ema_decay;
    if (options.eval_every < 1) throw Error("eval_every " + std::to_string(options.eval_every) + ": expected 1 or more epochs");
    const double base = options.learning_rate > 0.0 ? options.learning_rate : base_learning_rate_;
    step_schedule_.reset();
    if (options.schedule.per_step()) {
        const std::int64_t per_epoch = steps_per_epoch(train.count);
        step_schedule_ = StepSchedule{options.schedule, base, per_epoch * options.epochs, per_epoch};
    }
    // A restored run must go on with the data it started on: the shuffle and the position index it.
    const std::uint64_t fingerprint = dataset_fingerprint(train);
    if (data_fingerprint_ != 0 && data_fingerprint_ != fingerprint)
        throw Error("the checkpoint was written training on other data than these " + std::to_string(train.count) + " images (" +
                    std::to_string(train.channels) + "x" + std::to_string(train.height) + "x" + std::to_string(train.width) +
                    "): resume with the --data it was started with");
    data_fingerprint_ = fingerprint;
    // Distributed, rank 0 alone writes (every rank holds the same weights and optimiser state).
    const bool writes = communicator_ == nullptr || communicator_->rank() == 0;
    const auto write_checkpoint_now = [&] {
        if (writes && !options.checkpoint.empty()) write_checkpoint(options.checkpoint, checkpoint(options), network_);
    };
    // A stop asked of any rank stops all of them at the same step.
    const auto stop_requested = [&] {
        bool stop = callbacks.stop_requested && callbacks.stop_requested();
        if (communicator_ != nullptr) {
            std::vector<double> any{stop ? 1.0 : 0.0};
            communicator_->all_reduce_sum(any);
            stop = any[0] > 0.0;
        }
        return stop;
    };
    const auto keep_going = [&] {
        if (options.checkpoint_every > 0 && position_.steps_done % options.checkpoint_every == 0) write_checkpoint_now();
        if (stop_requested()) {
            if (options.checkpoint_every == 0 || position_.steps_done % options.checkpoint_every != 0) write_checkpoint_now();
            return false;
        }
        return true;
    };
    FitResult result;
    while (position_.epochs_done < options.epochs) {
        if (!step_schedule_) optimizer_.set_learning_rate(options.schedule.rate(base, position_.epochs_done));
        const EpochResult trained = train_epoch(train, callbacks.batch_done, keep_going);
        if (!trained.finished) {
            result.interrupted = true;
            return result;
        }
        {
            // Evaluated and saved: the average, when there is one; the training values come back after.
            swap_average();
            struct Restore {
                Trainer* trainer;
                ~Restore() { trainer->swap_average(); }
            } restore{this};
            const bool evaluated = position_.epochs_done % options.eval_every == 0 || position_.epochs_done == options.epochs;
            if (evaluated)
                result.last = evaluate(network_, test, evaluation_batch, options.metadata.preprocessing, communicator_,
                                       options.test_time_augmentation);
            const Evaluation* tested = evaluated ? &result.last : nullptr;
            if (callbacks.epoch_done) callbacks.epoch_done(trained, tested);
            if (!options.metrics.empty()) {
                metrics_ += epoch_metrics_json(trained, tested) + "\n";
                if (writes) write_file_atomically(options.metrics, metrics_);
            }
            if (writes && !options.save.empty()) save_weights(network_, options.save, options.metadata);
        }
        write_checkpoint_now();
        if (position_.epochs_done < options.epochs && stop_requested()) {
            result.interrupted = true;
            return result;
        }
    }
    // The run is over: the network is what was evaluated and saved.
    swap_average();
    average_.clear();
    return result;
}

}  // namespace convnet
