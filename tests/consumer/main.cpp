// A consumer of the installed library: loads a model file, trains one step on a made-up batch,
// and predicts. Exits non-zero, saying why, when anything is off.
#include <convnet/convnet.h>  // the umbrella header: every public header

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: consumer MODEL_FILE\n";
        return 2;
    }
    try {
        convnet::Network network(convnet::read_model_file(argv[1]));
        network.initialize(1);
        const convnet::Shape sample = network.sample_shape();  // (C, H, W)
        const std::int64_t batch = 4;
        convnet::Tensor images(convnet::Shape{batch, sample[0], sample[1], sample[2]});
        for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>((i * 37) % 101) / 100.0f;
        const std::vector<std::uint8_t> labels = {0, 1, 2, 3};

        convnet::Adam adam(convnet::AdamOptions{});
        convnet::Tensor grad_logits;
        const convnet::LossResult before = convnet::softmax_cross_entropy(network.forward_train(images), labels, &grad_logits);
        network.backward(grad_logits);
        adam.step(network.trainable_values(), network.gradients());
        const convnet::LossResult after = convnet::softmax_cross_entropy(network.forward_train(images), labels, nullptr);

        convnet::Tensor logits, probabilities;
        network.predict(images, logits);
        convnet::softmax(logits, probabilities);
        double total = 0.0;
        for (std::int64_t k = 0; k < probabilities.shape()[1]; ++k) total += probabilities[k];
        std::cout << "loss " << before.loss << " -> " << after.loss << " after one Adam step; image 0's probabilities sum to " << total
                  << "\n";
        if (!(after.loss < before.loss) || std::abs(total - 1.0) > 1e-5 || logits.shape()[0] != batch) {
            std::cerr << "consumer: unexpected result\n";
            return 1;
        }
        return 0;
    } catch (const convnet::Error& error) {
        std::cerr << "consumer: " << error.what() << "\n";
        return 1;
    }
}
