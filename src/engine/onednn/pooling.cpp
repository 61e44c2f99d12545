// The pooling stages: max, and average with or without the padding counted.
#include "stage.h"

#include <convnet/nn/layers/avgpool2d.h>
#include <convnet/nn/layers/maxpool2d.h>

namespace convnet::engine::onednn {

namespace {

// Max or average pooling over the layer's window; `output` is (N, C, OH, OW) with the batch.
class PoolStage : public Stage {
public:
    PoolStage(dnnl::algorithm algorithm, const SlidingWindow& o, const Shape& output, const memory& src, bool training, Context& context)
        : algorithm_(algorithm) {
        const memory::dims input = src.get_desc().dims();
        window_ = primitive_window(o, input, output);
        src_ = src;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        const memory::desc dst_any(to_dims(output), f32, Tag::any);
        forward_pd_ = dnnl::pooling_forward::primitive_desc(
            {prop, algorithm, src.get_desc(), dst_any, window_.strides, window_.kernel, window_.padding_left, window_.padding_right},
            context.engine);
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
        const dnnl::pooling_backward::primitive_desc pd({algorithm_, src_.get_desc(), diff_dst.get_desc(), window_.strides, window_.kernel,
                                                         window_.padding_left, window_.padding_right},
                                                        context.engine, forward_pd_);
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
    PrimitiveWindow window_;
    dnnl::pooling_forward::primitive_desc forward_pd_;
    dnnl::pooling_forward forward_;
    dnnl::pooling_backward backward_;
    memory workspace_;
};

}  // namespace

std::unique_ptr<Stage> make_max_pool_stage(const StageRequest& request) {
    const MaxPool2d& layer = layer_as<MaxPool2d>(request);
    return std::make_unique<PoolStage>(dnnl::algorithm::pooling_max, layer.options(), request.output, request.src, request.training,
                                       request.context);
}

// Global average pooling is average pooling with a window of the whole map.
std::unique_ptr<Stage> make_global_avg_pool_stage(const StageRequest& request) {
    const memory::dims input = request.src.get_desc().dims();
    SlidingWindow whole;
    whole.kernel_height = whole.stride_height = input[2];
    whole.kernel_width = whole.stride_width = input[3];
    return std::make_unique<PoolStage>(dnnl::algorithm::pooling_avg_exclude_padding, whole, request.output, request.src, request.training,
                                       request.context);
}

std::unique_ptr<Stage> make_avg_pool_stage(const StageRequest& request) {
    const AvgPool2d& layer = layer_as<AvgPool2d>(request);
    const auto algorithm =
        layer.options().count_include_pad ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
    return std::make_unique<PoolStage>(algorithm, layer.options(), request.output, request.src, request.training, request.context);
}

}  // namespace convnet::engine::onednn
