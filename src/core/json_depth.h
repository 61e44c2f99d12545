// What every JSON text convnet reads from files (safetensors headers, their metadata, checkpoints,
// metrics lines) must pass besides the parser: a nesting limit and no NUL byte. Internal to the
// library.
#pragma once

#include <convnet/core/error.h>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace convnet::detail {

// convnet's own files nest JSON 3 levels deep. Parsing is iterative, but nlohmann's dump() (in
// error messages and the explain page) recurses once a level, so that a crafted file of a few
// hundred thousand '[' overflowed the stack; nothing deeper than this is read.
inline constexpr int kMaxJsonDepth = 64;

// For Json::parse (nlohmann::json or ordered_json): a callback that throws convnet::Error "WHERE:
// JSON nested deeper than 64 levels" at the first value past kMaxJsonDepth, and keeps every value.
template <typename Json = nlohmann::json>
typename Json::parser_callback_t json_depth_limit(const std::string& where) {
    return [where](int depth, typename Json::parse_event_t, Json&) {
        if (depth > kMaxJsonDepth)
            throw Error(where + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                        " levels (convnet writes 3): a damaged or crafted file");
        return true;
    };
}

// JSON text never holds a NUL byte (a string spells it \u0000), but nlohmann-json takes a NUL as
// the end of its input: whatever follows one (garbage, or a second value for a key already read,
// which would pass the safetensors reader's duplicate-key refusal) was silently never parsed.
// Throws convnet::Error "WHERE: a NUL byte at byte N ..." for the first NUL in `text`, N counted
// from `offset` (where `text` starts in its file), before any parse; the safetensors reference
// reader and Python's json.loads refuse such text too.
inline void refuse_nul_bytes(std::string_view text, const std::string& where, std::size_t offset = 0) {
    const std::size_t at = text.find('\0');
    if (at != std::string_view::npos)
        throw Error(where + ": a NUL byte at byte " + std::to_string(offset + at) +
                    ", where JSON text has none (nothing after it would be read): a damaged or crafted file");
}

}  // namespace convnet::detail
