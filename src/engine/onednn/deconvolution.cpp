// The transposed-convolution stage (oneDNN's deconvolution: forward, backward data and weights),
// reading PyTorch's (in, out/groups, kh, kw) weights in place.
#include "stage.h"

#include <convnet/nn/layers/convtranspose2d.h>

namespace convnet::engine::onednn {

namespace {

// oneDNN's weight dims, (out, in, kh, kw) or (groups, out/g, in/g, kh, kw), and the tag under which
// PyTorch's (in, out/g, kh, kw) memory is that: iohw, or giohw with groups.
memory::desc user_weights_desc(const ConvTranspose2d& layer) {
    const ConvTranspose2dOptions& o = layer.options();
    if (o.groups == 1) return memory::desc({o.out_channels, o.in_channels, o.kernel_height, o.kernel_width}, f32, Tag::iohw);
    return memory::desc({o.groups, o.out_channels / o.groups, o.in_channels / o.groups, o.kernel_height, o.kernel_width}, f32, Tag::giohw);
}

class DeconvolutionStage : public Stage {
public:
    // `output` is (N, out_channels, OH, OW) with the batch.
    DeconvolutionStage(const ConvTranspose2d& layer, const Shape& output, const memory& src, bool training, Context& context)
        : layer_(layer) {
        const ConvTranspose2dOptions& o = layer.options();
        const memory::dims input = src.get_desc().dims();
        strides_ = {o.stride_height, o.stride_width};
        dilates_ = {o.dilation_height - 1, o.dilation_width - 1};
        padding_left_ = {o.padding_height, o.padding_width};
        // oneDNN's size rule (W − 1)·S + span − left − right gives PyTorch's output when the right
        // padding is the output it asks for taken back.
        padding_right_ = {(input[2] - 1) * o.stride_height + o.span_height() - o.padding_height - output[2],
                          (input[3] - 1) * o.stride_width + o.span_width() - o.padding_width - output[3]};
        const memory::desc src_any(input, f32, Tag::any), dst_any(to_dims(output), f32, Tag::any);
        const memory::desc weights_any(user_weights_desc(layer).dims(), f32, Tag::any);
        bias_desc_ = o.bias ? memory::desc({o.out_channels}, f32, Tag::a) : memory::desc();
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        forward_pd_ = dnnl::deconvolution_forward::primitive_desc({prop, dnnl::algorithm::deconvolution_direct, src_any, weights_any,
                                                                   bias_desc_, dst_any, strides_, dilates_, padding_left_, padding_right_},
                                                                  context.engine);
        forward_ = dnnl::deconvolution_forward(forward_pd_);
        src_ = src_conversion_.prepare(src, forward_pd_.src_desc(), context.engine);
        user_weights_ = memory(user_weights_desc(layer), context.engine, layer.weight().value);
        weights_ = weights_conversion_.prepare(user_weights_, forward_pd_.weights_desc(), context.engine);
        if (layer.bias()) bias_ = memory(bias_desc_, context.engine, layer.bias()->value);
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }

    void prepare_weights(dnnl::stream& stream) override { weights_conversion_.run(stream); }

    void forward(dnnl::stream& stream) override {
        src_conversion_.run(stream);
        Args args{{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst_}};
        if (bias_) args.emplace(DNNL_ARG_BIAS, bias_);
        forward_.execute(stream, args);
    }

    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        const memory::desc src_any(forward_pd_.src_desc().dims(), f32, Tag::any);
        const memory::desc diff_dst_any(diff_dst.get_desc().dims(), f32, Tag::any);
        const memory::desc weights_any(user_weights_desc(layer_).dims(), f32, Tag::any);
        weights_pd_ =
            dnnl::deconvolution_backward_weights::primitive_desc({dnnl::algorithm::deconvolution_direct, src_any, weights_any, bias_desc_,
                                                                  diff_dst_any, strides_, dilates_, padding_left_, padding_right_},
                                                                 context.engine, forward_pd_);
        backward_weights_ = dnnl::deconvolution_backward_weights(weights_pd_);
        weights_src_ = weights_src_conversion_.prepare(src_, weights_pd_.src_desc(), context.engine);
        weights_diff_dst_ = weights_diff_dst_conversion_.prepare(diff_dst, weights_pd_.diff_dst_desc(), context.engine);
        diff_weights_ = diff_weights_conversion_.prepare_into(memory(user_weights_desc(layer_), context.engine, layer_.weight().grad),
                                                              weights_pd_.diff_weights_desc(), context.engine);
        if (layer_.bias()) diff_bias_ = memory(bias_desc_, context.engine, layer_.bias()->grad);
        if (!need_diff_src) return;
        data_pd_ = dnnl::deconvolution_backward_data::primitive_desc(
            {dnnl::algorithm::deconvolution_direct, src_any, weights_any, diff_dst_any, strides_, dilates_, padding_left_, padding_right_},
            context.engine, forward_pd_);
        backward_data_ = dnnl::deconvolution_backward_data(data_pd_);
        data_weights_ = data_weights_conversion_.prepare(user_weights_, data_pd_.weights_desc(), context.engine);
        data_diff_dst_ = data_diff_dst_conversion_.prepare(diff_dst, data_pd_.diff_dst_desc(), context.engine);
        diff_src_ = unbound(src_conversion_.from.get_desc(), context);  // in the layout of the previous stage's output
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
    const ConvTranspose2d& layer_;
    memory::dims strides_, dilates_, padding_left_, padding_right_;
    memory::desc bias_desc_;
    dnnl::deconvolution_forward::primitive_desc forward_pd_;
    dnnl::deconvolution_forward forward_;
    dnnl::deconvolution_backward_weights::primitive_desc weights_pd_;
    dnnl::deconvolution_backward_weights backward_weights_;
    dnnl::deconvolution_backward_data::primitive_desc data_pd_;
    dnnl::deconvolution_backward_data backward_data_;
    Conversion src_conversion_, weights_conversion_, diff_weights_conversion_, data_weights_conversion_, diff_src_conversion_;
    Conversion weights_src_conversion_, weights_diff_dst_conversion_, data_diff_dst_conversion_;
    memory user_weights_, weights_, bias_, diff_weights_, diff_bias_, data_weights_, diff_src_produced_;
    memory weights_src_, weights_diff_dst_, data_diff_dst_;
};

}  // namespace

std::unique_ptr<Stage> make_deconvolution_stage(const StageRequest& request) {
    return std::make_unique<DeconvolutionStage>(layer_as<ConvTranspose2d>(request), request.output, request.src, request.training,
                                                request.context);
}

}  // namespace convnet::engine::onednn
