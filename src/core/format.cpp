// Numbers as text for messages and reports.
#include <convnet/core/format.h>

#include <cstdio>
#include <limits>
#include <sstream>

namespace convnet {

std::string thousands_text(std::int64_t value) {
    const std::string digits = std::to_string(value);
    std::string text;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) text += ',';
        text += digits[i];
    }
    return text;
}

std::string number_text(double value) {
    std::ostringstream text;
    text << value;
    return text.str();
}

std::string memory_text(std::int64_t bytes) {
    if (bytes == std::numeric_limits<std::int64_t>::max()) return "more than 8 EiB";
    if (bytes < 1024) return std::to_string(bytes) + " bytes";
    // Two decimals from GiB on; one below, where the figures are small next to the memory.
    constexpr struct {
        int shift;
        const char* format;
    } kUnits[] = {{40, "%.2f TiB"}, {30, "%.2f GiB"}, {20, "%.1f MiB"}, {10, "%.1f KiB"}};
    char text[48] = "";
    for (const auto& unit : kUnits)
        if (bytes >= (std::int64_t{1} << unit.shift)) {
            std::snprintf(text, sizeof text, unit.format, double(bytes) / double(std::int64_t{1} << unit.shift));
            break;
        }
    return text;
}

}  // namespace convnet
