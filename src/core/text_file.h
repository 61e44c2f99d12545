// Reading the project's small input files as people make them: a folder or an unreadable path is
// refused by name, and text comes with a UTF-8 byte-order mark or CRLF or lone-CR line ends as
// editors on every platform write it. Internal to the library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace convnet::detail {

// Throws convnet::Error "PATH: cannot open WHAT (reason)" unless `path` names a readable regular
// file (or a link to one); `what` is "the model file", "the weights file", ...
// `hint` follows the message when the file does not exist ("train with --save to make one").
void check_regular_file(const std::filesystem::path& path, const std::string& what, const std::string& hint = "");

// The whole file, after check_regular_file; refuses a file over `max_bytes` before reading it.
std::string read_small_file(const std::filesystem::path& path, std::uintmax_t max_bytes, const std::string& what);

// `text` with every byte outside printable ASCII written as \xNN, so that a stray non-breaking
// space, byte-order mark or control byte shows in a message instead of hiding in it.
std::string visible(std::string_view text);

// `line` without the spaces, tabs and line-end bytes at its end.
std::string trim_trailing_whitespace(std::string line);

// The lines of `text` without their ends (\n, \r\n or a lone \r), and without a leading UTF-8
// byte-order mark. A final line without an end is a line; a final end adds none.
std::vector<std::string> text_lines(std::string_view text);

}  // namespace convnet::detail
