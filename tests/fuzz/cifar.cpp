// Fuzz target: a CIFAR-10 folder's class names and test batch, read as its test split.
#include "fuzz_support.h"

#include <convnet/data/cifar.h>

namespace convnet::fuzz {

void cifar(std::string_view input) {
    const std::vector<std::string_view> parts = split_parts(input, 2);
    const std::filesystem::path folder = scratch_folder() / "cifar";
    std::filesystem::create_directories(folder);
    write_file(folder / "batches.meta.txt", parts[0]);
    write_file(folder / "test_batch.bin", parts[1]);
    if (!is_cifar10_folder(folder)) return;
    const Dataset dataset = read_cifar10(folder, Split::test);
    dataset_fingerprint(dataset);
}

}  // namespace convnet::fuzz
