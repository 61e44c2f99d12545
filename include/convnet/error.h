// The one exception type the library throws: a message with context (file, line or field, what
// was expected). Only the CLI turns it into text on stderr and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace convnet {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace convnet
