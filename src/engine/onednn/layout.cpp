// The layout stage: not a layer, but the reorder from the last stage's blocked output to the plain
// NCHW a per-pixel output is handed over in (and its gradient back).
#include "stage.h"

namespace convnet::engine::onednn {

namespace {

class LayoutStage : public Stage {
public:
    LayoutStage(const memory& src, const memory::desc& plain, Context& context) {
        src_ = src;
        dst_ = unbound(plain, context);
        forward_ = dnnl::reorder(src_, dst_);
    }
    void forward(dnnl::stream& stream) override { forward_.execute(stream, src_, dst_); }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        diff_src_ = unbound(src_.get_desc(), context);
        backward_ = dnnl::reorder(diff_dst_, diff_src_);
    }
    void backward(dnnl::stream& stream) override {
        if (need_diff_src_) backward_.execute(stream, diff_dst_, diff_src_);
    }

private:
    dnnl::reorder forward_, backward_;
};

}  // namespace

std::unique_ptr<Stage> make_layout_stage(const memory& src, const memory::desc& plain, Context& context) {
    return std::make_unique<LayoutStage>(src, plain, context);
}

}  // namespace convnet::engine::onednn
