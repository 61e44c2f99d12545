// Inverted dropout, as torch.nn.Dropout(p): in training each element is zeroed with probability p
// and the kept ones are scaled by 1/(1 − p), so evaluation is the identity with no rescaling.
#pragma once

#include <convnet/nn/layer.h>

#include <vector>

namespace convnet {

struct DropoutOptions {
    double p = 0.5;  // probability of zeroing an element, in [0, 1]
};

class Dropout : public Layer {
public:
    // Throws convnet::Error when p is outside [0, 1].
    explicit Dropout(const DropoutOptions& options);

    std::string type() const override { return "dropout"; }
    std::vector<Attribute> attributes() const override;
    Shape output_shape(const Shape& input) const override { return input; }
    // Evaluation: a copy.
    void forward(const Tensor& input, Tensor& output) const override;
    // Training: draws a new mask from the layer's own generator on every call (one number per
    // element, in order, on the calling thread: the same seed gives the same masks whatever the
    // thread count).
    void forward_train(const Tensor& input, Tensor& output) override;
    // grad_input = grad_output · mask of the last forward_train; throws if its size differs.
    void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output, Tensor* grad_input) override;
    // Seeds the layer's generator from `random`, so a seeded network drops the same elements.
    void initialize(Random& random) override;
    Random* random_generator() override { return &random_; }

    const DropoutOptions& options() const { return options_; }
    // What the last forward_train multiplied each element by: 0 or 1/(1 − p) (0 throughout for p = 1).
    const std::vector<float>& mask() const { return mask_; }
    // Draws the next mask for `size` elements in NCHW order (what forward_train does first); the
    // fast path uses it so that both paths drop the same elements for a seed.
    const std::vector<float>& draw_mask(std::int64_t size);
    // out[i] = in[i] · mask[i] for the `size` elements of the last mask: training's forward (after
    // draw_mask) and backward alike. The one definition; the fast path's stage uses it too.
    void apply_mask(const float* in, float* out, std::int64_t size) const;
    // The generator the masks come from, whose state a checkpoint keeps and restores.
    Random& generator() { return random_; }
    const Random& generator() const { return random_; }

private:
    DropoutOptions options_;
    Random random_{0};
    std::vector<float> mask_;
};

}  // namespace convnet
