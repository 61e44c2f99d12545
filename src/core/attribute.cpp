// Attribute text: how typed layer options become model-file text.
#include <convnet/core/attribute.h>
#include <convnet/core/window.h>

#include <charconv>
#include <type_traits>

namespace convnet {

std::string attribute_text(const AttributeValue& value) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                return std::to_string(v);
            } else if constexpr (std::is_same_v<T, double>) {
                char text[32];
                const auto result = std::to_chars(text, text + sizeof text, v);  // shortest round trip
                return std::string(text, result.ptr);
            } else if constexpr (std::is_same_v<T, std::string>) {
                return v;
            } else {
                return pair_text(v.first, v.second);
            }
        },
        value);
}

std::string options_text(const std::vector<Attribute>& attributes) {
    std::string text;
    for (const Attribute& attribute : attributes) {
        if (attribute.key.empty() || attribute.is_default) continue;
        if (!text.empty()) text += ' ';
        text += attribute.key + "=" + attribute_text(attribute.value);
    }
    return text;
}

const Attribute* find_attribute(const std::vector<Attribute>& attributes, const std::string& name) {
    for (const Attribute& attribute : attributes)
        if (attribute.name == name) return &attribute;
    return nullptr;
}

}  // namespace convnet
