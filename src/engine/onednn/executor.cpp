// The oneDNN backend's executor: plans of stages per batch size and mode, built from the fusion
// recipes and the stage table and wired along the graph (a stage reads the outputs its layer's
// from= names), with every memory allocated once and reused on every step.
#include "fusion.h"
#include "stage.h"

#include <algorithm>
#include <deque>
#include <map>

namespace convnet::engine::onednn {

namespace {

BatchNorm& layer_as_norm(Layer& layer) {
    auto* norm = dynamic_cast<BatchNorm*>(&layer);
    if (norm == nullptr) throw Error("oneDNN path: a convolution can fold only a batch norm, not " + layer.type());
    return *norm;
}

// A memory that needs a buffer, and the steps [first, last] during which it holds a value.
struct Lifetime {
    memory target;
    std::size_t first, last;
};

}  // namespace

struct OnednnExecutor::Impl {
    const std::vector<LayerPlan>& layers;
    std::vector<StageRecipe> training_recipes, inference_recipes;
    Context context;

    // Every primitive and memory for one batch size and mode.
    struct Plan {
        memory input;
        std::vector<std::unique_ptr<Stage>> stages;
        // Per stage, the stages whose outputs it reads (kNetworkInput for the network's input).
        std::vector<std::vector<int>> sources;
        // Per stage, in training: when several stages read its output, the sum of their input
        // gradients into its diff_dst, run just before its backward.
        std::vector<std::optional<std::pair<dnnl::sum, Args>>> gradient_sums;
        memory grad_logits;
        Tensor logits;
        std::deque<Tensor> buffers;                    // the activations and gradients the stages point into (stable addresses)
        std::optional<std::uint64_t> weights_version;  // evaluation: the parameters last brought in

        // Gives each memory its own buffer (training keeps every activation for backward).
        void bind_each(const std::vector<memory>& memories) {
            for (const memory& target : memories) {
                buffers.emplace_back(Shape{static_cast<std::int64_t>(target.get_desc().get_size() / sizeof(float)) + 1});
                target.set_data_handle(buffers.back().data());
            }
        }
        // Gives memories whose lifetimes do not overlap the same buffer: a memory takes the
        // smallest free buffer that fits, else a new one. A memory handed out under several
        // names (add's gradient is its input's) lives from its first step to its last.
        void bind_by_lifetime(const std::vector<Lifetime>& lifetimes) {
            std::vector<Lifetime> merged;
            for (const Lifetime& lifetime : lifetimes) {
                auto same =
                    std::find_if(merged.begin(), merged.end(), [&](const Lifetime& m) { return m.target.get() == lifetime.target.get(); });
                if (same == merged.end()) merged.push_back(lifetime);
                else same->first = std::min(same->first, lifetime.first), same->last = std::max(same->last, lifetime.last);
            }
            std::sort(merged.begin(), merged.end(), [](const Lifetime& a, const Lifetime& b) { return a.first < b.first; });
            struct Slot {
                Tensor* buffer;
                std::size_t busy_until;
            };
            std::vector<Slot> slots;
            for (const Lifetime& lifetime : merged) {
                const auto floats = static_cast<std::int64_t>(lifetime.target.get_desc().get_size() / sizeof(float)) + 1;
                Slot* best = nullptr;
                for (Slot& slot : slots)
                    if (slot.busy_until < lifetime.first && slot.buffer->size() >= floats &&
                        (best == nullptr || slot.buffer->size() < best->buffer->size()))
                        best = &slot;
                if (best == nullptr) {
                    slots.push_back({&buffers.emplace_back(Shape{floats}), 0});
                    best = &slots.back();
                }
                best->busy_until = lifetime.last;
                lifetime.target.set_data_handle(best->buffer->data());
            }
        }
    };
    std::map<std::int64_t, std::unique_ptr<Plan>> training_plans, inference_plans;
    Plan* last_training = nullptr;

    explicit Impl(const std::vector<LayerPlan>& layer_plans) : layers(layer_plans) {}

    std::unique_ptr<Plan> build(std::int64_t batch, bool training) {
        auto plan = std::make_unique<Plan>();
        // The first layer reads the network's input alone (nothing is above it).
        const Shape input_shape = layers.front().input.with_batch(batch);
        plan->input = memory({to_dims(input_shape), f32, plain_tag(input_shape.rank())}, context.engine, nullptr);

        std::vector<memory> outputs(layers.size());    // the memory holding each layer's output
        std::vector<int> producer(layers.size(), -1);  // the stage writing it (kNetworkInput: the input itself)
        for (const StageRecipe& recipe : training ? training_recipes : inference_recipes) {
            std::vector<memory> sources;
            std::vector<int> source_stages;
            for (int source : layers[recipe.first].inputs) {
                const bool network_input = source == kNetworkInput;
                sources.push_back(network_input ? plan->input : outputs[static_cast<std::size_t>(source)]);
                source_stages.push_back(network_input ? kNetworkInput : producer[static_cast<std::size_t>(source)]);
            }
            Layer& layer = *layers[recipe.layer].layer;
            const Shape output = layers[recipe.last].output.with_batch(batch);
            BatchNorm* folded_norm = recipe.folded_norm ? &layer_as_norm(*layers[*recipe.folded_norm].layer) : nullptr;
            const StageRequest request{layer,       output, sources.front(), sources, training, recipe.fuse_relu, recipe.fuse_max_pool,
                                       folded_norm, context};
            std::unique_ptr<Stage> stage = fast_path_decision(layer.type())->make_stage(request);
            if (!stage) {  // the identity in this mode: the output is the input
                outputs[recipe.last] = sources.front();
                producer[recipe.last] = source_stages.front();
                continue;
            }
            outputs[recipe.last] = stage->dst();
            producer[recipe.last] = static_cast<int>(plan->stages.size());
            plan->stages.push_back(std::move(stage));
            plan->sources.push_back(std::move(source_stages));
        }
        plan->logits.resize(layers.back().output.with_batch(batch));
        // The last stage writes plain (N, classes), straight into the logits tensor; a per-pixel
        // output (N, classes, H, W) in a blocked layout gets a reorder stage of its own.
        const memory::desc plain(to_dims(plan->logits.shape()), f32, plain_tag(plan->logits.shape().rank()));
        if (outputs.back().get_desc() != plain) {
            const int last = producer.back();
            plan->stages.push_back(make_layout_stage(outputs.back(), plain, context));
            plan->sources.push_back({last});
            outputs.back() = plan->stages.back()->dst();
        }
        const memory output = outputs.back();
        output.set_data_handle(plan->logits.data());

        const std::size_t count = plan->stages.size();
        if (!training) {
            // An activation lives from the stage that writes it to the last stage that reads it.
            std::vector<Lifetime> lifetimes;
            for (std::size_t s = 0; s < count; ++s) lifetimes.push_back({plan->stages[s]->dst(), s, s});
            for (std::size_t s = 0; s < count; ++s)
                for (int source : plan->sources[s])
                    if (source != kNetworkInput) lifetimes[static_cast<std::size_t>(source)].last = s;
            std::erase_if(lifetimes, [&](const Lifetime& lifetime) { return lifetime.target.get() == output.get(); });
            plan->bind_by_lifetime(lifetimes);
            return plan;
        }
        std::vector<memory> activations;
        for (std::size_t s = 0; s < count; ++s)
            if (plan->stages[s]->dst().get() != output.get()) activations.push_back(plan->stages[s]->dst());
        plan->bind_each(activations);
        connect_backward(*plan, output);
        return plan;
    }

    // Wires the gradients from the last stage to the first; backward step t runs stage
    // count − 1 − t (after the sum of its readers' gradients, when it has several readers).
    void connect_backward(Plan& plan, const memory& output) {
        const std::size_t count = plan.stages.size();
        plan.grad_logits = memory(output.get_desc(), context.engine, nullptr);
        plan.gradient_sums.resize(count);
        const auto step = [&](std::size_t stage) { return count - 1 - stage; };
        std::vector<Lifetime> lifetimes;
        for (std::size_t s = count; s-- > 0;) {
            std::vector<memory> contributions;  // the gradients at s's output, from each reader
            if (plan.stages[s]->dst().get() == output.get()) contributions.push_back(plan.grad_logits);
            for (std::size_t reader = s + 1; reader < count; ++reader)
                for (std::size_t k = 0; k < plan.sources[reader].size(); ++k)
                    if (plan.sources[reader][k] == static_cast<int>(s)) {
                        contributions.push_back(plan.stages[reader]->diff_src(k));
                        lifetimes.push_back({contributions.back(), step(reader), step(s)});
                    }
            if (contributions.empty()) throw Error("oneDNN path: a stage's output is read by nothing");
            memory diff_dst = contributions.front();
            if (contributions.size() > 1) {
                // An output read by several layers gets the sum of their gradients.
                std::vector<memory::desc> descs;
                for (const memory& contribution : contributions) descs.push_back(contribution.get_desc());
                diff_dst = unbound(plan.stages[s]->dst().get_desc(), context);
                const dnnl::sum::primitive_desc pd(diff_dst.get_desc(), std::vector<float>(descs.size(), 1.0f), descs, context.engine);
                Args args{{DNNL_ARG_DST, diff_dst}};
                for (std::size_t k = 0; k < contributions.size(); ++k)
                    args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), contributions[k]);
                plan.gradient_sums[s] = std::pair{dnnl::sum(pd), std::move(args)};
                lifetimes.push_back({diff_dst, step(s), step(s)});
            }
            const bool reads_a_stage =
                std::any_of(plan.sources[s].begin(), plan.sources[s].end(), [](int source) { return source != kNetworkInput; });
            plan.stages[s]->connect_backward(diff_dst, reads_a_stage, context);
            // A gradient for the network's input is never read: it needs a buffer for one step.
            for (std::size_t k = 0; k < plan.sources[s].size(); ++k)
                if (reads_a_stage && plan.sources[s][k] == kNetworkInput)
                    lifetimes.push_back({plan.stages[s]->diff_src(k), step(s), step(s)});
        }
        // Only the memories the stages left without a buffer; grad_logits is the caller's.
        std::erase_if(lifetimes, [&](const Lifetime& lifetime) {
            return lifetime.target.get() == plan.grad_logits.get() || lifetime.target.get_data_handle() != nullptr;
        });
        plan.bind_by_lifetime(lifetimes);
    }

    Plan& plan_for(std::int64_t batch, bool training) {
        auto& plans = training ? training_plans : inference_plans;
        auto found = plans.find(batch);
        if (found != plans.end()) return *found->second;
        if (plans.size() >= 4) plans.clear();  // batch sizes change rarely; keep memory bounded
        return *plans.emplace(batch, build(batch, training)).first->second;
    }

    void run_forward(Plan& plan, const Tensor& input, bool weights_changed) {
        plan.input.set_data_handle(const_cast<float*>(input.data()));  // read only: no stage writes its input
        if (weights_changed)
            for (auto& stage : plan.stages) stage->prepare_weights(context.stream);
        for (auto& stage : plan.stages) stage->forward(context.stream);
        context.stream.wait();
    }
};

std::unique_ptr<Executor> OnednnExecutor::create(const std::vector<LayerPlan>& layers, std::string& why_not) {
    return create(layers, why_not, OwnKernels::where_they_apply);
}

std::unique_ptr<Executor> OnednnExecutor::create(const std::vector<LayerPlan>& layers, std::string& why_not, OwnKernels own_kernels) {
    auto impl = std::make_unique<Impl>(layers);
    impl->context.own_kernels = own_kernels;
    std::optional<std::vector<StageRecipe>> training = plan_stages(layers, true, own_kernels, why_not);
    if (!training) return nullptr;
    std::optional<std::vector<StageRecipe>> inference = plan_stages(layers, false, own_kernels, why_not);
    if (!inference) return nullptr;
    impl->training_recipes = std::move(*training);
    impl->inference_recipes = std::move(*inference);
    try {
        impl->build(kTrialBatch, true);  // fail here, not mid-training, when oneDNN rejects a shape
        impl->build(kTrialBatch, false);
    } catch (const std::exception& error) {
        why_not = error.what();
        return nullptr;
    }
    return std::unique_ptr<Executor>(new OnednnExecutor(std::move(impl)));
}

OnednnExecutor::OnednnExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnednnExecutor::~OnednnExecutor() = default;

const Tensor& OnednnExecutor::forward_train(const Tensor& input) {
    Impl::Plan& plan = impl_->plan_for(input.shape()[0], true);
    impl_->run_forward(plan, input, true);  // the optimiser changed them since the last step
    impl_->last_training = &plan;
    return plan.logits;
}

void OnednnExecutor::backward(const Tensor& grad_logits) {
    Impl::Plan* plan = impl_->last_training;
    if (plan == nullptr) throw Error("backward called before forward_train");
    plan->grad_logits.set_data_handle(const_cast<float*>(grad_logits.data()));  // read only
    for (std::size_t i = plan->stages.size(); i-- > 0;) {
        if (auto& sum = plan->gradient_sums[i]) sum->first.execute(impl_->context.stream, sum->second);
        plan->stages[i]->backward(impl_->context.stream);
    }
    impl_->context.stream.wait();
}

void OnednnExecutor::predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) {
    Impl::Plan& plan = impl_->plan_for(input.shape()[0], false);
    const bool weights_changed = !plan.weights_version || *plan.weights_version != parameter_version;
    impl_->run_forward(plan, input, weights_changed);
    plan.weights_version = parameter_version;
    logits.resize(plan.logits.shape());
    std::copy(plan.logits.data(), plan.logits.data() + plan.logits.size(), logits.data());
}

}  // namespace convnet::engine::onednn
