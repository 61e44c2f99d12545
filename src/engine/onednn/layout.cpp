// Reorders between layouts: flatten when it has a stage of its own, and the layout stage (not a
// layer: the reorder from the last stage's blocked output to the plain NCHW a per-pixel output is
// handed over in, and its gradient back).
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

// Flatten when no linear absorbs it (dropout between them, say): the 4-D input, in whatever
// layout it comes, reordered into plain NCHW, which is (N, C·H·W) row-major. The reorder writes
// through a 4-D view of the (N, F) buffer the Plan binds.
class FlattenStage : public Stage {
public:
    FlattenStage(const memory& src, Context& context) {
        src_ = src;
        const memory::dims dims = src.get_desc().dims();
        plain_ = memory::desc(dims, f32, plain_tag(static_cast<int>(dims.size())));
        dst_ =
            unbound(memory::desc({dims[0], static_cast<memory::dim>(plain_.get_size() / sizeof(float)) / dims[0]}, f32, Tag::ab), context);
        view_ = unbound(plain_, context);
        forward_ = dnnl::reorder(src_, view_);
    }
    void forward(dnnl::stream& stream) override {
        view_.set_data_handle(dst_.get_data_handle());
        forward_.execute(stream, src_, view_);
    }
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        if (!need_diff_src) return;
        diff_view_ = unbound(plain_, context);
        diff_src_ = unbound(src_.get_desc(), context);
        backward_ = dnnl::reorder(diff_view_, diff_src_);
    }
    void backward(dnnl::stream& stream) override {
        if (!need_diff_src_) return;
        diff_view_.set_data_handle(diff_dst_.get_data_handle());
        backward_.execute(stream, diff_view_, diff_src_);
    }

private:
    memory::desc plain_;
    memory view_, diff_view_;
    dnnl::reorder forward_, backward_;
};

}  // namespace

std::unique_ptr<Stage> make_flatten_stage(const StageRequest& request) {
    return std::make_unique<FlattenStage>(request.src, request.context);
}

std::unique_ptr<Stage> make_layout_stage(const memory& src, const memory::desc& plain, Context& context) {
    return std::make_unique<LayoutStage>(src, plain, context);
}

}  // namespace convnet::engine::onednn
