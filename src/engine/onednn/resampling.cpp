// The upsampling stage: oneDNN's resampling, nearest or linear. Its linear mode reads output o at
// input (o + 0.5)/s − 0.5 clamped to the input, which is PyTorch's align_corners=False.
#include "stage.h"

#include <convnet/nn/layers/upsample2d.h>

namespace convnet::engine::onednn {

namespace {

class ResamplingStage : public Stage {
public:
    ResamplingStage(const Upsample2d& layer, const Shape& output, const memory& src, bool training, Context& context) {
        algorithm_ = layer.options().bilinear ? dnnl::algorithm::resampling_linear : dnnl::algorithm::resampling_nearest;
        factors_ = {static_cast<float>(layer.options().scale_height), static_cast<float>(layer.options().scale_width)};
        src_ = src;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        const memory::desc dst_any(to_dims(output), f32, Tag::any);
        forward_pd_ = dnnl::resampling_forward::primitive_desc({prop, algorithm_, factors_, src.get_desc(), dst_any}, context.engine);
        forward_ = dnnl::resampling_forward(forward_pd_);
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }
    void forward(dnnl::stream& stream) override { forward_.execute(stream, {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst_}}); }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (!need_diff_src) return;
        const dnnl::resampling_backward::primitive_desc pd({algorithm_, factors_, src_.get_desc(), diff_dst.get_desc()}, context.engine,
                                                           forward_pd_);
        backward_ = dnnl::resampling_backward(pd);
        diff_src_ = unbound(pd.diff_src_desc(), context);
    }
    void backward(dnnl::stream& stream) override {
        if (need_diff_src_) backward_.execute(stream, {{DNNL_ARG_DIFF_DST, diff_dst_}, {DNNL_ARG_DIFF_SRC, diff_src_}});
    }

private:
    dnnl::algorithm algorithm_;
    std::vector<float> factors_;
    dnnl::resampling_forward::primitive_desc forward_pd_;
    dnnl::resampling_forward forward_;
    dnnl::resampling_backward backward_;
};

}  // namespace

std::unique_ptr<Stage> make_resampling_stage(const StageRequest& request) {
    return std::make_unique<ResamplingStage>(layer_as<Upsample2d>(request), request.output, request.src, request.training, request.context);
}

}  // namespace convnet::engine::onednn
