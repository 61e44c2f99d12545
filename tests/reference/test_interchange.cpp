// PyTorch interchange through safetensors, both ways, on 1,000 real Fashion-MNIST test images:
// convnet's weights load into the same network in torch.nn (load_state_dict, strict) with the same
// logits, and a state dict trained in torch loads into convnet with the same logits. Runs
// scripts/torch_safetensors.py with Debian's python3-torch; skipped without `make data`.
#include "../unit/test_support.h"

#include <convnet/data/data.h>
#include <convnet/io/weights.h>
#include <convnet/nn/loss.h>
#include <convnet/nn/network.h>
#include <convnet/train/optim.h>
#include <convnet/train/trainer.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>

namespace convnet::testing {
namespace {

const std::filesystem::path kSource = CONVNET_SOURCE_DIR;

class TorchInterchange : public TemporaryFolderTest {
protected:
    void SetUp() override {
        TemporaryFolderTest::SetUp();
        const std::filesystem::path data = kSource / "data" / "fashion-mnist";
        if (!std::filesystem::exists(data / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << data << ": run `make data`";
        const Dataset test = load_split(data, Split::test);
        std::vector<std::int64_t> indices(1000);
        std::iota(indices.begin(), indices.end(), 0);
        load_batch(test, indices, images_, labels_);
        write_floats(directory_ / "images.f32", images_);
    }

    static void write_floats(const std::filesystem::path& path, const Tensor& tensor) {
        std::ofstream file(path, std::ios::binary);
        file.write(reinterpret_cast<const char*>(tensor.data()), static_cast<std::streamsize>(tensor.size() * sizeof(float)));
    }

    // Runs the script; its output goes into the failure message.
    void run_script(const std::string& arguments) {
        const std::filesystem::path log = directory_ / "script.log";
        const std::string command = std::string(CONVNET_PYTHON) + " " + (kSource / "scripts" / "torch_safetensors.py").string() + " " +
                                    arguments + " > " + log.string() + " 2>&1";
        const int status = std::system(command.c_str());
        std::ifstream output(log);
        const std::string text((std::istreambuf_iterator<char>(output)), std::istreambuf_iterator<char>());
        EXPECT_EQ(status, 0) << command << "\n" << text;
        std::cout << text;
    }

    Tensor images_;
    std::vector<std::uint8_t> labels_;
};

TEST_F(TorchInterchange, ConvnetWeightsLoadIntoTorchWithTheSameLogits) {
    Network network(read_model_file(kSource / "models" / "convnet1.model"));
    network.initialize(11);
    Adam adam(AdamOptions{});
    Tensor grad;
    for (int step = 0; step < 5; ++step) {  // trained a little: weights and running statistics away from their start
        softmax_cross_entropy(network.forward_train(images_), labels_, &grad);
        network.backward(grad);
        adam.step(network.trainable_values(), network.gradients());
    }
    save_weights(network, directory_ / "convnet1.safetensors");
    Tensor logits;
    network.predict(images_, logits);
    write_floats(directory_ / "logits.f32", logits);
    run_script("check " + (kSource / "models" / "convnet1.model").string() + " " + (directory_ / "convnet1.safetensors").string() + " " +
               (directory_ / "images.f32").string() + " " + (directory_ / "logits.f32").string());
}

TEST_F(TorchInterchange, TorchWeightsLoadIntoConvnetWithTheSameLogits) {
    const std::filesystem::path model = kSource / "models" / "resnet-fmnist.model";  // a graph, trained in torch
    run_script("export " + model.string() + " " + (directory_ / "torch.safetensors").string() + " " + (directory_ / "images.f32").string() +
               " " + (directory_ / "torch_logits.f32").string());
    Network network(read_model_file(model));
    load_weights(network, directory_ / "torch.safetensors");
    Tensor logits;
    network.predict(images_, logits);
    std::ifstream file(directory_ / "torch_logits.f32", std::ios::binary);
    std::vector<float> expected(static_cast<std::size_t>(logits.size()));
    file.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
    ASSERT_TRUE(file) << "torch's logits are missing or short";
    double worst = 0.0;
    for (std::int64_t i = 0; i < logits.size(); ++i)
        worst = std::max(worst, double(std::abs(logits[i] - expected[static_cast<std::size_t>(i)])));
    EXPECT_LE(worst, 1e-5) << "max |convnet - torch| logit difference over 1,000 images";
    std::cout << "1000 images: max |convnet - torch| logit difference " << worst << "\n";
}

}  // namespace
}  // namespace convnet::testing
