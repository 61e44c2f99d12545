// The elementwise activation stages: relu, leaky relu, tanh, sigmoid.
#include "stage.h"

#include <convnet/nn/layers/leakyrelu.h>

namespace convnet::engine::onednn {

namespace {

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

}  // namespace

namespace {
std::unique_ptr<Stage> make_eltwise(const StageRequest& request, dnnl::algorithm algorithm, float alpha) {
    return std::make_unique<EltwiseStage>(algorithm, alpha, request.src, request.training, request.context);
}
}  // namespace

std::unique_ptr<Stage> make_relu_stage(const StageRequest& request) { return make_eltwise(request, dnnl::algorithm::eltwise_relu, 0.0f); }

std::unique_ptr<Stage> make_leaky_relu_stage(const StageRequest& request) {
    const float slope = static_cast<float>(layer_as<LeakyReLU>(request).options().negative_slope);
    return make_eltwise(request, dnnl::algorithm::eltwise_relu, slope);
}

std::unique_ptr<Stage> make_tanh_stage(const StageRequest& request) { return make_eltwise(request, dnnl::algorithm::eltwise_tanh, 0.0f); }

std::unique_ptr<Stage> make_sigmoid_stage(const StageRequest& request) {
    return make_eltwise(request, dnnl::algorithm::eltwise_logistic, 0.0f);
}

}  // namespace convnet::engine::onednn
