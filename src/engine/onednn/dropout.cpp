// The dropout stage, training only, applying the layer's own masks.
#include "stage.h"

#include <convnet/nn/layers/dropout.h>

namespace convnet::engine::onednn {

namespace {

// Dropout in training, on a plain (N, F) input, with the layer's own masks (so both paths drop
// the same elements). Evaluation has no stage: dropout is the identity there.
class DropoutStage : public Stage {
public:
    DropoutStage(Dropout& layer, const memory& src, Context& context) : layer_(layer) {
        src_ = src;
        dst_ = unbound(src.get_desc(), context);
        const memory::dims dims = src.get_desc().dims();
        size_ = dims[0] * dims[1];
    }
    void forward(dnnl::stream&) override {
        layer_.draw_mask(size_);
        layer_.apply_mask(static_cast<const float*>(src_.get_data_handle()), static_cast<float*>(dst_.get_data_handle()), size_);
    }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (need_diff_src) diff_src_ = unbound(src_.get_desc(), context);
    }
    void backward(dnnl::stream&) override {
        if (!need_diff_src_) return;
        layer_.apply_mask(static_cast<const float*>(diff_dst_.get_data_handle()), static_cast<float*>(diff_src_.get_data_handle()), size_);
    }

private:
    Dropout& layer_;
    std::int64_t size_ = 0;
};

}  // namespace

std::unique_ptr<Stage> make_dropout_stage(const StageRequest& request) {
    if (!request.training) return nullptr;  // the identity
    return std::make_unique<DropoutStage>(layer_as<Dropout>(request), request.src, request.context);
}

}  // namespace convnet::engine::onednn
