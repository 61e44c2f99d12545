// Fuzz target: IDX image and label files (raw or gzip, told apart by their bytes) with an optional
// classes.txt, read as a dataset folder's train split.
#include "fuzz_support.h"

#include <convnet/data/data.h>

namespace convnet::fuzz {

void idx(std::string_view input) {
    const std::vector<std::string_view> parts = split_parts(input, 3);
    const std::filesystem::path folder = scratch_folder() / "idx";
    std::filesystem::create_directories(folder);
    write_file(folder / "train-images-idx3-ubyte", parts[0]);
    write_file(folder / "train-labels-idx1-ubyte", parts[1]);
    if (parts[2].empty()) std::filesystem::remove(folder / "classes.txt");
    else write_file(folder / "classes.txt", parts[2]);
    const Dataset dataset = load_split(folder, Split::train);
    dataset_fingerprint(dataset);
}

}  // namespace convnet::fuzz
