// oneDNN execution of a whole network. Each layer (or fused pair) becomes a Stage holding its
// forward primitive and, for training, its backward primitives; a Plan chains the stages for one
// batch size so that every memory is allocated once and reused on every step.
#include "onednn_path.h"

#include <convnet/error.h>
#include <convnet/layers/avgpool2d.h>
#include <convnet/layers/batchnorm.h>
#include <convnet/layers/conv2d.h>
#include <convnet/layers/dropout.h>
#include <convnet/layers/flatten.h>
#include <convnet/layers/leakyrelu.h>
#include <convnet/layers/linear.h>
#include <convnet/layers/maxpool2d.h>
#include <convnet/layers/relu.h>
#include <convnet/layers/sigmoid.h>
#include <convnet/layers/tanh.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>

namespace convnet::engine {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Args = std::unordered_map<int, memory>;
constexpr auto f32 = memory::data_type::f32;

memory::dims to_dims(const Shape& shape) { return memory::dims(shape.dims().begin(), shape.dims().end()); }

// A reorder from one memory to another when their layouts differ; nothing when they agree.
struct Conversion {
    std::optional<dnnl::reorder> reorder;
    memory from, to;

    // Returns `source` itself when `wanted` is its layout, else a new memory in `wanted`.
    memory prepare(const memory& source, const memory::desc& wanted, const dnnl::engine& engine) {
        from = source;
        if (source.get_desc() == wanted) return to = source;
        to = memory(wanted, engine);
        reorder = dnnl::reorder(from, to);
        return to;
    }
    // The other direction: `target` is fixed, the producer writes into the returned memory.
    memory prepare_into(const memory& target, const memory::desc& produced, const dnnl::engine& engine) {
        to = target;
        if (target.get_desc() == produced) return from = target;
        from = memory(produced, engine);
        reorder = dnnl::reorder(from, to);
        return from;
    }
    void run(dnnl::stream& stream) {
        if (reorder) reorder->execute(stream, from, to);
    }
};

// Wraps a parameter of the arena as a plain oneDNN memory (no copy).
memory wrap(const Shape& shape, Tag tag, float* data, const dnnl::engine& engine) {
    return memory({to_dims(shape), f32, tag}, engine, data);
}

Tag plain_tag(int rank) {
    switch (rank) {
        case 1:
            return Tag::a;
        case 2:
            return Tag::ab;
        case 4:
            return Tag::abcd;
        default:
            throw Error("oneDNN path: no plain layout for rank " + std::to_string(rank));
    }
}

struct Context {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
};

// A memory with a layout but no buffer yet: the Plan gives activations and gradients their
// buffers, so that evaluation and the gradient chain can reuse two buffers in turn.
memory unbound(const memory::desc& desc, Context& context) { return memory(desc, context.engine, DNNL_MEMORY_NONE); }

// One layer, or a fused group of layers, with its primitives for one batch size.
class Stage {
public:
    virtual ~Stage() = default;
    // Brings the weights from the arena into the primitive's layout; needed only after they change.
    virtual void prepare_weights(dnnl::stream&) {}
    virtual void forward(dnnl::stream& stream) = 0;
    // Wires the gradient arriving from the next stage; allocates this stage's input gradient.
    virtual void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) = 0;
    virtual void backward(dnnl::stream& stream) = 0;
    const memory& dst() const { return dst_; }
    const memory& diff_src() const { return diff_src_; }

protected:
    memory src_, dst_, diff_dst_, diff_src_;
    bool need_diff_src_ = false;
};

// oneDNN's weight dims for a convolution: with groups G it wants (G, O/G, I/G, KH, KW), which is
// the same memory as PyTorch's (O, I/G, KH, KW).
memory::dims convolution_weight_dims(const Conv2d& layer) {
    const Shape& shape = layer.weight().shape;
    const std::int64_t groups = layer.options().groups;
    if (groups == 1) return to_dims(shape);
    return {groups, shape[0] / groups, shape[1], shape[2], shape[3]};
}

// The arena's plain weights (or their gradient) as a oneDNN memory in those dims.
memory wrap_convolution_weights(const Conv2d& layer, float* data, const dnnl::engine& engine) {
    const memory::dims dims = convolution_weight_dims(layer);
    return memory({dims, f32, dims.size() == 4 ? Tag::abcd : Tag::abcde}, engine, data);
}

// Right/bottom padding that makes oneDNN's exact size rule give PyTorch's floored output size.
std::int64_t trailing_padding(std::int64_t output, std::int64_t stride, std::int64_t span, std::int64_t input, std::int64_t leading) {
    return std::max<std::int64_t>(0, (output - 1) * stride + span - input - leading);
}

// Evaluation only: the batch norm (and the ReLU after it) that a convolution absorbs. With running
// statistics batch norm is a per-channel scale and shift, so it folds into the convolution's
// weights and bias, and the ReLU becomes a post-op: one pass over the activations instead of two.
struct FoldedBatchNorm {
    const BatchNorm* norm;
    bool relu;
};

class ConvolutionStage : public Stage {
public:
    ConvolutionStage(const Conv2d& layer, const Shape& output, const memory& src, Context& context,
                     std::optional<FoldedBatchNorm> folded = std::nullopt)
        : layer_(layer), folded_(folded) {
        const Conv2dOptions& o = layer.options();
        const memory::dims input = src.get_desc().dims();
        strides_ = {o.stride_height, o.stride_width};
        dilates_ = {o.dilation_height - 1, o.dilation_width - 1};
        padding_left_ = {o.padding_height, o.padding_width};
        padding_right_ = {
            trailing_padding(output[2], o.stride_height, (o.kernel_height - 1) * o.dilation_height + 1, input[2], o.padding_height),
            trailing_padding(output[3], o.stride_width, (o.kernel_width - 1) * o.dilation_width + 1, input[3], o.padding_width)};
        const Parameter& weight = layer.weight();
        const memory::desc src_any(input, f32, Tag::any), dst_any(to_dims(output.with_batch(input[0])), f32, Tag::any);
        const memory::desc weights_any(convolution_weight_dims(layer), f32, Tag::any);
        const bool has_bias = o.bias || folded;
        bias_desc_ = has_bias ? memory::desc({o.out_channels}, f32, Tag::a) : memory::desc();
        dnnl::primitive_attr attributes;
        if (folded && folded->relu) {
            dnnl::post_ops relu;
            relu.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
            attributes.set_post_ops(relu);
        }
        // Evaluation asks for a training-mode convolution too (the arithmetic is the same): for
        // inference oneDNN 2.6 picks an NHWC kernel that runs convnet1's conv1 2.5x slower.
        const auto prop = dnnl::prop_kind::forward_training;
        forward_pd_ = dnnl::convolution_forward::primitive_desc({prop, dnnl::algorithm::convolution_direct, src_any, weights_any,
                                                                 bias_desc_, dst_any, strides_, dilates_, padding_left_, padding_right_},
                                                                attributes, context.engine);
        forward_ = dnnl::convolution_forward(forward_pd_);
        src_ = src_conversion_.prepare(src, forward_pd_.src_desc(), context.engine);
        float* weights = weight.value;
        float* bias = layer.bias() ? layer.bias()->value : nullptr;
        if (folded) {
            folded_weights_.resize(weight.shape);
            folded_bias_.resize(Shape{o.out_channels});
            weights = folded_weights_.data();
            bias = folded_bias_.data();
        }
        user_weights_ = wrap_convolution_weights(layer, weights, context.engine);
        weights_ = weights_conversion_.prepare(user_weights_, forward_pd_.weights_desc(), context.engine);
        if (has_bias) bias_ = memory(bias_desc_, context.engine, bias);
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }

    void prepare_weights(dnnl::stream& stream) override {
        if (folded_) fold_batch_norm();
        weights_conversion_.run(stream);
    }

    void forward(dnnl::stream& stream) override {
        src_conversion_.run(stream);
        Args args{{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}};
        if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
        forward_.execute(stream, args);
    }

    // The backward primitives choose their own layouts (a layout forced on them can leave only
    // oneDNN's slow reference kernel, e.g. for 6 channels); conversions bridge to the neighbours.
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        const Parameter& weight = layer_.weight();
        const memory::desc src_any(forward_pd_.src_desc().dims(), f32, Tag::any);
        const memory::desc diff_dst_any(diff_dst.get_desc().dims(), f32, Tag::any);
        const memory::desc weights_any(convolution_weight_dims(layer_), f32, Tag::any);
        weights_pd_ =
            dnnl::convolution_backward_weights::primitive_desc({dnnl::algorithm::convolution_direct, src_any, weights_any, bias_desc_,
                                                                diff_dst_any, strides_, dilates_, padding_left_, padding_right_},
                                                               context.engine, forward_pd_);
        backward_weights_ = dnnl::convolution_backward_weights(weights_pd_);
        weights_src_ = weights_src_conversion_.prepare(src_, weights_pd_.src_desc(), context.engine);
        weights_diff_dst_ = weights_diff_dst_conversion_.prepare(diff_dst, weights_pd_.diff_dst_desc(), context.engine);
        diff_weights_ = diff_weights_conversion_.prepare_into(wrap_convolution_weights(layer_, weight.grad, context.engine),
                                                              weights_pd_.diff_weights_desc(), context.engine);
        if (layer_.bias()) diff_bias_ = memory(bias_desc_, context.engine, layer_.bias()->grad);
        if (!need_diff_src) return;
        data_pd_ = dnnl::convolution_backward_data::primitive_desc(
            {dnnl::algorithm::convolution_direct, src_any, weights_any, diff_dst_any, strides_, dilates_, padding_left_, padding_right_},
            context.engine, forward_pd_);
        backward_data_ = dnnl::convolution_backward_data(data_pd_);
        data_weights_ = data_weights_conversion_.prepare(user_weights_, data_pd_.weights_desc(), context.engine);
        data_diff_dst_ = data_diff_dst_conversion_.prepare(diff_dst, data_pd_.diff_dst_desc(), context.engine);
        // The previous stage takes its gradient in the layout of its own output.
        diff_src_ = unbound(src_conversion_.from.get_desc(), context);
        diff_src_produced_ = diff_src_conversion_.prepare_into(diff_src_, data_pd_.diff_src_desc(), context.engine);
    }

    void backward(dnnl::stream& stream) override {
        weights_src_conversion_.run(stream);
        weights_diff_dst_conversion_.run(stream);
        Args args{{DNNL_ARG_SRC, weights_src_}, {DNNL_ARG_DIFF_DST, weights_diff_dst_}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights_}};
        if (diff_bias_) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias_);
        backward_weights_.execute(stream, args);
        diff_weights_conversion_.run(stream);
        if (!need_diff_src_) return;
        data_weights_conversion_.run(stream);
        data_diff_dst_conversion_.run(stream);
        backward_data_.execute(
            stream, {{DNNL_ARG_DIFF_DST, data_diff_dst_}, {DNNL_ARG_WEIGHTS, data_weights_}, {DNNL_ARG_DIFF_SRC, diff_src_produced_}});
        diff_src_conversion_.run(stream);
    }

private:
    // weight' = weight·s and bias' = (bias − running_mean)·s + beta, with s = gamma/√(running_var + eps).
    void fold_batch_norm() {
        const Parameter& weight = layer_.weight();
        const std::int64_t channels = weight.shape[0], per_channel = weight.shape.element_count() / channels;
        for (std::int64_t c = 0; c < channels; ++c) {
            const auto [scale, shift] = folded_->norm->evaluation_scale_shift(c);
            for (std::int64_t i = 0; i < per_channel; ++i)
                folded_weights_[c * per_channel + i] = static_cast<float>(weight.value[c * per_channel + i] * scale);
            const double bias = layer_.bias() ? layer_.bias()->value[c] : 0.0;
            folded_bias_[c] = static_cast<float>(bias * scale + shift);
        }
    }

    const Conv2d& layer_;
    std::optional<FoldedBatchNorm> folded_;
    Tensor folded_weights_, folded_bias_;
    memory::dims strides_, dilates_, padding_left_, padding_right_;
    memory::desc bias_desc_;
    dnnl::convolution_forward::primitive_desc forward_pd_;
    dnnl::convolution_forward forward_;
    dnnl::convolution_backward_weights::primitive_desc weights_pd_;
    dnnl::convolution_backward_weights backward_weights_;
    dnnl::convolution_backward_data::primitive_desc data_pd_;
    dnnl::convolution_backward_data backward_data_;
    Conversion src_conversion_, weights_conversion_, diff_weights_conversion_, data_weights_conversion_, diff_src_conversion_;
    Conversion weights_src_conversion_, weights_diff_dst_conversion_, data_diff_dst_conversion_;
    memory user_weights_, weights_, bias_, diff_weights_, diff_bias_, data_weights_, diff_src_produced_;
    memory weights_src_, weights_diff_dst_, data_diff_dst_;
};

// Batch norm, with the ReLU after it fused in when there is one.
class BatchNormStage : public Stage {
public:
    BatchNormStage(BatchNorm& layer, bool fused_relu, const memory& src, bool training, Context& context)
        : layer_(layer), training_(training) {
        flags_ = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        if (fused_relu) flags_ |= dnnl::normalization_flags::fuse_norm_relu;
        const auto flags = training ? flags_ : flags_ | dnnl::normalization_flags::use_global_stats;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        src_ = src;
        forward_pd_ = dnnl::batch_normalization_forward::primitive_desc(
            {prop, src.get_desc(), static_cast<float>(layer.options().epsilon), flags}, context.engine);
        forward_ = dnnl::batch_normalization_forward(forward_pd_);
        dst_ = unbound(forward_pd_.dst_desc(), context);
        scale_ = wrap(layer.weight().shape, Tag::a, layer.weight().value, context.engine);
        shift_ = wrap(layer.bias().shape, Tag::a, layer.bias().value, context.engine);
        if (training) {
            mean_ = memory(forward_pd_.mean_desc(), context.engine);
            variance_ = memory(forward_pd_.variance_desc(), context.engine);
        } else {
            mean_ = wrap(layer.running_mean().shape, Tag::a, layer.running_mean().value, context.engine);
            variance_ = wrap(layer.running_var().shape, Tag::a, layer.running_var().value, context.engine);
        }
        if (fused_relu && training) workspace_ = memory(forward_pd_.workspace_desc(), context.engine);
        const memory::dims dims = src.get_desc().dims();
        count_ = dims.size() == 4 ? dims[0] * dims[2] * dims[3] : dims[0];
    }

    void forward(dnnl::stream& stream) override {
        Args args{{DNNL_ARG_SRC, src_},     {DNNL_ARG_DST, dst_},   {DNNL_ARG_SCALE, scale_},
                  {DNNL_ARG_SHIFT, shift_}, {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, variance_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        forward_.execute(stream, args);
        if (training_) {
            stream.wait();
            update_running_statistics();
        }
    }

    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        backward_pd_ = dnnl::batch_normalization_backward::primitive_desc(
            {dnnl::prop_kind::backward, diff_dst.get_desc(), src_.get_desc(), static_cast<float>(layer_.options().epsilon), flags_},
            context.engine, forward_pd_);
        backward_ = dnnl::batch_normalization_backward(backward_pd_);
        diff_src_ = unbound(backward_pd_.diff_src_desc(), context);
        diff_scale_ = wrap(layer_.weight().shape, Tag::a, layer_.weight().grad, context.engine);
        diff_shift_ = wrap(layer_.bias().shape, Tag::a, layer_.bias().grad, context.engine);
    }

    void backward(dnnl::stream& stream) override {
        // The input gradient comes with the parameter gradients in one primitive; it is cheap.
        Args args{{DNNL_ARG_SRC, src_},
                  {DNNL_ARG_MEAN, mean_},
                  {DNNL_ARG_VARIANCE, variance_},
                  {DNNL_ARG_DIFF_DST, diff_dst_},
                  {DNNL_ARG_SCALE, scale_},
                  {DNNL_ARG_SHIFT, shift_},
                  {DNNL_ARG_DIFF_SRC, diff_src_},
                  {DNNL_ARG_DIFF_SCALE, diff_scale_},
                  {DNNL_ARG_DIFF_SHIFT, diff_shift_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        backward_.execute(stream, args);
    }

private:
    // The layer's own rule, on oneDNN's batch mean and biased variance.
    void update_running_statistics() {
        const float* mean = static_cast<const float*>(mean_.get_data_handle());
        const float* variance = static_cast<const float*>(variance_.get_data_handle());
        for (std::int64_t c = 0; c < layer_.running_mean().shape[0]; ++c) layer_.update_running_statistics(c, mean[c], variance[c], count_);
        layer_.record_batch();
    }

    BatchNorm& layer_;
    bool training_;
    std::int64_t count_ = 0;
    dnnl::normalization_flags flags_;
    dnnl::batch_normalization_forward::primitive_desc forward_pd_;
    dnnl::batch_normalization_forward forward_;
    dnnl::batch_normalization_backward::primitive_desc backward_pd_;
    dnnl::batch_normalization_backward backward_;
    memory scale_, shift_, mean_, variance_, workspace_, diff_scale_, diff_shift_;
};

// An elementwise activation: relu (alpha = the leaky slope), tanh or the logistic sigmoid.
class EltwiseStage : public Stage {
public:
    EltwiseStage(dnnl::algorithm algorithm, float alpha, const memory& src, bool training, Context& context)
        : algorithm_(algorithm), alpha_(alpha) {
        src_ = src;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        forward_pd_ = dnnl::eltwise_forward::primitive_desc({prop, algorithm, src.get_desc(), alpha, 0.0f}, context.engine);
        forward_ = dnnl::eltwise_forward(forward_pd_);
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }
    void forward(dnnl::stream& stream) override { forward_.execute(stream, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}}); }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (!need_diff_src) return;
        const dnnl::eltwise_backward::primitive_desc pd({algorithm_, diff_dst.get_desc(), src_.get_desc(), alpha_, 0.0f}, context.engine,
                                                        forward_pd_);
        backward_ = dnnl::eltwise_backward(pd);
        diff_src_ = unbound(pd.diff_src_desc(), context);
    }
    void backward(dnnl::stream& stream) override {
        if (need_diff_src_)
            backward_.execute(stream, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_DIFF_SRC, diff_src_}});
    }

private:
    dnnl::algorithm algorithm_;
    float alpha_;
    dnnl::eltwise_forward::primitive_desc forward_pd_;
    dnnl::eltwise_forward forward_;
    dnnl::eltwise_backward backward_;
};

class PoolStage : public Stage {
public:
    PoolStage(dnnl::algorithm algorithm, const PoolWindow& o, const Shape& output, const memory& src, bool training, Context& context)
        : algorithm_(algorithm) {
        const memory::dims input = src.get_desc().dims();
        strides_ = {o.stride_height, o.stride_width};
        kernel_ = {o.kernel_height, o.kernel_width};
        padding_left_ = {o.padding_height, o.padding_width};
        padding_right_ = {trailing_padding(output[2], o.stride_height, o.kernel_height, input[2], o.padding_height),
                          trailing_padding(output[3], o.stride_width, o.kernel_width, input[3], o.padding_width)};
        src_ = src;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        const memory::desc dst_any(to_dims(output.with_batch(input[0])), f32, Tag::any);
        forward_pd_ = dnnl::pooling_forward::primitive_desc(
            {prop, algorithm, src.get_desc(), dst_any, strides_, kernel_, padding_left_, padding_right_}, context.engine);
        forward_ = dnnl::pooling_forward(forward_pd_);
        dst_ = unbound(forward_pd_.dst_desc(), context);
        if (training && algorithm == dnnl::algorithm::pooling_max) workspace_ = memory(forward_pd_.workspace_desc(), context.engine);
    }
    void forward(dnnl::stream& stream) override {
        Args args{{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        forward_.execute(stream, args);
    }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (!need_diff_src) return;
        const dnnl::pooling_backward::primitive_desc pd(
            {algorithm_, src_.get_desc(), diff_dst.get_desc(), strides_, kernel_, padding_left_, padding_right_}, context.engine,
            forward_pd_);
        backward_ = dnnl::pooling_backward(pd);
        diff_src_ = unbound(pd.diff_src_desc(), context);
    }
    void backward(dnnl::stream& stream) override {
        if (!need_diff_src_) return;
        Args args{{DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_DIFF_SRC, diff_src_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        backward_.execute(stream, args);
    }

private:
    dnnl::algorithm algorithm_;
    memory::dims strides_, kernel_, padding_left_, padding_right_;
    dnnl::pooling_forward::primitive_desc forward_pd_;
    dnnl::pooling_forward forward_;
    dnnl::pooling_backward backward_;
    memory workspace_;
};

// Dropout in training, on a plain (N, F) input, with the layer's own masks (so both paths drop
// the same elements). Evaluation has no stage: dropout is the identity there.
class DropoutStage : public Stage {
public:
    DropoutStage(Dropout& layer, const memory& src, Context& context) : layer_(layer) {
        src_ = src;
        dst_ = unbound(src.get_desc(), context);
        const memory::dims dims = src.get_desc().dims();
        size_ = dims[0] * dims[1];
    }
    void forward(dnnl::stream&) override {
        layer_.draw_mask(size_);
        layer_.apply_mask(static_cast<const float*>(src_.get_data_handle()), static_cast<float*>(dst_.get_data_handle()), size_);
    }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (need_diff_src) diff_src_ = unbound(src_.get_desc(), context);
    }
    void backward(dnnl::stream&) override {
        if (!need_diff_src_) return;
        layer_.apply_mask(static_cast<const float*>(diff_dst_.get_data_handle()), static_cast<float*>(diff_src_.get_data_handle()), size_);
    }

private:
    Dropout& layer_;
    std::int64_t size_ = 0;
};

// Linear, reading a 4-D input directly when a flatten precedes it (oneDNN's inner product
// flattens in NCHW order whatever the input's blocked layout, so no reorder is needed).
class InnerProductStage : public Stage {
public:
    InnerProductStage(const Linear& layer, const memory& src, bool training, Context& context) : layer_(layer) {
        const memory::dims input = src.get_desc().dims();
        const Parameter& weight = layer.weight();
        weight_dims_ = input;
        weight_dims_[0] = layer.options().out_features;
        bias_desc_ = layer.options().bias ? memory::desc({layer.options().out_features}, f32, Tag::a) : memory::desc();
        const memory::desc dst_desc({input[0], layer.options().out_features}, f32, Tag::ab);
        const memory::desc weights_any(weight_dims_, f32, Tag::any);
        src_ = src;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        forward_pd_ =
            dnnl::inner_product_forward::primitive_desc({prop, src.get_desc(), weights_any, bias_desc_, dst_desc}, context.engine);
        forward_ = dnnl::inner_product_forward(forward_pd_);
        user_weights_ = memory({weight_dims_, f32, plain_tag(static_cast<int>(weight_dims_.size()))}, context.engine, weight.value);
        weights_ = weights_conversion_.prepare(user_weights_, forward_pd_.weights_desc(), context.engine);
        if (layer.bias()) bias_ = memory(bias_desc_, context.engine, layer.bias()->value);
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }
    void prepare_weights(dnnl::stream& stream) override { weights_conversion_.run(stream); }

    void forward(dnnl::stream& stream) override {
        Args args{{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}};
        if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
        forward_.execute(stream, args);
    }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        const Parameter& weight = layer_.weight();
        const memory::desc weights_any(weight_dims_, f32, Tag::any);
        weights_pd_ = dnnl::inner_product_backward_weights::primitive_desc({src_.get_desc(), weights_any, bias_desc_, diff_dst.get_desc()},
                                                                           context.engine, forward_pd_);
        backward_weights_ = dnnl::inner_product_backward_weights(weights_pd_);
        const memory user_grad({weight_dims_, f32, plain_tag(static_cast<int>(weight_dims_.size()))}, context.engine, weight.grad);
        diff_weights_ = diff_weights_conversion_.prepare_into(user_grad, weights_pd_.diff_weights_desc(), context.engine);
        if (layer_.bias()) diff_bias_ = memory(bias_desc_, context.engine, layer_.bias()->grad);
        if (!need_diff_src) return;
        data_pd_ = dnnl::inner_product_backward_data::primitive_desc({src_.get_desc(), weights_any, diff_dst.get_desc()}, context.engine,
                                                                     forward_pd_);
        backward_data_ = dnnl::inner_product_backward_data(data_pd_);
        data_weights_ = data_weights_conversion_.prepare(user_weights_, data_pd_.weights_desc(), context.engine);
        diff_src_ = unbound(data_pd_.diff_src_desc(), context);
    }
    void backward(dnnl::stream& stream) override {
        Args args{{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights_}};
        if (diff_bias_) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias_);
        backward_weights_.execute(stream, args);
        diff_weights_conversion_.run(stream);
        if (!need_diff_src_) return;
        data_weights_conversion_.run(stream);
        backward_data_.execute(stream, {{DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_WEIGHTS, data_weights_}, {DNNL_ARG_DIFF_SRC, diff_src_}});
    }

private:
    const Linear& layer_;
    memory::dims weight_dims_;
    memory::desc bias_desc_;
    dnnl::inner_product_forward::primitive_desc forward_pd_;
    dnnl::inner_product_forward forward_;
    dnnl::inner_product_backward_weights::primitive_desc weights_pd_;
    dnnl::inner_product_backward_weights backward_weights_;
    dnnl::inner_product_backward_data::primitive_desc data_pd_;
    dnnl::inner_product_backward_data backward_data_;
    Conversion weights_conversion_, diff_weights_conversion_, data_weights_conversion_;
    memory user_weights_, weights_, bias_, diff_weights_, diff_bias_, data_weights_;
};

// How the layers group into stages: which layer starts each stage and what it swallows.
struct StageRecipe {
    std::size_t layer;         // index of the layer that makes the stage
    bool fuse_relu = false;    // batch norm followed by ReLU
    std::size_t consumed = 1;  // layers this stage covers
};

}  // namespace

struct OnednnPath::Impl {
    const std::vector<LayerPlan>& layers;
    std::vector<StageRecipe> recipes;
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
        for (std::size_t r = 0; r < recipes.size(); ++r) {
            const StageRecipe& recipe = recipes[r];
            Layer& layer = *layers[recipe.layer].layer;
            const Shape output = layers[recipe.layer + recipe.consumed - 1].output.with_batch(batch);
            std::unique_ptr<Stage> stage;
            const BatchNorm* next_norm =
                r + 1 < recipes.size() ? dynamic_cast<const BatchNorm*>(layers[recipes[r + 1].layer].layer.get()) : nullptr;
            if (auto* conv = dynamic_cast<Conv2d*>(&layer); conv && !training && next_norm) {
                const StageRecipe& norm = recipes[++r];
                const Shape folded_output = layers[norm.layer + norm.consumed - 1].output.with_batch(batch);
                stage =
                    std::make_unique<ConvolutionStage>(*conv, folded_output, current, context, FoldedBatchNorm{next_norm, norm.fuse_relu});
            } else if (auto* conv = dynamic_cast<Conv2d*>(&layer))
                stage = std::make_unique<ConvolutionStage>(*conv, output, current, context);
            else if (auto* norm = dynamic_cast<BatchNorm*>(&layer))
                stage = std::make_unique<BatchNormStage>(*norm, recipe.fuse_relu, current, training, context);
            else if (dynamic_cast<ReLU*>(&layer))
                stage = std::make_unique<EltwiseStage>(dnnl::algorithm::eltwise_relu, 0.0f, current, training, context);
            else if (auto* leaky = dynamic_cast<LeakyReLU*>(&layer))
                stage = std::make_unique<EltwiseStage>(dnnl::algorithm::eltwise_relu, static_cast<float>(leaky->options().negative_slope),
                                                       current, training, context);
            else if (dynamic_cast<Tanh*>(&layer))
                stage = std::make_unique<EltwiseStage>(dnnl::algorithm::eltwise_tanh, 0.0f, current, training, context);
            else if (dynamic_cast<Sigmoid*>(&layer))
                stage = std::make_unique<EltwiseStage>(dnnl::algorithm::eltwise_logistic, 0.0f, current, training, context);
            else if (auto* pool = dynamic_cast<MaxPool2d*>(&layer))
                stage = std::make_unique<PoolStage>(dnnl::algorithm::pooling_max, pool->options(), output, current, training, context);
            else if (auto* average = dynamic_cast<AvgPool2d*>(&layer)) {
                const auto algorithm = average->options().count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                                            : dnnl::algorithm::pooling_avg_exclude_padding;
                stage = std::make_unique<PoolStage>(algorithm, average->options(), output, current, training, context);
            } else if (auto* linear = dynamic_cast<Linear*>(&layer))
                stage = std::make_unique<InnerProductStage>(*linear, current, training, context);
            else if (auto* dropout = dynamic_cast<Dropout*>(&layer)) {
                if (!training) continue;  // the identity
                stage = std::make_unique<DropoutStage>(*dropout, current, context);
            } else throw Error("oneDNN path: no stage for " + layer.type());
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

namespace {

constexpr FastPathDecision kFastPathTable[] = {
    {"conv2d", FastPathRole::stage, "convolution (grouped and depthwise too; evaluation folds a following batch norm in)"},
    {"batchnorm2d", FastPathRole::batch_norm, "batch normalization, fused with a following relu"},
    {"batchnorm1d", FastPathRole::batch_norm, "batch normalization, fused with a following relu"},
    {"relu", FastPathRole::stage, "eltwise relu (or fused into the batch norm before it)"},
    {"leakyrelu", FastPathRole::stage, "eltwise relu with a negative slope"},
    {"tanh", FastPathRole::stage, "eltwise tanh"},
    {"sigmoid", FastPathRole::stage, "eltwise logistic"},
    {"maxpool2d", FastPathRole::stage, "pooling max"},
    {"avgpool2d", FastPathRole::stage, "pooling avg (padding counted or not)"},
    {"linear", FastPathRole::stage, "inner product"},
    {"flatten", FastPathRole::flatten_into_linear, "nothing of its own: the next linear's inner product reads the 4-D input"},
    {"dropout", FastPathRole::dropout_features, "the layer's own mask on (N, F) features"},
    {"softmax", FastPathRole::none, "no stage: the training loss applies its own softmax; add softmax for prediction only"},
    {"l2pool2d", FastPathRole::none, "no oneDNN primitive computes an L2 norm over a window"},
    {"gausspool2d", FastPathRole::none, "no stage yet (a depthwise convolution with fixed weights could serve it)"},
    {"globalavgpool2d", FastPathRole::none, "no stage yet (average pooling over the whole map could serve it)"},
};

bool is_type(const std::vector<LayerPlan>& layers, std::size_t index, std::string_view type) {
    return index < layers.size() && layers[index].layer->type() == type;
}

}  // namespace

const FastPathDecision* fast_path_decision(std::string_view type) {
    for (const FastPathDecision& decision : kFastPathTable)
        if (decision.type == type) return &decision;
    return nullptr;
}

std::unique_ptr<Executor> OnednnPath::create(const std::vector<LayerPlan>& layers, std::string& why_not) {
    auto impl = std::make_unique<Impl>(layers);
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const Layer& layer = *layers[i].layer;
        StageRecipe recipe{i};
        const FastPathDecision* decision = fast_path_decision(layer.type());
        switch (decision ? decision->role : FastPathRole::none) {
            case FastPathRole::stage:
                break;
            case FastPathRole::batch_norm:
                if (is_type(layers, i + 1, "relu")) {
                    recipe.fuse_relu = true;
                    recipe.consumed = 2;
                }
                break;
            case FastPathRole::flatten_into_linear:
                if (!is_type(layers, i + 1, "linear")) {
                    why_not = "flatten not followed by linear";
                    return nullptr;
                }
                recipe = StageRecipe{i + 1};  // the inner product reads the 4-D input: flatten costs nothing
                ++i;
                break;
            case FastPathRole::dropout_features:
                if (layers[i].input.rank() != 2) {
                    why_not = "dropout on a 4-D input (the fast path drops only features of (N, F))";
                    return nullptr;
                }
                break;
            case FastPathRole::none:
                why_not = "layer type " + layer.type() + (decision ? ": " + std::string(decision->how) : std::string());
                return nullptr;
        }
        i += recipe.consumed - 1;
        impl->recipes.push_back(recipe);
    }
    try {
        impl->build(2, true);  // fail here, not mid-training, when oneDNN rejects a shape
    } catch (const std::exception& error) {
        why_not = error.what();
        return nullptr;
    }
    return std::unique_ptr<Executor>(new OnednnPath(std::move(impl)));
}

OnednnPath::OnednnPath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnednnPath::~OnednnPath() = default;

const Tensor& OnednnPath::forward_train(const Tensor& input) {
    Impl::Plan& plan = impl_->plan_for(input.shape()[0], true);
    impl_->run_forward(plan, input, true);  // the optimiser changed them since the last step
    impl_->last_training = &plan;
    return plan.logits;
}

void OnednnPath::backward(const Tensor& grad_logits) {
    Impl::Plan* plan = impl_->last_training;
    if (plan == nullptr) throw Error("backward called before forward_train");
    plan->grad_logits.set_data_handle(const_cast<float*>(grad_logits.data()));  // read only
    for (std::size_t i = plan->stages.size(); i-- > 0;) plan->stages[i]->backward(impl_->context.stream);
    impl_->context.stream.wait();
}

void OnednnPath::predict(const Tensor& input, Tensor& logits, std::uint64_t parameter_version) {
    Impl::Plan& plan = impl_->plan_for(input.shape()[0], false);
    const bool weights_changed = !plan.weights_version || *plan.weights_version != parameter_version;
    impl_->run_forward(plan, input, weights_changed);
    plan.weights_version = parameter_version;
    logits.resize(plan.logits.shape());
    std::copy(plan.logits.data(), plan.logits.data() + plan.logits.size(), logits.data());
}

}  // namespace convnet::engine
