// convnet_onnx_helper: what scripts/check_onnx.py and bench/onnx_bench.py need from the library
// beside `convnet export`: weights to export, and convnet's own outputs for a batch in a file.
//   convnet_onnx_helper init MODEL SEED WEIGHTS
//       PyTorch's initialisation for SEED, then batch norm's weight, bias and running statistics
//       drawn at random too (fresh ones are 1, 0, 0, 1, which would hide a wrong mapping), saved.
//   convnet_onnx_helper predict MODEL WEIGHTS INPUT.f32 COUNT OUTPUT.f32 [THREADS]
//       Network::predict (what `convnet predict` runs) on COUNT images of the model's input
//       shape, float32 in NCHW order; writes the outputs as float32.
//   convnet_onnx_helper decode HEAD.f32 N,C,GH,GW INPUT_HEIGHT INPUT_WIDTH SCORE IOU MAX
//       decode_detections (layers/detect.h) on a detection head's raw output (e.g. ONNX Runtime's):
//       per detection a line `IMAGE CLASS SCORE X1 Y1 X2 Y2`, images in order, each best first.
#include <convnet/core/error.h>
#include <convnet/io/weights.h>
#include <convnet/nn/layers/detect.h>
#include <convnet/nn/network.h>
#include <convnet/core/random.h>
#include <convnet/core/threads.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

namespace {

using namespace convnet;

void init(const std::string& model, std::uint64_t seed, const std::string& weights) {
    Network network(read_model_file(model));
    network.initialize(seed);
    Random random(seed + 1);
    for (std::size_t i = 0; i < network.layer_count(); ++i) {
        const std::string type = network.layer(i).type();
        if (type != "batchnorm2d" && type != "batchnorm1d") continue;
        for (const Parameter& parameter : network.layer(i).parameters()) {
            const bool variance = parameter.name == "running_var", scale = parameter.name == "weight";
            for (std::int64_t k = 0; k < parameter.shape.element_count(); ++k) {
                const float u = random.uniform();  // [0, 1)
                parameter.value[k] = variance ? 0.25f + 2.0f * u : scale ? 0.5f + u : u - 0.5f;
            }
        }
    }
    network.parameters_changed();
    save_weights(network, weights);
}

void predict(const std::string& model, const std::string& weights, const std::string& input, std::int64_t count,
             const std::string& output) {
    Network network(read_model_file(model));
    load_weights(network, weights);
    std::vector<std::int64_t> dims{count};
    for (std::int64_t dim : network.sample_shape().dims()) dims.push_back(dim);
    Tensor images{Shape(dims)};
    std::ifstream file(input, std::ios::binary);
    if (!file.read(reinterpret_cast<char*>(images.data()), images.size() * static_cast<std::streamsize>(sizeof(float))))
        throw Error(input + ": expected " + std::to_string(images.size()) + " float32 values (" + Shape(dims).to_string() + ")");
    Tensor outputs;
    network.predict(images, outputs);
    std::ofstream out(output, std::ios::binary);
    out.write(reinterpret_cast<const char*>(outputs.data()), outputs.size() * static_cast<std::streamsize>(sizeof(float)));
    if (!out) throw Error(output + ": cannot write");
}

void decode(const std::string& head_file, const std::string& dims_text, std::int64_t input_height, std::int64_t input_width,
            const DetectionOptions& options) {
    std::vector<std::int64_t> dims;
    std::stringstream stream(dims_text);
    for (std::string item; std::getline(stream, item, ',');) dims.push_back(std::stoll(item));
    if (dims.size() != 4) throw Error("decode: " + dims_text + ": expected N,C,GH,GW");
    Tensor head{Shape(dims)};
    std::ifstream file(head_file, std::ios::binary);
    if (!file.read(reinterpret_cast<char*>(head.data()), head.size() * static_cast<std::streamsize>(sizeof(float))))
        throw Error(head_file + ": expected " + std::to_string(head.size()) + " float32 values (" + Shape(dims).to_string() + ")");
    const std::vector<std::vector<Detection>> detections = decode_detections(head, input_height, input_width, options);
    for (std::size_t n = 0; n < detections.size(); ++n)
        for (const Detection& d : detections[n])
            std::printf("%zu %d %.9g %.9g %.9g %.9g %.9g\n", n, d.label, double(d.score), double(d.box.x1), double(d.box.y1), double(d.box.x2),
                        double(d.box.y2));
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> words(argv + 1, argv + argc);
    try {
        if (words.size() == 4 && words[0] == "init") {
            init(words[1], std::stoull(words[2]), words[3]);
            return 0;
        }
        if ((words.size() == 6 || words.size() == 7) && words[0] == "predict") {
            if (words.size() == 7) set_thread_count(std::stoi(words[6]));
            predict(words[1], words[2], words[3], std::stoll(words[4]), words[5]);
            return 0;
        }
        if (words.size() == 8 && words[0] == "decode") {
            decode(words[1], words[2], std::stoll(words[3]), std::stoll(words[4]),
                   DetectionOptions{std::stod(words[5]), std::stod(words[6]), std::stoll(words[7])});
            return 0;
        }
    } catch (const std::exception& error) {
        std::cerr << "convnet_onnx_helper: " << error.what() << "\n";
        return 1;
    }
    std::cerr << "usage: convnet_onnx_helper init MODEL SEED WEIGHTS\n"
                 "       convnet_onnx_helper predict MODEL WEIGHTS INPUT.f32 COUNT OUTPUT.f32 [THREADS]\n"
                 "       convnet_onnx_helper decode HEAD.f32 N,C,GH,GW INPUT_HEIGHT INPUT_WIDTH SCORE IOU MAX\n";
    return 2;
}
