// Checks of what a weights or checkpoint file claims, shared by their readers (io.cpp,
// checkpoint.cpp). Internal.
#pragma once

#include <convnet/nn/network.h>
#include <convnet/io/safetensors.h>

#include <string>

namespace convnet::detail {

// Throws convnet::Error naming `name` when the model `spec` describes has more parameter and
// buffer values than the file's tensors (its optimiser entries left aside) hold: checked before
// a network of that size is built, so that a file of a few hundred bytes cannot ask for gigabytes.
void check_model_fits_tensors(const ModelSpec& spec, const SafetensorsContents& contents, const std::string& name);

}  // namespace convnet::detail
