// A reader for the .npy files that scripts/make_reference.py writes: float32, float64 or uint8,
// little-endian, C order, format versions 1 to 3. Not a general .npy reader (no Fortran order,
// no structured or big-endian types); anything else is refused by name.
#pragma once

#include <convnet/core/error.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace convnet::testing {

static_assert(std::endian::native == std::endian::little, "read_npy copies little-endian data as it is");

struct NpyArray {
    std::vector<std::int64_t> shape;
    std::vector<double> values;  // every element widened to double, in C order

    std::int64_t size() const { return static_cast<std::int64_t>(values.size()); }
    std::string shape_text() const {
        std::string text = "(";
        for (std::size_t i = 0; i < shape.size(); ++i) {
            if (i) text += ", ";
            text += std::to_string(shape[i]);
        }
        return text + (shape.size() == 1 ? ",)" : ")");
    }
};

namespace detail {

// The value of `key` in the header dictionary "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
inline std::string header_field(const std::string& header, const std::string& key, const std::string& file) {
    const std::size_t at = header.find("'" + key + "'");
    if (at == std::string::npos) throw Error(file + ": the .npy header has no '" + key + "' field: " + header);
    std::size_t start = header.find(':', at);
    if (start == std::string::npos) throw Error(file + ": malformed .npy header: " + header);
    ++start;
    while (start < header.size() && header[start] == ' ') ++start;
    const char open = header[start];
    const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
    const std::size_t end = header.find(close, start + 1);
    if (end == std::string::npos) throw Error(file + ": malformed .npy header: " + header);
    return header.substr(open == '(' || open == '\'' ? start + 1 : start, end - (open == '(' || open == '\'' ? start + 1 : start));
}

}  // namespace detail

inline NpyArray read_npy(const std::filesystem::path& path) {
    const std::string file = path.string();
    std::ifstream stream(path, std::ios::binary);
    if (!stream) throw Error(file + ": cannot open (generate the cases with scripts/make_reference.py, see docs/REFERENCE_TESTS.md)");
    const std::string bytes((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw Error(file + ": not a .npy file (bad magic number)");
    const int major = static_cast<unsigned char>(bytes[6]);
    if (major < 1 || major > 3) throw Error(file + ": .npy format version " + std::to_string(major) + ", this reader knows 1 to 3");
    std::size_t header_length = 0, offset = 0;
    if (major == 1) {
        header_length = static_cast<unsigned char>(bytes[8]) | (std::size_t(static_cast<unsigned char>(bytes[9])) << 8);
        offset = 10;
    } else {
        if (bytes.size() < 12) throw Error(file + ": truncated .npy header");
        for (int i = 0; i < 4; ++i) header_length |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        offset = 12;
    }
    if (bytes.size() < offset + header_length) throw Error(file + ": truncated .npy header");
    const std::string header = bytes.substr(offset, header_length);
    offset += header_length;

    const std::string descr = detail::header_field(header, "descr", file);
    const std::string fortran = detail::header_field(header, "fortran_order", file);
    if (fortran.find("False") == std::string::npos) throw Error(file + ": Fortran-order array; write it with np.ascontiguousarray");
    std::size_t element_size = 0;
    if (descr == "<f4") element_size = 4;
    else if (descr == "<f8") element_size = 8;
    else if (descr == "|u1") element_size = 1;
    else throw Error(file + ": element type '" + descr + "', expected little-endian float32 ('<f4'), float64 ('<f8') or uint8 ('|u1')");

    NpyArray array;
    const std::string shape = detail::header_field(header, "shape", file);
    std::int64_t count = 1;
    for (std::size_t start = 0; start < shape.size();) {
        const std::size_t comma = shape.find(',', start);
        std::string part = shape.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        part.erase(0, part.find_first_not_of(' '));
        if (!part.empty()) {
            const std::int64_t dim = std::stoll(part);
            if (dim < 0) throw Error(file + ": negative dimension in shape (" + shape + ")");
            array.shape.push_back(dim);
            count *= dim;
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (bytes.size() - offset != std::size_t(count) * element_size)
        throw Error(file + ": shape (" + shape + ") of '" + descr + "' needs " + std::to_string(std::size_t(count) * element_size) +
                    " data bytes, the file has " + std::to_string(bytes.size() - offset));
    array.values.resize(static_cast<std::size_t>(count));
    const char* data = bytes.data() + offset;
    for (std::int64_t i = 0; i < count; ++i) {
        if (element_size == 4) {
            float value;
            std::memcpy(&value, data + 4 * i, 4);
            array.values[static_cast<std::size_t>(i)] = value;
        } else if (element_size == 8) {
            double value;
            std::memcpy(&value, data + 8 * i, 8);
            array.values[static_cast<std::size_t>(i)] = value;
        } else {
            array.values[static_cast<std::size_t>(i)] = static_cast<unsigned char>(data[i]);
        }
    }
    return array;
}

}  // namespace convnet::testing
