// The batch normalization stage, with a following relu fused; the running statistics are updated
// by the layer's own rule.
#include "stage.h"

#include <convnet/layers/batchnorm.h>

namespace convnet::engine::onednn {

namespace {

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

}  // namespace

std::unique_ptr<Stage> make_batch_norm_stage(const StageRequest& request) {
    return std::make_unique<BatchNormStage>(layer_as<BatchNorm>(request), request.fuse_relu, request.src, request.training,
                                            request.context);
}

}  // namespace convnet::engine::onednn
