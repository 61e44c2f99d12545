// oneDNN memory helpers shared by every stage: dims from shapes, plain layouts, wrapping the
// arena's parameters, reorders between layouts, buffers bound later, and a sliding window in
// oneDNN's terms. Internal to the oneDNN backend.
#pragma once

#include "onednn.h"

#include <convnet/core/tensor.h>
#include <convnet/core/window.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <initializer_list>
#include <optional>
#include <unordered_map>

namespace convnet::engine::onednn {

using dnnl::memory;
using Tag = memory::format_tag;
using Args = std::unordered_map<int, memory>;
constexpr auto f32 = memory::data_type::f32;

struct Context {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    OwnKernels own_kernels = OwnKernels::where_they_apply;
};

inline memory::dims to_dims(const Shape& shape) { return memory::dims(shape.dims().begin(), shape.dims().end()); }

// The plain row-major layout of a tensor of this rank (1, 2 or 4); throws for others.
Tag plain_tag(int rank);

// Wraps a parameter of the arena as a plain oneDNN memory (no copy).
memory wrap(const Shape& shape, Tag tag, float* data, const dnnl::engine& engine);

// The 4-D layout with this channel block: 1 plain (abcd), 8 aBcd8b (nChw8c), 16 aBcd16b (nChw16c).
Tag block_tag(std::int64_t block);

// Which of `blocks` is the channel block of `desc`'s layout (by block_tag); 0 when none is.
std::int64_t channel_block(const memory::desc& desc, std::initializer_list<std::int64_t> blocks);

// A memory with a layout but no buffer yet: the Plan gives activations and gradients their
// buffers, so that evaluation and the gradient chain can reuse two buffers in turn.
memory unbound(const memory::desc& desc, Context& context);

// A reorder from one memory to another when their layouts differ; nothing when they agree.
struct Conversion {
    std::optional<dnnl::reorder> reorder;
    memory from, to;

    // Returns `source` itself when `wanted` is its layout, else a new memory in `wanted`.
    memory prepare(const memory& source, const memory::desc& wanted, const dnnl::engine& engine);
    // The other direction: `target` is fixed, the producer writes into the returned memory.
    memory prepare_into(const memory& target, const memory::desc& produced, const dnnl::engine& engine);
    void run(dnnl::stream& stream) {
        if (reorder) reorder->execute(stream, from, to);
    }
};

// A layer's SlidingWindow in oneDNN's terms, for an input (N, C, H, W) and the output size
// PyTorch's floored rule gave: oneDNN counts dilation from 0 and wants the right/bottom padding
// that makes its exact size rule land on that output.
struct PrimitiveWindow {
    memory::dims strides, kernel, dilates, padding_left, padding_right;
};
PrimitiveWindow primitive_window(const SlidingWindow& window, const memory::dims& input, const Shape& output);

}  // namespace convnet::engine::onednn
