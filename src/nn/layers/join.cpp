// JoinLayer's shape agreement check, shared by add and concat.
#include <convnet/core/error.h>
#include <convnet/nn/layers/join.h>

namespace convnet {

void JoinLayer::check_agree(std::span<const Shape> inputs, int free_axis, const std::string& what) const {
    if (inputs.empty()) throw Error(type() + " reads at least one input, got none");
    const Shape& first = inputs[0];
    for (std::size_t k = 1; k < inputs.size(); ++k) {
        const Shape& shape = inputs[k];
        bool agree = shape.rank() == first.rank();
        for (int axis = 0; agree && axis < first.rank(); ++axis) agree = axis == free_axis || shape[axis] == first[axis];
        if (!agree)
            throw Error(type() + ": input " + std::to_string(k + 1) + " is " + shape.to_string() + " but input 1 is " + first.to_string() +
                        what);
    }
}

}  // namespace convnet
