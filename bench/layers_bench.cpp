// `layers_bench`: Google Benchmark timings of every layer of a model (convnet1 by default) at the
// model's own shapes, forward (training mode) and backward, through the plain reference layers of
// the Layer API; and one whole training step of the network on the fast path and on the
// reference layers; the kernels of our own (src/kernels) beside the layers they serve; and the
// fast path's step without those kernels (OwnKernels::never), to compare. Counters: FLOP/s (2 per multiply-add, for layers that have
// multiply-adds) and bytes/s (the float tensors each call takes and gives, read or written once).
//
//   layers_bench [benchmark flags] [--model=FILE] [--batch=N]     threads: OMP_NUM_THREADS
#include "../src/engine/onednn/onednn.h"
#include "../src/kernels/batch_norm_relu_max_pool.h"
#include "../src/kernels/conv_weight_grad.h"

#include <convnet/core/random.h>
#include <convnet/nn/layers/conv2d.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>

#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using convnet::Shape;
using convnet::Tensor;

// One layer of the model, built from its model-file line, with its parameters bound to a local
// arena and initialised as the network would (as tests/unit/layer_harness.h does for one line).
struct BoundLayer {
    convnet::LayerPlan plan;
    convnet::ParameterArena arena;
    bool first = false;  // the network gives the first layer no input gradient to compute

    BoundLayer(convnet::LayerPlan layer_plan, bool is_first, convnet::Random& random)
        : plan(std::move(layer_plan)), arena({plan.layer.get()}), first(is_first) {
        plan.layer->initialize(random);
    }
};

void fill_uniform(Tensor& tensor, float low, float high, convnet::Random& random) {
    for (std::int64_t i = 0; i < tensor.size(); ++i) tensor[i] = random.uniform(low, high);
}

void set_counters(benchmark::State& state, double flops_per_call, double bytes_per_call) {
    if (flops_per_call > 0) state.counters["FLOP/s"] = benchmark::Counter(flops_per_call, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["bytes/s"] =
        benchmark::Counter(bytes_per_call, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1024);
}

void layer_forward(benchmark::State& state, std::shared_ptr<BoundLayer> bound, std::int64_t batch) {
    convnet::Random random(1);
    Tensor input(bound->plan.input.with_batch(batch)), output;
    fill_uniform(input, -1.0f, 1.0f, random);
    convnet::Layer& layer = *bound->plan.layer;
    layer.forward_train(input, output);  // sizes the output
    for (auto _ : state) {
        layer.forward_train(input, output);
        benchmark::DoNotOptimize(output.data());
    }
    const double macs = double(layer.multiply_adds(bound->plan.input)) * double(batch);
    set_counters(state, 2.0 * macs, 4.0 * double(input.size() + output.size()));
}

void layer_backward(benchmark::State& state, std::shared_ptr<BoundLayer> bound, std::int64_t batch) {
    convnet::Random random(2);
    Tensor input(bound->plan.input.with_batch(batch)), output, grad_input;
    fill_uniform(input, -1.0f, 1.0f, random);
    convnet::Layer& layer = *bound->plan.layer;
    layer.forward_train(input, output);
    Tensor grad_output(output.shape());
    fill_uniform(grad_output, -1e-2f, 1e-2f, random);
    Tensor* grad_input_pointer = bound->first ? nullptr : &grad_input;
    for (auto _ : state) {
        layer.backward(input, output, grad_output, grad_input_pointer);
        benchmark::DoNotOptimize(bound->arena.gradients().data());
    }
    // The weight gradient costs about one forward pass and so does the input gradient (the rule
    // of `convnet summary`'s training multiply-adds).
    const bool has_weights = layer.parameter_count(convnet::ParameterRole::trainable) > 0;
    const double passes = (has_weights ? 1.0 : 0.0) + (bound->first ? 0.0 : 1.0);
    const double macs = double(layer.multiply_adds(bound->plan.input)) * double(batch) * passes;
    const double tensors = double(input.size() + output.size() + grad_output.size()) + (bound->first ? 0.0 : double(input.size()));
    set_counters(state, 2.0 * macs, 4.0 * tensors);
}

// The channel block oneDNN gives activations in the step: 16 lanes on AVX-512, 8 on AVX2 or under
// ONEDNN_MAX_CPU_ISA=AVX2.
std::int64_t activation_block() {
    const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
    const bool limited = isa != nullptr && std::string_view(isa).substr(0, 6) != "AVX512" && std::string_view(isa) != "ALL";
    return __builtin_cpu_supports("avx512f") && !limited ? 16 : 8;
}

// (N, C, H, W) in `block`-channel blocks: (N, ⌈C/block⌉, H, W, block); 1 keeps it plain.
Shape blocked(const Shape& shape, std::int64_t block) {
    return block == 1 ? shape : Shape{shape[0], (shape[1] + block - 1) / block, shape[2], shape[3], block};
}

// The AVX2 weight-gradient kernel alone at a convolution's shape, in the layouts the step hands it:
// the network's input plain, a later layer's input and grad_output in activation_block() blocks.
void own_conv_weight_grad(benchmark::State& state, std::shared_ptr<BoundLayer> bound, std::int64_t batch) {
    auto& conv = dynamic_cast<convnet::Conv2d&>(*bound->plan.layer);
    const Shape input_shape = bound->plan.input.with_batch(batch), output_shape = bound->plan.output.with_batch(batch);
    const std::int64_t block = activation_block();
    const convnet::kernels::ConvWeightGradLayout layout{bound->first ? 1 : block, block};
    convnet::kernels::ConvWeightGrad kernel(convnet::Conv2dGeometry::of(conv.options(), conv.options().groups, input_shape, output_shape),
                                            layout);
    convnet::Random random(4);
    Tensor input(blocked(input_shape, layout.input_block)), grad_output(blocked(output_shape, block));
    fill_uniform(input, -1.0f, 1.0f, random);
    fill_uniform(grad_output, -1e-2f, 1e-2f, random);
    for (auto _ : state) {
        kernel.run(input.data(), grad_output.data(), conv.weight().grad, conv.bias() ? conv.bias()->grad : nullptr);
        benchmark::DoNotOptimize(conv.weight().grad);
    }
    set_counters(state, 2.0 * double(kernel.multiply_adds()), 4.0 * double(input.size() + grad_output.size()));
}

// The fused batch norm + relu + 2×2 max pool kernel alone at a batch norm's input (N, C, H, W),
// forward (statistics, pooled output) and backward (sums, input gradient), in the channel blocks
// oneDNN gives that tensor (activation_block()).
void own_batch_norm_relu_max_pool(benchmark::State& state, Shape input_shape) {
    const std::int64_t block = activation_block();
    convnet::kernels::BatchNormReluMaxPool kernel({input_shape[0], input_shape[1], input_shape[2], input_shape[3], block});
    convnet::Random random(5);
    Tensor input(blocked(input_shape, block));
    Tensor grad_output(blocked(Shape{input_shape[0], input_shape[1], kernel.output_height(), kernel.output_width()}, block)),
        output(grad_output.shape());
    Tensor grad_input(input.shape());
    fill_uniform(input, -1.0f, 1.0f, random);
    fill_uniform(grad_output, -1e-2f, 1e-2f, random);
    const auto channels = static_cast<std::size_t>(input_shape[1]);
    std::vector<float> weight(channels, 1.0f), bias(channels, 0.1f);
    std::vector<double> mean(channels), variance(channels), sum_dy(channels), sum_dy_xhat(channels);
    for (auto _ : state) {
        kernel.statistics(input.data(), mean, variance);
        kernel.forward(input.data(), weight.data(), bias.data(), mean, variance, 1e-5, output.data());
        kernel.gradient_sums(grad_output.data(), sum_dy, sum_dy_xhat);
        kernel.input_gradient(input.data(), grad_output.data(), weight.data(), mean, variance, 1e-5, sum_dy, sum_dy_xhat,
                              double(kernel.count()), grad_input.data());
        benchmark::DoNotOptimize(grad_input.data());
    }
    // The input read three times and its gradient written; the pooled output and forward's two
    // records written, the pooled gradient read twice and the records three times.
    set_counters(state, 0.0, 4.0 * double(4 * input.size() + 8 * output.size()));
}

// Training steps as Trainer runs them (forward, loss, backward, Adam) on random images, through
// `runner`: the Network itself, or an executor over its layers and arena.
template <typename Runner>
void run_steps(benchmark::State& state, Runner& runner, convnet::Network& network, std::int64_t batch, std::int64_t training_macs) {
    convnet::Random random(3);
    std::vector<std::int64_t> dims{batch};
    dims.insert(dims.end(), network.sample_shape().dims().begin(), network.sample_shape().dims().end());
    Tensor images{Shape(dims)};
    fill_uniform(images, 0.0f, 1.0f, random);
    std::vector<std::uint8_t> labels(static_cast<std::size_t>(batch));
    for (auto& label : labels) label = static_cast<std::uint8_t>(random.below(static_cast<std::uint64_t>(network.output_features())));
    convnet::Adam adam(convnet::AdamOptions{});
    Tensor grad_logits;
    for (auto _ : state) {
        const Tensor& logits = runner.forward_train(images);
        const convnet::LossResult loss = convnet::softmax_cross_entropy(logits, labels, &grad_logits);
        runner.backward(grad_logits);
        adam.step(network.trainable_values(), network.gradients());
        benchmark::DoNotOptimize(loss.loss);
    }
    state.counters["FLOP/s"] =
        benchmark::Counter(2.0 * double(training_macs) * double(batch), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// One training step of the network on the fast path or on the reference layers.
void network_step(benchmark::State& state, const convnet::ModelSpec& spec, bool fast, std::int64_t batch, std::int64_t training_macs) {
    convnet::Network network(spec);
    if (!fast) network.set_backend("reference");
    if (fast && !network.fast_path()) {
        state.SkipWithError(("no fast path: " + network.fast_path_unavailable()).c_str());
        return;
    }
    network.initialize(1);
    run_steps(state, network, network, batch, training_macs);
}

// The same on the fast path with our own kernels used as `own_kernels` says.
void onednn_step(benchmark::State& state, const convnet::ModelSpec& spec, convnet::engine::onednn::OwnKernels own_kernels,
                 std::int64_t batch, std::int64_t training_macs) {
    convnet::Network network(spec);
    network.initialize(1);
    std::string why_not;
    const auto executor = convnet::engine::onednn::OnednnExecutor::create(network.layer_plans(), why_not, own_kernels);
    if (!executor) {
        state.SkipWithError(("no fast path: " + why_not).c_str());
        return;
    }
    run_steps(state, *executor, network, batch, training_macs);
}

std::string option_value(int& argc, char** argv, const char* name, const std::string& fallback) {
    const std::string prefix = std::string("--") + name + "=";
    std::string value = fallback;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) value = argv[i] + prefix.size();
        else argv[kept++] = argv[i];
    }
    argc = kept;
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string model = option_value(argc, argv, "model", CONVNET_SOURCE_DIR "/models/convnet1.model");
    const std::int64_t batch = std::stoll(option_value(argc, argv, "batch", "100"));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    try {
        const convnet::ModelSpec spec = convnet::read_model_file(model);
        std::vector<convnet::LayerPlan> plans = convnet::plan_model(spec);
        benchmark::AddCustomContext("model", model);
        benchmark::AddCustomContext("batch", std::to_string(batch));
        benchmark::AddCustomContext("omp_threads", std::to_string(omp_get_max_threads()));

        convnet::Random random(1);
        std::int64_t training_macs = 0;
        for (std::size_t index = 0; index < plans.size(); ++index) {
            auto bound = std::make_shared<BoundLayer>(std::move(plans[index]), index == 0, random);
            const convnet::Layer& layer = *bound->plan.layer;
            const std::int64_t macs = layer.multiply_adds(bound->plan.input);
            training_macs += macs * (1 + (layer.parameter_count(convnet::ParameterRole::trainable) > 0 ? 1 : 0) + (index > 0 ? 1 : 0));
            // The shapes the row runs at, N×C×H×W as PyTorch writes them (the plan's are for one
            // image); a join's inputs joined by "+".
            std::string shapes;
            for (const Shape& shape : bound->plan.input_shapes.empty() ? std::vector<Shape>{bound->plan.input} : bound->plan.input_shapes) {
                if (!shapes.empty()) shapes += '+';
                shapes += shape.with_batch(batch).to_string();
            }
            const std::string name = bound->plan.name + "(" + layer.type() + " " + shapes + ")";
            benchmark::RegisterBenchmark((name + "/forward").c_str(), layer_forward, bound, batch)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark((name + "/backward").c_str(), layer_backward, bound, batch)
                ->Unit(benchmark::kMicrosecond)
                ->UseRealTime();
            if (layer.type() == "batchnorm2d" && index + 2 < plans.size() && plans[index + 1].layer->type() == "relu" &&
                plans[index + 2].layer->type() == "maxpool2d" &&
                convnet::kernels::halving_window(*plans[index + 2].layer->sliding_window()) &&
                convnet::kernels::batch_norm_relu_max_pool_available())
                benchmark::RegisterBenchmark((name + "/with_relu_maxpool_own_avx2").c_str(), own_batch_norm_relu_max_pool,
                                             bound->plan.input.with_batch(batch))
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
            const auto* conv = dynamic_cast<const convnet::Conv2d*>(&layer);
            if (conv != nullptr && conv->options().in_channels <= convnet::kernels::kWeightGradMostInChannels &&
                conv->options().groups == 1 && convnet::kernels::conv_weight_grad_available())
                benchmark::RegisterBenchmark((name + "/weight_grad_own_avx2").c_str(), own_conv_weight_grad, bound, batch)
                    ->Unit(benchmark::kMicrosecond)
                    ->UseRealTime();
        }
        benchmark::RegisterBenchmark("network/fast/train_step", network_step, spec, true, batch, training_macs)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        using convnet::engine::onednn::OwnKernels;
        benchmark::RegisterBenchmark("network/fast/own_kernels:never/train_step", onednn_step, spec, OwnKernels::never, batch,
                                     training_macs)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        benchmark::RegisterBenchmark("network/reference/train_step", network_step, spec, false, batch, training_macs)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "layers_bench: %s\n", error.what());
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
