// The base of layers that read two or more inputs (add, concat): the graph_ forms of Layer are
// theirs to implement; the single-input forms treat one input as a join of one.
#pragma once

#include <convnet/nn/layer.h>

namespace convnet {

class JoinLayer : public Layer {
public:
    Arity input_arity() const override { return {2, -1}; }
    Shape graph_output_shape(std::span<const Shape> inputs) const override = 0;
    void graph_forward(std::span<const Tensor* const> inputs, Tensor& output) const override = 0;
    void graph_forward_train(std::span<const Tensor* const> inputs, Tensor& output) override { graph_forward(inputs, output); }
    void graph_backward(std::span<const Tensor* const> inputs, const Tensor& output, const Tensor& grad_output,
                        std::span<Tensor* const> grad_inputs) override = 0;

    Shape output_shape(const Shape& input) const override { return graph_output_shape({&input, 1}); }
    void forward(const Tensor& input, Tensor& output) const override {
        const Tensor* inputs[] = {&input};
        graph_forward(inputs, output);
    }
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override {
        const Tensor* inputs[] = {&input};
        Tensor* grads[] = {grad_input};
        graph_backward(inputs, output, grad_output, grads);
    }

protected:
    // Throws "<type>: input K is AxB but input 1 is CxD<what>" unless the shapes agree on every
    // axis but `free_axis` (-1: every axis must agree), and unless they have one rank.
    void check_agree(std::span<const Shape> inputs, int free_axis, const std::string& what) const;
};

}  // namespace convnet
