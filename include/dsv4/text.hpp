// dsv4/text.hpp — umbrella header for the text layer: the byte-level BPE tokenizer
// (tokenizer, incremental_decoder) and the DeepSeek-V4 chat format (encode_messages,
// parse_completion, completion_stream). Separate from <dsv4/dsv4.hpp> because it needs
// PCRE2: link the CMake target dsv4::text.
#pragma once

#include <dsv4/text/chat.hpp>
#include <dsv4/text/tokenizer.hpp>
