// dsv4/text/chat.hpp — DeepSeek-V4 chat format: prompt encoding, completion parsing, streaming.
//
// One include for the whole chat layer (see docs/spec/ENCODING.md for the format):
//   chat_tokens.hpp  special-token strings and the reasoning-mode enums,
//   pyjson.hpp       JSON read/written with Python's rules (exact prompts need them),
//   chat_encode.hpp  messages -> prompt text (encode_messages),
//   chat_parse.hpp   completion text -> assistant message (parse_completion),
//   chat_stream.hpp  the same, fed piece by piece, reporting deltas (completion_stream).
#pragma once

#include <dsv4/text/chat_encode.hpp>
#include <dsv4/text/chat_parse.hpp>
#include <dsv4/text/chat_stream.hpp>
#include <dsv4/text/chat_tokens.hpp>
#include <dsv4/text/pyjson.hpp>
