// The interface every layer implements: a shape rule, its parameters, forward and backward.
// Parameters live in the network's arena; a layer holds named views into it.
#pragma once

#include <convnet/core/attribute.h>
#include <convnet/core/random.h>
#include <convnet/core/tensor.h>
#include <convnet/core/window.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convnet {

enum class ParameterRole {
    trainable,  // updated by the optimiser, has a gradient
    buffer,     // saved with the weights but not trained (batch norm's running statistics)
};

struct Parameter {
    std::string name;  // "weight", "bias", "running_mean": PyTorch's names
    Shape shape;
    ParameterRole role = ParameterRole::trainable;
    float* value = nullptr;  // set by the network when it lays out its arena
    float* grad = nullptr;   // trainable parameters only
};

// The layer contract, which the network, the fast path and the tests rely on.
//
// Requires (the caller's side):
//   - parameters are bound before any forward, backward or initialize: every Parameter's `value`
//     (and, for trainable ones, `grad`) points into storage of shape.element_count() floats that
//     outlives the layer's use (Network's arena; the test harness's BoundLayer);
//   - inputs have a shape that output_shape accepts; `input` and `output` (and `grad_output` and
//     `grad_input`) are distinct tensors: no aliasing, no in-place calls;
//   - backward follows the forward_train whose `input` and `output` it is given, with the
//     parameters unchanged in between.
// Ensures (the layer's side):
//   - forward and forward_train resize `output` to output_shape(input.shape()) and write all of
//     it; backward resizes `grad_input` to the input's shape and writes all of it, and writes
//     (never accumulates) every trainable parameter's `grad`;
//   - the gradients are those of the function forward_train computes: for any scalar
//     L = Σ grad_output · output, grad_input = ∂L/∂input and grad = ∂L/∂parameter, which is the
//     identity the finite-difference check (tests/unit/test_gradients.cpp) measures;
//   - forward is const and touches no state: safe from several threads at once; forward_train
//     may update buffers (running statistics) and the layer's own random state (dropout);
//   - NaN and infinities propagate as in the PyTorch module of the same name.
// A layer reaches its parameters by the index declare() returned, never by position in
// parameters(); the order of parameters() is the declaration order, which names in the state are
// keyed by. Layers are not copied or moved: a copy would alias the original's parameter views.
class Layer {
public:
    Layer() = default;
    Layer(const Layer&) = delete;
    Layer& operator=(const Layer&) = delete;
    virtual ~Layer() = default;

    // The registry name ("conv2d").
    virtual std::string type() const = 0;
    // The options as typed data under PyTorch's keywords (attribute.h); none by default.
    virtual std::vector<Attribute> attributes() const { return {}; }
    // The options as a model-file line writes them after the type ("out=8 kernel=3 pad=1"),
    // defaults left out: derived from attributes().
    std::string options_text() const { return convnet::options_text(attributes()); }

    // The output shape for an input shape (batch first); throws convnet::Error naming the layer
    // and the numbers when the input does not fit. Needs no parameter values.
    virtual Shape output_shape(const Shape& input) const = 0;

    // Evaluation: uses running statistics, changes nothing, safe to call from several threads.
    virtual void forward(const Tensor& input, Tensor& output) const = 0;
    // Training: may use batch statistics and update running ones. Default: as evaluation.
    virtual void forward_train(const Tensor& input, Tensor& output) { forward(input, output); }
    // Given the input and output of the last forward_train and the loss gradient at the output,
    // writes (does not accumulate) the parameter gradients and, when grad_input is not null, the
    // gradient at the input. grad_input is null for the first layer: that gradient is never used.
    virtual void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) = 0;

    // PyTorch's default initialisation for this layer; values are bound before this is called.
    virtual void initialize(Random&) {}
    // The layer's own random generator when it draws numbers in training (dropout's masks), else
    // null: a checkpoint keeps its state so that a resumed run draws what the unbroken one would.
    virtual Random* random_generator() { return nullptr; }

    // --- In a graph (model files' from=). Most layers read one input; a join (add, concat; see
    // layers/join.h) reads two or more. Executors call the graph_ forms, whose defaults hand the
    // single input to the methods above; a join overrides them. `inputs` are in from= order.
    struct Arity {
        int minimum = 1;
        int maximum = 1;  // -1: any number
    };
    virtual Arity input_arity() const { return {}; }
    // Throws convnet::Error naming the layer when the count is outside input_arity() or the
    // shapes do not fit together.
    virtual Shape graph_output_shape(std::span<const Shape> inputs) const;
    virtual void graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const;
    virtual void graph_forward_train(std::span<const Tensor* const> inputs, Tensor& output);
    // As backward; grad_inputs[k] null when input k needs no gradient (the network's input).
    virtual void graph_backward(std::span<const Tensor* const> inputs, const Tensor& output, const Tensor& grad_output,
                                std::span<Tensor* const> grad_inputs);

    std::vector<Parameter>& parameters() { return parameters_; }
    const std::vector<Parameter>& parameters() const { return parameters_; }
    std::int64_t parameter_count(ParameterRole role) const;
    // Multiply-adds of one forward pass for one image with this input shape (batch of 1).
    virtual std::int64_t multiply_adds(const Shape& input) const {
        (void)input;
        return 0;
    }
    // Integer state saved with the parameters under its PyTorch name, int64 scalars outside the
    // float arena: batch norm's num_batches_tracked. Most layers have none.
    struct IntegerBuffer {
        std::string name;
        std::int64_t* value;
    };
    virtual std::vector<IntegerBuffer> integer_buffers() { return {}; }

    // Convolution and pooling layers describe their window (for `convnet summary`); others have none.
    virtual std::optional<SlidingWindow> sliding_window() const { return std::nullopt; }
    // Its output-size rule with the numbers of these shapes (batch first) put in, for `convnet
    // summary`: "7·7·32 = 1568" (flatten). Empty for a layer whose output keeps its input's size,
    // and for one with a sliding_window(), whose formula the summary writes from the window.
    virtual std::string output_size_formula(const Shape& input, const Shape& output) const;

    // The fewest images a training batch of inputs of this shape (batch first) may hold: 1, but
    // 2 for batch norm over one value per channel per image (its batch statistics need two, as
    // PyTorch's "Expected more than 1 value per channel when training").
    virtual std::int64_t minimum_training_batch(const Shape& input) const;
    // Whether the outputs are probabilities (softmax): a model that ends in such a layer should
    // not be trained as it is, since the training loss applies its own softmax to raw scores.
    virtual bool outputs_probabilities() const { return false; }

protected:
    // PyTorch's default for weights with a fan-in (nn.Linear, nn.Conv2d, nn.ConvTranspose2d:
    // kaiming_uniform_(a=√5)): the weight, then the bias when there is one, uniform in
    // ±1/√fan_in, drawn in that order.
    static void initialize_uniform(Random& random, std::int64_t fan_in, Parameter& weight, Parameter* bias);
    // One formula per axis for output_size_formula: "H: …; W: …", or one of them where they read the same.
    static std::string per_axis_formula(const std::string& height, const std::string& width);
    // Declares a parameter; returns its index for later access through param(index).
    int declare(std::string name, Shape shape, ParameterRole role = ParameterRole::trainable);
    Parameter& param(int index) { return parameters_[static_cast<std::size_t>(index)]; }
    const Parameter& param(int index) const { return parameters_[static_cast<std::size_t>(index)]; }

private:
    std::vector<Parameter> parameters_;
};

}  // namespace convnet
