// Fuzz target: the image-folder cache, the one file read_image_folder reads that is not a picture.
// The input is written where the fixture folder's cache lives; whatever the reader makes of it (the
// cached dataset, or a rebuild from the pictures when it is stale or damaged) must fit the folder.
#include "fuzz_support.h"

#include <convnet/data/image_folder.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace convnet::fuzz {

void image_folder(std::string_view input) {
    static const std::filesystem::path root = [] {
        const std::filesystem::path folder = scratch_folder() / "image-folder";
        make_image_folder_fixture(folder);
        return folder;
    }();
    const ImageFolderOptions options = image_folder_fixture_options(scratch_folder() / "image-folder-cache");
    std::filesystem::create_directories(options.cache_dir);
    write_file(image_folder_cache_file(root, "train", options), input);
    std::vector<std::string> skipped;
    const Dataset dataset = read_image_folder(root, "train", options, &skipped);
    // What read_cache checks before it trusts a cache (a CRC is no signature: a crafted file may
    // carry a right one, and then its pixels and labels are its own).
    const bool consistent = dataset.count >= 0 && dataset.labels.size() == static_cast<std::size_t>(dataset.count) &&
                            dataset.images.size() == static_cast<std::size_t>(dataset.count * dataset.image_size()) &&
                            dataset.image_size() == 16 && dataset.class_names == std::vector<std::string>{"a", "b"} &&
                            std::all_of(dataset.labels.begin(), dataset.labels.end(), [](std::uint8_t label) { return label < 2; });
    if (!consistent) {
        std::fprintf(stderr, "the image-folder cache gave a dataset that does not fit the folder: %lld images of %lld bytes, %zu labels\n",
                     static_cast<long long>(dataset.count), static_cast<long long>(dataset.image_size()), dataset.labels.size());
        std::abort();
    }
}

}  // namespace convnet::fuzz
