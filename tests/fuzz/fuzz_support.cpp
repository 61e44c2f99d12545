// The fuzz targets' shared pieces: multi-file inputs, the scratch folder, the fixtures.
#include "fuzz_support.h"

#include <convnet/core/error.h>
#include <convnet/data/image.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace convnet::fuzz {

namespace fs = std::filesystem;

std::vector<std::string_view> split_parts(std::string_view input, std::size_t count) {
    std::vector<std::string_view> parts;
    for (std::size_t part = 0; part + 1 < count; ++part) {
        std::uint32_t length = 0;
        for (std::size_t byte = 0; byte < 4 && byte < input.size(); ++byte)
            length |= std::uint32_t{static_cast<unsigned char>(input[byte])} << (8 * byte);
        input.remove_prefix(std::min<std::size_t>(4, input.size()));
        const std::size_t taken = std::min<std::size_t>(length, input.size());
        parts.push_back(input.substr(0, taken));
        input.remove_prefix(taken);
    }
    parts.push_back(input);
    return parts;
}

std::string join_parts(const std::vector<std::string>& parts) {
    std::string joined;
    for (std::size_t part = 0; part < parts.size(); ++part) {
        if (part + 1 < parts.size()) {
            const auto length = static_cast<std::uint32_t>(parts[part].size());
            for (int byte = 0; byte < 4; ++byte) joined.push_back(static_cast<char>((length >> (8 * byte)) & 0xff));
        }
        joined += parts[part];
    }
    return joined;
}

namespace {

// Removes the folder when the process ends normally (a crash leaves it for the post-mortem).
class ScratchFolder {
public:
    ScratchFolder() {
        std::error_code error;
        const fs::path shared_memory = "/dev/shm";
        const fs::path base = ::access(shared_memory.c_str(), W_OK) == 0 ? shared_memory : fs::temp_directory_path();
        path_ = base / ("convnet-fuzz-" + std::to_string(::getpid()));
        fs::remove_all(path_, error);
        fs::create_directories(path_);
    }
    ~ScratchFolder() {
        std::error_code error;
        fs::remove_all(path_, error);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

}  // namespace

const fs::path& scratch_folder() {
    static const ScratchFolder folder;
    return folder.path();
}

void write_file(const fs::path& path, std::string_view bytes) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!file) throw std::runtime_error(path.string() + ": cannot write a fuzz input");  // not an Error: a finding
}

void check_tensor_sizes(const std::vector<StateTensor>& tensors) {
    for (const StateTensor& tensor : tensors) {
        if (tensor.dtype == StateTensor::DType::f32 && static_cast<std::int64_t>(tensor.values.size()) != tensor.shape.element_count()) {
            std::fprintf(stderr, "tensor %s of shape %s holds %zu values\n", tensor.name.c_str(), tensor.shape.to_string().c_str(),
                         tensor.values.size());
            std::abort();
        }
    }
}

void make_image_folder_fixture(const fs::path& root) {
    std::vector<std::uint8_t> pixels(16);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 17);
    const std::string png = encode_png(pixels, 1, 4, 4);
    const std::vector<std::pair<fs::path, std::string>> files = {
        {"train/a/1.png", png}, {"train/a/2.png", "not a PNG"}, {"train/b/1.png", png}};
    for (const auto& [relative, bytes] : files) {
        fs::create_directories((root / relative).parent_path());
        write_file(root / relative, bytes);
        // 2001-09-09 01:46:40 UTC: any fixed time will do.
        const timespec times[2] = {{1'000'000'000, 0}, {1'000'000'000, 0}};
        if (::utimensat(AT_FDCWD, (root / relative).c_str(), times, 0) != 0)
            throw std::runtime_error((root / relative).string() + ": cannot set its modification time");
    }
}

ImageFolderOptions image_folder_fixture_options(const fs::path& cache_dir) {
    ImageFolderOptions options;
    options.channels = 1;
    options.height = 4;
    options.width = 4;
    options.skip_bad = true;
    options.cache_dir = cache_dir;
    return options;
}

}  // namespace convnet::fuzz
