// The oneDNN backend's executor: plans of stages per batch size and mode, built from the fusion
// recipes and the stage table, with every memory allocated once and reused on every step.
#include "fusion.h"
#include "stage.h"

#include <map>

namespace convnet::engine::onednn {

namespace {

BatchNorm& layer_as_norm(Layer& layer) {
    auto* norm = dynamic_cast<BatchNorm*>(&layer);
    if (norm == nullptr) throw Error("oneDNN path: a convolution can fold only a batch norm, not " + layer.type());
    return *norm;
}

}  // namespace

struct OnednnExecutor::Impl {
    const std::vector<LayerPlan>& layers;
    std::vector<StageRecipe> training_recipes, inference_recipes;
    Context context;

    // Every primitive and memory for one batch size and mode.
    struct Plan {
        memory input;
        std::vector<std::unique_ptr<Stage>> stages;
        memory grad_logits;
        Tensor logits;
        std::vector<Tensor> buffers;                   // the activations and gradients the stages point into
        std::optional<std::uint64_t> weights_version;  // evaluation: the parameters last brought in

        // Gives each memory its own buffer (training keeps every activation for backward).
        void bind_each(const std::vector<memory>& memories) {
            for (const memory& target : memories) {
                buffers.emplace_back(Shape{static_cast<std::int64_t>(target.get_desc().get_size() / sizeof(float)) + 1});
                target.set_data_handle(buffers.back().data());
            }
        }
        // Gives the memories two buffers in turn: each is read only by the next one's producer.
        void bind_alternating(const std::vector<memory>& memories) {
            std::size_t largest = 0;
            for (const memory& target : memories) largest = std::max(largest, target.get_desc().get_size());
            const auto floats = static_cast<std::int64_t>(largest / sizeof(float)) + 1;
            Tensor& first = buffers.emplace_back(Shape{floats});
            Tensor& second = buffers.emplace_back(Shape{floats});
            for (std::size_t i = 0; i < memories.size(); ++i) memories[i].set_data_handle(i % 2 == 0 ? first.data() : second.data());
        }
    };
    std::map<std::int64_t, std::unique_ptr<Plan>> training_plans, inference_plans;
    Plan* last_training = nullptr;

    explicit Impl(const std::vector<LayerPlan>& layer_plans) : layers(layer_plans) {}

    std::unique_ptr<Plan> build(std::int64_t batch, bool training) {
        auto plan = std::make_unique<Plan>();
        const Shape input_shape = layers.front().input.with_batch(batch);
        plan->input = memory({to_dims(input_shape), f32, plain_tag(input_shape.rank())}, context.engine, nullptr);
        memory current = plan->input;
        for (const StageRecipe& recipe : training ? training_recipes : inference_recipes) {
            Layer& layer = *layers[recipe.layer].layer;
            const Shape output = layers[recipe.last].output.with_batch(batch);
            BatchNorm* folded_norm = recipe.folded_norm ? &layer_as_norm(*layers[*recipe.folded_norm].layer) : nullptr;
            const StageRequest request{layer, output, current, training, recipe.fuse_relu, folded_norm, context};
            std::unique_ptr<Stage> stage = fast_path_decision(layer.type())->make_stage(request);
            if (!stage) continue;  // the identity in this mode
            current = stage->dst();
            plan->stages.push_back(std::move(stage));
        }
        plan->logits.resize(layers.back().output.with_batch(batch));
        // The last stage writes plain (N, classes); let it write straight into the logits tensor.
        if (current.get_desc() != memory::desc(to_dims(plan->logits.shape()), f32, Tag::ab))
            throw Error("oneDNN path: the network's output is not a plain (N, classes) matrix");
        current.set_data_handle(plan->logits.data());
        std::vector<memory> activations;
        for (std::size_t i = 0; i + 1 < plan->stages.size(); ++i) activations.push_back(plan->stages[i]->dst());
        plan->buffers.reserve(activations.size() + 4);  // Tensors must not move once memories point into them
        if (!training) {
            plan->bind_alternating(activations);
            return plan;
        }
        plan->bind_each(activations);
        plan->grad_logits = memory(current.get_desc(), context.engine, nullptr);
        memory diff = plan->grad_logits;
        std::vector<memory> gradients;  // in the order backward produces them
        for (std::size_t i = plan->stages.size(); i-- > 0;) {
            plan->stages[i]->connect_backward(diff, i > 0, context);
            diff = plan->stages[i]->diff_src();
            if (i > 0) gradients.push_back(diff);
        }
        if (!gradients.empty()) plan->bind_alternating(gradients);
        return plan;
    }

    Plan& plan_for(std::int64_t batch, bool training) {
        auto& plans = training ? training_plans : inference_plans;
        auto found = plans.find(batch);
        if (found != plans.end()) return *found->second;
        if (plans.size() >= 4) plans.clear();  // batch sizes change rarely; keep memory bounded
        return *plans.emplace(batch, build(batch, training)).first->second;
    }

    void run_forward(Plan& plan, const Tensor& input, bool weights_changed) {
        plan.input.set_data_handle(const_cast<float*>(input.data()));  // read only: the first stage never writes its input
        if (weights_changed)
            for (auto& stage : plan.stages) stage->prepare_weights(context.stream);
        for (auto& stage : plan.stages) stage->forward(context.stream);
        context.stream.wait();
    }
};

std::unique_ptr<Executor> OnednnExecutor::create(const std::vector<LayerPlan>& layers, std::string& why_not) {
    auto impl = std::make_unique<Impl>(layers);
    std::optional<std::vector<StageRecipe>> training = plan_stages(layers, true, why_not);
    if (!training) return nullptr;
    std::optional<std::vector<StageRecipe>> inference = plan_stages(layers, false, why_not);
    if (!inference) return nullptr;
    impl->training_recipes = std::move(*training);
    impl->inference_recipes = std::move(*inference);
    try {
        impl->build(2, true);  // fail here, not mid-training, when oneDNN rejects a shape
        impl->build(2, false);
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
    for (std::size_t i = plan->stages.size(); i-- > 0;) plan->stages[i]->backward(impl_->context.stream);
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
