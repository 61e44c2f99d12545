// Shape arithmetic and the aligned tensor buffer.
#include <convnet/core/error.h>
#include <convnet/core/tensor.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace convnet {

namespace {
constexpr std::size_t kAlignment = 64;                        // one cache line, one AVX-512 register
constexpr std::int64_t kMaxElements = std::int64_t{1} << 33;  // 32 GiB of floats: beyond any real use here
}  // namespace

Shape::Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) {}
Shape::Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}

std::int64_t checked_multiply(std::int64_t a, std::int64_t b, const std::string& what) {
    std::int64_t product = 0;
    if (__builtin_mul_overflow(a, b, &product))
        throw Error(what + ": " + std::to_string(a) + " × " + std::to_string(b) + " does not fit in 64 bits");
    return product;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum))
        throw Error(what + ": " + std::to_string(a) + " + " + std::to_string(b) + " does not fit in 64 bits");
    return sum;
}

bool all_finite(std::span<const float> values) {
    std::uint32_t non_finite = 0;
    for (const float value : values) {
        std::uint32_t bits;
        std::memcpy(&bits, &value, sizeof(bits));
        non_finite |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    return non_finite == 0;
}

std::int64_t Shape::element_count() const {
    std::int64_t count = 1;
    for (std::int64_t dim : dims_)
        if (__builtin_mul_overflow(count, dim, &count)) throw Error("the shape " + to_string() + " has more values than fit in 64 bits");
    return dims_.empty() ? 0 : count;
}

Shape Shape::with_batch(std::int64_t batch) const {
    std::vector<std::int64_t> dims = dims_;
    if (!dims.empty()) dims[0] = batch;
    return Shape(std::move(dims));
}

std::string Shape::to_string() const {
    std::string text;
    for (std::size_t axis = 0; axis < dims_.size(); ++axis) {
        if (axis > 0) text += 'x';
        text += std::to_string(dims_[axis]);
    }
    return text;
}

void Tensor::AlignedFree::operator()(float* pointer) const { std::free(pointer); }

Tensor::Tensor(Shape shape) {
    resize(shape);
    fill(0.0f);
}

void Tensor::resize(const Shape& shape) {
    for (std::int64_t dim : shape.dims())
        if (dim < 0) throw Error("tensor shape " + shape.to_string() + " has a negative dimension");
    const std::int64_t count = shape.element_count();
    if (count > kMaxElements) throw Error("tensor shape " + shape.to_string() + " is too large to allocate");
    if (count > capacity_) {
        const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
        float* memory = static_cast<float*>(std::aligned_alloc(kAlignment, bytes));
        if (memory == nullptr) throw Error("out of memory allocating a tensor of shape " + shape.to_string());
        data_.reset(memory);
        capacity_ = count;
    }
    shape_ = shape;
}

void Tensor::reshape(const Shape& shape) {
    if (shape.element_count() != shape_.element_count()) throw Error("cannot reshape " + shape_.to_string() + " to " + shape.to_string());
    shape_ = shape;
}

void Tensor::fill(float value) { std::fill(data_.get(), data_.get() + size(), value); }

}  // namespace convnet
