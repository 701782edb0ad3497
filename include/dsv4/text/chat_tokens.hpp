// dsv4/text/chat_tokens.hpp — the literal strings of the DeepSeek-V4 chat format.
//
// Special tokens appear in prompts and completions as plain text (the tokenizer maps them to
// their ids); they use the full-width bar U+FF5C and U+2581 exactly as DeepSeek-V3 does. The
// encoder, the completion parser and the streaming parser all take their markers from here
// so that the three cannot drift apart. Reasoning modes are also declared here because all
// three need them.
#pragma once

#include <string_view>

namespace dsv4::text {

// Non-think (`chat`) or Think High / Think Max (`thinking`).
enum class thinking_mode { chat, thinking };
// Think High (the default, also what Python's `None` means) or Think Max.
enum class reasoning_effort { high, max };

namespace tokens {

inline constexpr std::string_view bos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view eos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view user = "<｜User｜>";
inline constexpr std::string_view assistant = "<｜Assistant｜>";
inline constexpr std::string_view latest_reminder = "<｜latest_reminder｜>";
inline constexpr std::string_view think_begin = "<think>";
inline constexpr std::string_view think_end = "</think>";
inline constexpr std::string_view dsml = "｜DSML｜";

// DSML markers as the parser searches them (some deliberately without '<' or '>').
inline constexpr std::string_view tool_calls_start = "\n\n<｜DSML｜tool_calls";
inline constexpr std::string_view tool_calls_end = "</｜DSML｜tool_calls>";
inline constexpr std::string_view invoke = "<｜DSML｜invoke";
inline constexpr std::string_view invoke_end = "</｜DSML｜invoke";
inline constexpr std::string_view parameter = "<｜DSML｜parameter";
inline constexpr std::string_view parameter_end = "/｜DSML｜parameter";

}  // namespace tokens
}  // namespace dsv4::text
