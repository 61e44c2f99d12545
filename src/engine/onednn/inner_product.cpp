// The inner product stage that serves linear (and a flatten before it).
#include "stage.h"

#include <convnet/nn/layers/linear.h>

namespace convnet::engine::onednn {

namespace {

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

}  // namespace

std::unique_ptr<Stage> make_inner_product_stage(const StageRequest& request) {
    return std::make_unique<InnerProductStage>(layer_as<Linear>(request), request.src, request.training, request.context);
}

}  // namespace convnet::engine::onednn
