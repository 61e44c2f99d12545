// A nesting limit for the JSON convnet reads from files (safetensors headers, their metadata,
// checkpoints, metrics lines). Internal to the library.
#pragma once

#include <convnet/core/error.h>

#include <nlohmann/json.hpp>

#include <string>

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

}  // namespace convnet::detail
