// Fuzz target: checkpoints (safetensors with the run's state as JSON metadata), read_checkpoint;
// the tensors it gives must hold the values their shapes say.
#include "fuzz_support.h"

#include <convnet/train/checkpoint.h>

namespace convnet::fuzz {

void checkpoint(std::string_view input) {
    const std::filesystem::path file = scratch_folder() / "fuzz.checkpoint";
    write_file(file, input);
    const Checkpoint read = read_checkpoint(file);
    check_tensor_sizes(read.model_state);
}

}  // namespace convnet::fuzz
