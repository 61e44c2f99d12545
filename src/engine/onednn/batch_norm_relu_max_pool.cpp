// Training's [batch norm → relu → 2×2 max pool] as one stage on our own kernel
// (src/kernels/batch_norm_relu_max_pool.h): the block's memory-bound passes, two sweeps each way
// instead of oneDNN's six. The running statistics are updated by the layer's own rule;
// synchronised over ranks (the layer's communicator), the statistics and the input gradient's
// sums are made global by the layer's own calls, as the plain batch norm stage does.
#include "stage.h"

#include "../../kernels/batch_norm_relu_max_pool.h"

#include <convnet/nn/layers/batchnorm.h>

#include <optional>
#include <vector>

namespace convnet::engine::onednn {

namespace {

class BatchNormReluMaxPoolStage : public Stage {
public:
    // `output` is the pooled (N, C, ⌊H/2⌋, ⌊W/2⌋) with the batch.
    BatchNormReluMaxPoolStage(BatchNorm& layer, const Shape& output, const memory& src, Context& context) : layer_(layer) {
        const memory::dims dims = src.get_desc().dims();
        // The kernel reads 8- or 16-channel blocks; any other layout is converted to 8.
        const std::int64_t found = channel_block(src.get_desc(), {8, 16});
        const std::int64_t block = found == 0 ? 8 : found;
        src_ = src;
        input_ = input_conversion_.prepare(src, {dims, f32, block_tag(block)}, context.engine);
        kernel_.emplace(kernels::BatchNormPoolGeometry{dims[0], dims[1], dims[2], dims[3], block});
        dst_ = unbound({to_dims(output), f32, block_tag(block)}, context);
        const auto channels = static_cast<std::size_t>(dims[1]);
        mean_.resize(channels);
        variance_.resize(channels);
        sums_.resize(2 * channels);
    }

    void forward(dnnl::stream& stream) override {
        input_conversion_.run(stream);
        stream.wait();  // the kernel reads outside oneDNN
        const float* input = static_cast<const float*>(input_.get_data_handle());
        kernel_->statistics(input, mean_, variance_);
        count_ = kernel_->count();
        if (layer_.communicator() != nullptr) layer_.synchronise_statistics(mean_, variance_, count_);
        for (std::size_t c = 0; c < mean_.size(); ++c)
            layer_.update_running_statistics(static_cast<std::int64_t>(c), mean_[c], variance_[c], count_);
        layer_.record_batch();
        kernel_->forward(input, layer_.weight().value, layer_.bias().value, mean_, variance_, layer_.options().eps,
                         static_cast<float*>(dst_.get_data_handle()));
    }

    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        grad_output_ = grad_output_conversion_.prepare(diff_dst, dst_.get_desc(), context.engine);
        if (!need_diff_src) return;
        // The previous stage takes its gradient in the layout of its own output.
        diff_src_ = unbound(src_.get_desc(), context);
        grad_input_ = grad_input_conversion_.prepare_into(diff_src_, input_.get_desc(), context.engine);
    }

    void backward(dnnl::stream& stream) override {
        grad_output_conversion_.run(stream);
        stream.wait();
        const std::size_t channels = mean_.size();
        const std::span<double> sum_dy(sums_.data(), channels), sum_dy_xhat(sums_.data() + channels, channels);
        kernel_->gradient_sums(static_cast<const float*>(grad_output_.get_data_handle()), sum_dy, sum_dy_xhat);
        // The parameter gradients are this rank's own (bias: Σdy, weight: Σdy·x̂), as torch's.
        for (std::size_t c = 0; c < channels; ++c) {
            layer_.bias().grad[c] = static_cast<float>(sum_dy[c]);
            layer_.weight().grad[c] = static_cast<float>(sum_dy_xhat[c]);
        }
        if (!need_diff_src_) return;
        if (layer_.communicator() != nullptr) layer_.synchronise_gradient_sums(sums_);
        kernel_->input_gradient(static_cast<const float*>(input_.get_data_handle()),
                                static_cast<const float*>(grad_output_.get_data_handle()), layer_.weight().value, mean_, variance_,
                                layer_.options().eps, sum_dy, sum_dy_xhat, double(count_),
                                static_cast<float*>(grad_input_.get_data_handle()));
        grad_input_conversion_.run(stream);
    }

private:
    BatchNorm& layer_;
    std::optional<kernels::BatchNormReluMaxPool> kernel_;
    Conversion input_conversion_, grad_output_conversion_, grad_input_conversion_;
    memory input_, grad_output_, grad_input_;  // in the kernel's layout
    std::vector<double> mean_, variance_;      // the batch's (every rank's when synchronised)
    std::vector<double> sums_;                 // Σdy then Σdy·x̂, per channel
    std::int64_t count_ = 0;                   // values per channel the statistics were taken over
};

}  // namespace

std::unique_ptr<Stage> make_batch_norm_relu_max_pool_stage(const StageRequest& request) {
    return std::make_unique<BatchNormReluMaxPoolStage>(layer_as<BatchNorm>(request), request.output, request.src, request.context);
}

}  // namespace convnet::engine::onednn
