// The oneDNN memory helpers of memory.h.
#include "memory.h"

#include <convnet/core/error.h>

#include <algorithm>
#include <string>

namespace convnet::engine::onednn {

Tag plain_tag(int rank) {
    switch (rank) {
        case 1:
            return Tag::a;
        case 2:
            return Tag::ab;
        case 4:
            return Tag::abcd;
        default:
            throw Error("oneDNN path: no plain layout for rank " + std::to_string(rank));
    }
}

memory wrap(const Shape& shape, Tag tag, float* data, const dnnl::engine& engine) {
    return memory({to_dims(shape), f32, tag}, engine, data);
}

Tag block_tag(std::int64_t block) { return block == 16 ? Tag::aBcd16b : block == 8 ? Tag::aBcd8b : Tag::abcd; }

std::int64_t channel_block(const memory::desc& desc, std::initializer_list<std::int64_t> blocks) {
    for (std::int64_t block : blocks)
        if (desc == memory::desc(desc.dims(), f32, block_tag(block))) return block;
    return 0;
}

memory unbound(const memory::desc& desc, Context& context) { return memory(desc, context.engine, DNNL_MEMORY_NONE); }

memory Conversion::prepare(const memory& source, const memory::desc& wanted, const dnnl::engine& engine) {
    from = source;
    if (source.get_desc() == wanted) return to = source;
    to = memory(wanted, engine);
    reorder = dnnl::reorder(from, to);
    return to;
}

memory Conversion::prepare_into(const memory& target, const memory::desc& produced, const dnnl::engine& engine) {
    to = target;
    if (target.get_desc() == produced) return from = target;
    from = memory(produced, engine);
    reorder = dnnl::reorder(from, to);
    return from;
}

namespace {
// Right/bottom padding that makes oneDNN's exact size rule give PyTorch's floored output size.
std::int64_t trailing_padding(std::int64_t output, std::int64_t stride, std::int64_t span, std::int64_t input, std::int64_t leading) {
    return std::max<std::int64_t>(0, (output - 1) * stride + span - input - leading);
}
}  // namespace

PrimitiveWindow primitive_window(const SlidingWindow& window, const memory::dims& input, const Shape& output) {
    return {{window.stride_height, window.stride_width},
            {window.kernel_height, window.kernel_width},
            {window.dilation_height - 1, window.dilation_width - 1},
            {window.padding_height, window.padding_width},
            {trailing_padding(output[2], window.stride_height, window.span_height(), input[2], window.padding_height),
             trailing_padding(output[3], window.stride_width, window.span_width(), input[3], window.padding_width)}};
}

}  // namespace convnet::engine::onednn
