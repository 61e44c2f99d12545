// The stage interface of the oneDNN backend: one layer, or a fused group of layers, with its
// primitives for one batch size and mode, and what a stage is built from. Internal.
#pragma once

#include "memory.h"
#include "onednn.h"

#include <convnet/core/error.h>
#include <convnet/nn/layer.h>
#include <convnet/nn/layers/batchnorm.h>

#include <span>

namespace convnet::engine::onednn {

// A stage is built once per (batch size, mode) and wired in two passes: construction connects it
// to its input (the previous stage's dst) and decides its output layout; connect_backward, in
// training, connects it to the gradient arriving from the next stage. The Plan then gives dst and
// diff_src their buffers.
class Stage {
public:
    virtual ~Stage() = default;
    // Brings the weights from the arena into the primitive's layout; needed only after they change.
    virtual void prepare_weights(dnnl::stream&) {}
    virtual void forward(dnnl::stream& stream) = 0;
    // Wires the gradient arriving from the next stage; allocates this stage's input gradient when
    // need_diff_src (false for the first stage).
    virtual void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) = 0;
    // Writes the layer's trainable gradients into the arena and, when asked, diff_src.
    virtual void backward(dnnl::stream& stream) = 0;
    const memory& dst() const { return dst_; }
    // The gradient at input k (a join has several; others only k = 0), valid after
    // connect_backward. A join may hand out its diff_dst itself (add's gradient is its input's).
    virtual const memory& diff_src(std::size_t k = 0) const {
        (void)k;
        return diff_src_;
    }

protected:
    memory src_, dst_, diff_dst_, diff_src_;
    bool need_diff_src_ = false;
};

// What the table's factory for a layer type is given.
struct StageRequest {
    Layer& layer;                     // the layer that makes the stage, of its row's type
    const Shape& output;              // the stage's output with the batch, after whatever it fuses
    const memory& src;                // the output it reads (the network's plain input, or another stage's)
    std::span<const memory> sources;  // every output it reads, in from= order (src is the first)
    bool training;
    bool fuse_relu;          // batch norm: the relu after it is fused
    bool fuse_max_pool;      // batch norm in training: the relu and a 2×2 max pool after it are fused
    BatchNorm* folded_norm;  // convolution in evaluation: the batch norm it absorbs, else null
    Context& context;
};

// The request's layer as the class its table row serves; a row that names the wrong class is a
// programming error, reported rather than undefined.
template <typename LayerClass>
LayerClass& layer_as(const StageRequest& request) {
    auto* layer = dynamic_cast<LayerClass*>(&request.layer);
    if (layer == nullptr) throw Error("oneDNN path: the stage table's row for " + request.layer.type() + " names another layer class");
    return *layer;
}

// The factories of the op files, which the stage table (stage_table.cpp) points to.
std::unique_ptr<Stage> make_convolution_stage(const StageRequest& request);
std::unique_ptr<Stage> make_batch_norm_stage(const StageRequest& request);
std::unique_ptr<Stage> make_batch_norm_relu_max_pool_stage(const StageRequest& request);
std::unique_ptr<Stage> make_relu_stage(const StageRequest& request);
std::unique_ptr<Stage> make_leaky_relu_stage(const StageRequest& request);
std::unique_ptr<Stage> make_tanh_stage(const StageRequest& request);
std::unique_ptr<Stage> make_sigmoid_stage(const StageRequest& request);
std::unique_ptr<Stage> make_max_pool_stage(const StageRequest& request);
std::unique_ptr<Stage> make_avg_pool_stage(const StageRequest& request);
std::unique_ptr<Stage> make_global_avg_pool_stage(const StageRequest& request);
std::unique_ptr<Stage> make_inner_product_stage(const StageRequest& request);
std::unique_ptr<Stage> make_dropout_stage(const StageRequest& request);
std::unique_ptr<Stage> make_sum_stage(const StageRequest& request);
std::unique_ptr<Stage> make_concat_stage(const StageRequest& request);
std::unique_ptr<Stage> make_deconvolution_stage(const StageRequest& request);
std::unique_ptr<Stage> make_resampling_stage(const StageRequest& request);
std::unique_ptr<Stage> make_flatten_stage(const StageRequest& request);
// Not a layer's: the reorder of the network's output into the plain layout it is handed over in.
std::unique_ptr<Stage> make_layout_stage(const memory& src, const memory::desc& plain, Context& context);

}  // namespace convnet::engine::onednn
