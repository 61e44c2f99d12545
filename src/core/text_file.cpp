// Small input files: refusing folders and oversized files by name, splitting text into lines.
#include "text_file.h"

#include <convnet/core/error.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

namespace convnet::detail {

void check_regular_file(const std::filesystem::path& path, const std::string& what, const std::string& hint) {
    std::error_code error;
    const std::filesystem::file_status status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status))
        throw Error(path.string() + ": cannot open " + what + " (no such file" + (hint.empty() ? "" : "; " + hint) + ")");
    if (std::filesystem::is_directory(status)) throw Error(path.string() + ": is a folder; expected " + what);
    if (!std::filesystem::is_regular_file(status)) throw Error(path.string() + ": not a regular file; expected " + what);
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(path.string() + ": cannot open " + what + " (" + std::strerror(errno) + ")");
}

std::string read_small_file(const std::filesystem::path& path, std::uintmax_t max_bytes, const std::string& what) {
    check_regular_file(path, what);
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(path, error);
    if (!error && size > max_bytes)
        throw Error(path.string() + ": " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) + " that " + what +
                    " may have");
    std::ifstream file(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (file.bad()) throw Error(path.string() + ": read error in " + what);
    return bytes;
}

std::string visible(std::string_view text) {
    std::string shown;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
            shown += c;
        } else {
            char escape[8];
            std::snprintf(escape, sizeof(escape), "\\x%02X", byte);
            shown += escape;
        }
    }
    return shown;
}

std::vector<std::string> text_lines(std::string_view text) {
    constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
    if (text.starts_with(kByteOrderMark)) text.remove_prefix(kByteOrderMark.size());
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find_first_of("\r\n", start);
        if (end == std::string_view::npos) {
            lines.emplace_back(text.substr(start));
            break;
        }
        lines.emplace_back(text.substr(start, end - start));
        start = end + (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n' ? 2 : 1);
    }
    return lines;
}

std::string trim_trailing_whitespace(std::string line) {
    const auto end = line.find_last_not_of(" \t\r\n\f\v");
    line.erase(end == std::string::npos ? 0 : end + 1);
    return line;
}

}  // namespace convnet::detail
