// The batch normalization stage, with a following relu fused; the running statistics are updated
// by the layer's own rule. Synchronised over ranks (the layer's communicator), the batch
// statistics are combined by the layer's own rule and oneDNN normalises with them as given;
// its backward then treats them as constants, so the terms of their gradient are added after.
#include "stage.h"

#include <convnet/nn/layers/batchnorm.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

namespace convnet::engine::onednn {

namespace {

// Batch norm, with the ReLU after it fused in when there is one.
class BatchNormStage : public Stage {
public:
    BatchNormStage(BatchNorm& layer, bool fused_relu, const memory& src, bool training, Context& context)
        : layer_(layer), training_(training), context_(&context) {
        flags_ = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        if (fused_relu) flags_ |= dnnl::normalization_flags::fuse_norm_relu;
        const auto flags = training ? flags_ : flags_ | dnnl::normalization_flags::use_global_stats;
        const auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        src_ = src;
        forward_pd_ = dnnl::batch_normalization_forward::primitive_desc(
            {prop, src.get_desc(), static_cast<float>(layer.options().eps), flags}, context.engine);
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
        if (training_ && layer_.communicator() != nullptr) return synchronised_forward(stream);
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
            {dnnl::prop_kind::backward, diff_dst.get_desc(), src_.get_desc(), static_cast<float>(layer_.options().eps), flags_},
            context.engine, forward_pd_);
        backward_ = dnnl::batch_normalization_backward(backward_pd_);
        // oneDNN's backward writes the input gradient with the parameters' in one pass, needed
        // or not: a first stage (nothing before it wants the gradient, so the executor binds no
        // buffer) writes it into a scratch buffer of its own, not through a null handle.
        diff_src_ = need_diff_src ? unbound(backward_pd_.diff_src_desc(), context) : memory(backward_pd_.diff_src_desc(), context.engine);
        diff_scale_ = wrap(layer_.weight().shape, Tag::a, layer_.weight().grad, context.engine);
        diff_shift_ = wrap(layer_.bias().shape, Tag::a, layer_.bias().grad, context.engine);
    }

    void backward(dnnl::stream& stream) override {
        if (layer_.communicator() != nullptr) return synchronised_backward(stream);
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
    // Built on the first synchronised call: the local statistics' pass, the forward and backward
    // with given statistics, and the input gradient's correction.
    struct Synchronised {
        dnnl::batch_normalization_forward local_forward, forward;
        dnnl::batch_normalization_forward::primitive_desc forward_pd;
        dnnl::batch_normalization_backward backward;
        dnnl::batch_normalization_forward affine;
        dnnl::binary correction;
        memory local_dst, constant_diff_src, slope, offset, zeros, ones, affine_of_src;
    };

    void build_synchronised(Context& context) {
        auto& built = synchronised_.emplace();
        const auto local_flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
        built.local_forward = dnnl::batch_normalization_forward(dnnl::batch_normalization_forward::primitive_desc(
            {dnnl::prop_kind::forward_training, src_.get_desc(), static_cast<float>(layer_.options().eps), local_flags},
            context.engine));
        built.local_dst = memory(forward_pd_.dst_desc(), context.engine);
        const auto given = flags_ | dnnl::normalization_flags::use_global_stats;
        built.forward_pd = dnnl::batch_normalization_forward::primitive_desc(
            {dnnl::prop_kind::forward_training, src_.get_desc(), static_cast<float>(layer_.options().eps), given}, context.engine);
        built.forward = dnnl::batch_normalization_forward(built.forward_pd);
        if (workspace_) workspace_ = memory(built.forward_pd.workspace_desc(), context.engine);
        const auto backward_pd = dnnl::batch_normalization_backward::primitive_desc(
            {dnnl::prop_kind::backward, diff_dst_.get_desc(), src_.get_desc(), static_cast<float>(layer_.options().eps), given},
            context.engine, built.forward_pd);
        built.backward = dnnl::batch_normalization_backward(backward_pd);
        built.constant_diff_src = memory(backward_pd.diff_src_desc(), context.engine);
        // diff_src = constant_diff_src − (slope·x + offset). The per-channel affine is a batch norm
        // with mean 0, variance 1 and eps 0 (oneDNN 2.6's binary primitive has no fast kernel for
        // a per-channel operand in blocked layouts; its batch norm has), the difference a binary.
        const memory::desc channel_desc({src_.get_desc().dims()[1]}, f32, Tag::a);
        built.slope = memory(channel_desc, context.engine);
        built.offset = memory(channel_desc, context.engine);
        built.zeros = memory(channel_desc, context.engine);
        built.ones = memory(channel_desc, context.engine);
        const auto channels = static_cast<std::size_t>(src_.get_desc().dims()[1]);
        std::fill_n(static_cast<float*>(built.zeros.get_data_handle()), channels, 0.0f);
        std::fill_n(static_cast<float*>(built.ones.get_data_handle()), channels, 1.0f);
        const auto affine_pd = dnnl::batch_normalization_forward::primitive_desc(
            {dnnl::prop_kind::forward_inference, src_.get_desc(), 0.0f,
             dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift},
            context.engine);
        built.affine = dnnl::batch_normalization_forward(affine_pd);
        built.affine_of_src = memory(affine_pd.dst_desc(), context.engine);
        built.correction = dnnl::binary(dnnl::binary::primitive_desc(
            dnnl::binary::desc(dnnl::algorithm::binary_sub, backward_pd.diff_src_desc(), affine_pd.dst_desc(), backward_pd.diff_src_desc()),
            context.engine));
    }

    void synchronised_forward(dnnl::stream& stream) {
        if (!synchronised_) build_synchronised(*context_);
        auto& built = *synchronised_;
        built.local_forward.execute(stream, {{DNNL_ARG_SRC, src_},
                                             {DNNL_ARG_DST, built.local_dst},
                                             {DNNL_ARG_SCALE, scale_},
                                             {DNNL_ARG_SHIFT, shift_},
                                             {DNNL_ARG_MEAN, mean_},
                                             {DNNL_ARG_VARIANCE, variance_}});
        stream.wait();
        const auto channels = static_cast<std::size_t>(layer_.options().channels);
        float* mean = static_cast<float*>(mean_.get_data_handle());
        float* variance = static_cast<float*>(variance_.get_data_handle());
        std::vector<double> global_mean(mean, mean + channels), global_variance(variance, variance + channels);
        global_count_ = count_;
        layer_.synchronise_statistics(global_mean, global_variance, global_count_);
        for (std::size_t c = 0; c < channels; ++c) {
            mean[c] = static_cast<float>(global_mean[c]);
            variance[c] = static_cast<float>(global_variance[c]);
            layer_.update_running_statistics(static_cast<std::int64_t>(c), global_mean[c], global_variance[c], global_count_);
        }
        layer_.record_batch();
        Args args{{DNNL_ARG_SRC, src_},     {DNNL_ARG_DST, dst_},   {DNNL_ARG_SCALE, scale_},
                  {DNNL_ARG_SHIFT, shift_}, {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, variance_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        built.forward.execute(stream, args);
    }

    // dx = w·istd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) over the global batch; oneDNN gives the first term
    // (statistics as constants) and this rank's sums, which one all-reduce makes global.
    void synchronised_backward(dnnl::stream& stream) {
        auto& built = *synchronised_;
        Args args{{DNNL_ARG_SRC, src_},
                  {DNNL_ARG_MEAN, mean_},
                  {DNNL_ARG_VARIANCE, variance_},
                  {DNNL_ARG_DIFF_DST, diff_dst_},
                  {DNNL_ARG_SCALE, scale_},
                  {DNNL_ARG_SHIFT, shift_},
                  {DNNL_ARG_DIFF_SRC, built.constant_diff_src},
                  {DNNL_ARG_DIFF_SCALE, diff_scale_},
                  {DNNL_ARG_DIFF_SHIFT, diff_shift_}};
        if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
        built.backward.execute(stream, args);
        if (!need_diff_src_) return;
        stream.wait();
        const auto channels = static_cast<std::size_t>(layer_.options().channels);
        std::vector<double> sums(2 * channels);
        for (std::size_t c = 0; c < channels; ++c) {
            sums[c] = layer_.bias().grad[c];               // Σdy (this rank's)
            sums[channels + c] = layer_.weight().grad[c];  // Σdy·x̂
        }
        layer_.synchronise_gradient_sums(sums);
        const float* mean = static_cast<const float*>(mean_.get_data_handle());
        const float* variance = static_cast<const float*>(variance_.get_data_handle());
        float* slope = static_cast<float*>(built.slope.get_data_handle());
        float* offset = static_cast<float*>(built.offset.get_data_handle());
        const double count = double(global_count_);
        for (std::size_t c = 0; c < channels; ++c) {
            const double inverse_std = 1.0 / std::sqrt(double(variance[c]) + layer_.options().eps);
            const double weight = layer_.weight().value[c];
            const double a = weight * inverse_std * inverse_std * sums[channels + c] / count;
            slope[c] = static_cast<float>(a);
            offset[c] = static_cast<float>(weight * inverse_std * sums[c] / count - a * mean[c]);
        }
        built.affine.execute(stream, {{DNNL_ARG_SRC, src_},
                                      {DNNL_ARG_DST, built.affine_of_src},
                                      {DNNL_ARG_SCALE, built.slope},
                                      {DNNL_ARG_SHIFT, built.offset},
                                      {DNNL_ARG_MEAN, built.zeros},
                                      {DNNL_ARG_VARIANCE, built.ones}});
        built.correction.execute(
            stream, {{DNNL_ARG_SRC_0, built.constant_diff_src}, {DNNL_ARG_SRC_1, built.affine_of_src}, {DNNL_ARG_DST, diff_src_}});
    }

    // The layer's own rule, on oneDNN's batch mean and biased variance.
    void update_running_statistics() {
        const float* mean = static_cast<const float*>(mean_.get_data_handle());
        const float* variance = static_cast<const float*>(variance_.get_data_handle());
        for (std::int64_t c = 0; c < layer_.running_mean().shape[0]; ++c) layer_.update_running_statistics(c, mean[c], variance[c], count_);
        layer_.record_batch();
    }

    BatchNorm& layer_;
    bool training_;
    Context* context_;
    std::int64_t count_ = 0, global_count_ = 0;
    std::optional<Synchronised> synchronised_;
    dnnl::normalization_flags flags_;
    dnnl::batch_normalization_forward::primitive_desc forward_pd_;
    dnnl::batch_normalization_forward forward_;
    dnnl::batch_normalization_backward::primitive_desc backward_pd_;
    dnnl::batch_normalization_backward backward_;
    memory scale_, shift_, mean_, variance_, workspace_, diff_scale_, diff_shift_;
};

}  // namespace

std::unique_ptr<Stage> make_batch_norm_stage(const StageRequest& request) {
    if (request.fuse_max_pool) return make_batch_norm_relu_max_pool_stage(request);
    return std::make_unique<BatchNormStage>(layer_as<BatchNorm>(request), request.fuse_relu, request.src, request.training,
                                            request.context);
}

}  // namespace convnet::engine::onednn
