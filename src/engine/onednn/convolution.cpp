// The convolution stage (forward, backward data and weights), which in evaluation can absorb
// the batch norm and relu after it.
#include "../../kernels/conv_weight_grad.h"
#include "stage.h"

#include <convnet/nn/layers/batchnorm.h>
#include <convnet/nn/layers/conv2d.h>

#include <initializer_list>
#include <optional>

namespace convnet::engine::onednn {

namespace {

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

// Evaluation only: the batch norm (and the ReLU after it) that a convolution absorbs. With running
// statistics batch norm is a per-channel scale and shift, so it folds into the convolution's
// weights and bias, and the ReLU becomes a post-op: one pass over the activations instead of two.
struct FoldedBatchNorm {
    const BatchNorm* norm;
    bool relu;  // the relu after the batch norm becomes the convolution's post-op
};

// Whether the weight gradient runs on our kernel (onednn.h, OwnKernels) rather than oneDNN's.
bool own_weight_grad(const Conv2d& layer, OwnKernels policy) {
    const Conv2dOptions& o = layer.options();
    return policy == OwnKernels::where_they_apply && o.groups == 1 && o.dilation_height == 1 && o.dilation_width == 1 &&
           o.in_channels <= kernels::kWeightGradMostInChannels && kernels::conv_weight_grad_available();
}

class ConvolutionStage : public Stage {
public:
    // `output` is (N, out_channels, OH, OW) with the batch.
    ConvolutionStage(const Conv2d& layer, const Shape& output, const memory& src, Context& context,
                     std::optional<FoldedBatchNorm> folded = std::nullopt)
        : layer_(layer), folded_(folded), input_(src) {
        const Conv2dOptions& o = layer.options();
        const memory::dims input = src.get_desc().dims();
        window_ = primitive_window(o, input, output);
        const Parameter& weight = layer.weight();
        const memory::desc src_any(input, f32, Tag::any), dst_any(to_dims(output), f32, Tag::any);
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
        forward_pd_ =
            dnnl::convolution_forward::primitive_desc({prop, dnnl::algorithm::convolution_direct, src_any, weights_any, bias_desc_, dst_any,
                                                       window_.strides, window_.dilates, window_.padding_left, window_.padding_right},
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
        if (own_weight_grad(layer_, context.own_kernels)) {
            // Our kernel reads the input and the gradient in the layouts the neighbours wrote
            // when it knows them (plain, 8- or 16-channel blocks), else converted; it writes the
            // arena's gradients itself.
            const memory::dims input = input_.get_desc().dims(), output = diff_dst.get_desc().dims();
            const std::int64_t input_block = channel_block(input_.get_desc(), {1, 8, 16});
            const std::int64_t grad_block = channel_block(diff_dst.get_desc(), {8, 16});
            const kernels::ConvWeightGradLayout layout{input_block == 0 ? 1 : input_block, grad_block == 0 ? 8 : grad_block};
            weight_grad_kernel_.emplace(Conv2dGeometry::of(layer_.options(), layer_.options().groups, Shape(input), Shape(output)), layout);
            weights_src_ = weights_src_conversion_.prepare(input_, {input, f32, block_tag(layout.input_block)}, context.engine);
            weights_diff_dst_ =
                weights_diff_dst_conversion_.prepare(diff_dst, {output, f32, block_tag(layout.grad_output_block)}, context.engine);
        } else {
            weights_pd_ = dnnl::convolution_backward_weights::primitive_desc(
                {dnnl::algorithm::convolution_direct, src_any, weights_any, bias_desc_, diff_dst_any, window_.strides, window_.dilates,
                 window_.padding_left, window_.padding_right},
                context.engine, forward_pd_);
            backward_weights_ = dnnl::convolution_backward_weights(weights_pd_);
            weights_src_ = weights_src_conversion_.prepare(src_, weights_pd_.src_desc(), context.engine);
            weights_diff_dst_ = weights_diff_dst_conversion_.prepare(diff_dst, weights_pd_.diff_dst_desc(), context.engine);
            diff_weights_ = diff_weights_conversion_.prepare_into(wrap_convolution_weights(layer_, weight.grad, context.engine),
                                                                  weights_pd_.diff_weights_desc(), context.engine);
            if (layer_.bias()) diff_bias_ = memory(bias_desc_, context.engine, layer_.bias()->grad);
        }
        if (!need_diff_src) return;
        data_pd_ =
            dnnl::convolution_backward_data::primitive_desc({dnnl::algorithm::convolution_direct, src_any, weights_any, diff_dst_any,
                                                             window_.strides, window_.dilates, window_.padding_left, window_.padding_right},
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
        if (weight_grad_kernel_) {
            stream.wait();  // the conversions' results are read outside oneDNN
            weight_grad_kernel_->run(static_cast<const float*>(weights_src_.get_data_handle()),
                                     static_cast<const float*>(weights_diff_dst_.get_data_handle()), layer_.weight().grad,
                                     layer_.bias() ? layer_.bias()->grad : nullptr);
        } else {
            Args args{{DNNL_ARG_SRC, weights_src_}, {DNNL_ARG_DIFF_DST, weights_diff_dst_}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights_}};
            if (diff_bias_) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias_);
            backward_weights_.execute(stream, args);
            diff_weights_conversion_.run(stream);
        }
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
    memory input_;  // the memory the stage reads, before any conversion to the forward's layout
    std::optional<kernels::ConvWeightGrad> weight_grad_kernel_;  // set when our kernel computes the weight gradient
    Tensor folded_weights_, folded_bias_;
    PrimitiveWindow window_;
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

}  // namespace

std::unique_ptr<Stage> make_convolution_stage(const StageRequest& request) {
    std::optional<FoldedBatchNorm> folded;
    if (request.folded_norm != nullptr) folded = FoldedBatchNorm{request.folded_norm, request.fuse_relu};
    return std::make_unique<ConvolutionStage>(layer_as<Conv2d>(request), request.output, request.src, request.context, folded);
}

}  // namespace convnet::engine::onednn
