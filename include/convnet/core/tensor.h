// Shapes and the float32 tensor that carries activations and gradients between layers: owning,
// 64-byte aligned, always plain NCHW (or (N, features)). The fast path keeps its activations in
// oneDNN's blocked layouts internally (src/engine/) and never hands them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace convnet {

// Dimensions, outermost first: (N, C, H, W) for images, (N, F) for feature vectors.
class Shape {
public:
    Shape() = default;
    Shape(std::initializer_list<std::int64_t> dims);
    explicit Shape(std::vector<std::int64_t> dims);

    int rank() const { return static_cast<int>(dims_.size()); }
    std::int64_t operator[](int axis) const { return dims_.at(static_cast<std::size_t>(axis)); }
    // The product of the dimensions (0 for rank 0). Throws convnet::Error naming the shape when it
    // does not fit in int64: every size in the library is computed through this or checked_multiply.
    std::int64_t element_count() const;
    const std::vector<std::int64_t>& dims() const { return dims_; }
    // The same shape with the outermost (batch) dimension replaced.
    Shape with_batch(std::int64_t batch) const;
    // "1x28x28": the notation of model files and messages.
    std::string to_string() const;
    bool operator==(const Shape& other) const = default;

private:
    std::vector<std::int64_t> dims_;
};

// a·b and a + b, throwing convnet::Error "WHAT: A × B does not fit in 64 bits" on overflow.
std::int64_t checked_multiply(std::int64_t a, std::int64_t b, const std::string& what);
std::int64_t checked_add(std::int64_t a, std::int64_t b, const std::string& what);

// No NaN or infinity among `values`. Branch-free over the exponent bits, so that it vectorises:
// a pass over convnet1's 30,000 weights or gradients costs about a microsecond, which is what
// lets training check them every step (make bench reports the cost).
bool all_finite(std::span<const float> values);

class Tensor {
public:
    Tensor() = default;
    // Allocates and zero-fills. Throws convnet::Error on a negative or absurd size.
    explicit Tensor(Shape shape);

    const Shape& shape() const { return shape_; }
    std::int64_t size() const { return shape_.element_count(); }
    float* data() { return data_.get(); }
    const float* data() const { return data_.get(); }
    float& operator[](std::int64_t index) { return data_.get()[index]; }
    float operator[](std::int64_t index) const { return data_.get()[index]; }

    // Keeps the allocation when the element count fits (no allocation per training step);
    // contents are unspecified afterwards.
    void resize(const Shape& shape);
    // Same elements seen with another shape of equal element count.
    void reshape(const Shape& shape);
    void fill(float value);

private:
    struct AlignedFree {
        void operator()(float* pointer) const;
    };
    Shape shape_;
    std::int64_t capacity_ = 0;
    std::unique_ptr<float[], AlignedFree> data_;
};

}  // namespace convnet
