// Fuzz target: weights files, in either format (convnet's own, by its magic number, or
// safetensors), loaded into a fixed network (load_weights) and, for safetensors, as the network
// the file describes (load_network: its model text, then its tensors); the tensors the reader
// gives must hold the values their shapes say.
#include "fuzz_support.h"

#include <convnet/core/error.h>
#include <convnet/io/weights.h>
#include <convnet/nn/network.h>
#include <convnet/io/safetensors.h>

namespace convnet::fuzz {

void weights(std::string_view input) {
    static Network network(parse_model(kWeightsModel, "weights-target.model"));
    const std::filesystem::path file = scratch_folder() / "fuzz.safetensors";
    write_file(file, input);
    WeightsMetadata metadata;
    try {
        load_weights(network, file, &metadata);
    } catch (const Error&) {
        // The file may still describe a network of its own.
    }
    if (weights_format(file) != WeightsFormat::safetensors) return;
    check_tensor_sizes(parse_safetensors(input, file.string()).tensors);
    std::vector<std::string> warnings;
    load_network(file, &warnings, &metadata);
}

}  // namespace convnet::fuzz
