// The one exception type the library throws: a message with context (file, line or field, what
// was expected). Only the CLI turns it into text on stderr and an exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace convnet {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// The name in `names` nearest `word` (by edits, or that `word` begins), or "" when none is near:
// what a "did you mean" in a message offers.
std::string nearest_name(const std::string& word, const std::vector<std::string>& names);

}  // namespace convnet
