// The join stages: add as oneDNN's sum (its backward hands every input the output's gradient
// itself, no copy) and concat along channels (backward: each input's block of the gradient).
#include "stage.h"

namespace convnet::engine::onednn {

namespace {

std::vector<memory::desc> descs_of(const std::vector<memory>& memories) {
    std::vector<memory::desc> descs;
    for (const memory& each : memories) descs.push_back(each.get_desc());
    return descs;
}

// The arguments of a primitive that reads `sources` (DNNL_ARG_MULTIPLE_SRC + k) and writes `dst`.
Args join_args(const std::vector<memory>& sources, const memory& dst) {
    Args args{{DNNL_ARG_DST, dst}};
    for (std::size_t k = 0; k < sources.size(); ++k) args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), sources[k]);
    return args;
}

class SumStage : public Stage {
public:
    SumStage(std::span<const memory> sources, Context& context) : sources_(sources.begin(), sources.end()) {
        const std::vector<memory::desc> descs = descs_of(sources_);
        // The output in the first input's layout; oneDNN reorders any other on the fly.
        forward_pd_ = dnnl::sum::primitive_desc(descs.front(), std::vector<float>(descs.size(), 1.0f), descs, context.engine);
        forward_ = dnnl::sum(forward_pd_);
        src_ = sources_.front();
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }
    void forward(dnnl::stream& stream) override { forward_.execute(stream, join_args(sources_, dst_)); }
    // d(a + b)/da = 1: every input's gradient is diff_dst, handed out as the same memory.
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context&) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        diff_src_ = diff_dst;
    }
    void backward(dnnl::stream&) override {}

private:
    std::vector<memory> sources_;
    dnnl::sum::primitive_desc forward_pd_;
    dnnl::sum forward_;
};

class ConcatStage : public Stage {
public:
    ConcatStage(std::span<const memory> sources, Context& context) : sources_(sources.begin(), sources.end()) {
        const std::vector<memory::desc> descs = descs_of(sources_);
        forward_pd_ = dnnl::concat::primitive_desc(1, descs, context.engine);
        forward_ = dnnl::concat(forward_pd_);
        src_ = sources_.front();
        dst_ = unbound(forward_pd_.dst_desc(), context);
    }
    void forward(dnnl::stream& stream) override { forward_.execute(stream, join_args(sources_, dst_)); }
    // The gradient is brought to plain NCHW once, then each input's channels are cut out of it
    // (a channel offset inside a 16-channel block is not a sub-memory oneDNN can address blocked).
    void connect_backward(const memory& diff_dst, bool need_diff_src, Context& context) override {
        diff_dst_ = diff_dst;
        need_diff_src_ = need_diff_src;
        const memory::dims dims = diff_dst.get_desc().dims();
        plain_ = plain_conversion_.prepare(diff_dst, memory::desc(dims, f32, plain_tag(static_cast<int>(dims.size()))), context.engine);
        memory::dim offset = 0;
        for (const memory& source : sources_) {
            const memory::dims block = source.get_desc().dims();
            memory::dims offsets(block.size(), 0);
            offsets[1] = offset;
            offset += block[1];
            // The sub-memory shares plain_'s buffer, whatever the Plan later binds to it.
            blocks_.push_back(unbound(plain_.get_desc().submemory_desc(block, offsets), context));
            diff_srcs_.push_back(unbound(source.get_desc(), context));
            reorders_.emplace_back(blocks_.back(), diff_srcs_.back());
        }
    }
    void backward(dnnl::stream& stream) override {
        plain_conversion_.run(stream);
        for (std::size_t k = 0; k < reorders_.size(); ++k) {
            blocks_[k].set_data_handle(plain_.get_data_handle());
            reorders_[k].execute(stream, blocks_[k], diff_srcs_[k]);
        }
    }
    const memory& diff_src(std::size_t k) const override { return diff_srcs_[k]; }

private:
    std::vector<memory> sources_, blocks_, diff_srcs_;
    std::vector<dnnl::reorder> reorders_;
    Conversion plain_conversion_;
    memory plain_;
    dnnl::concat::primitive_desc forward_pd_;
    dnnl::concat forward_;
};

}  // namespace

std::unique_ptr<Stage> make_sum_stage(const StageRequest& request) { return std::make_unique<SumStage>(request.sources, request.context); }

std::unique_ptr<Stage> make_concat_stage(const StageRequest& request) {
    return std::make_unique<ConcatStage>(request.sources, request.context);
}

}  // namespace convnet::engine::onednn
