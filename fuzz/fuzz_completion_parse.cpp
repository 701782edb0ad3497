// libFuzzer target: dsv4::text::parse_completion on generated text.
//
// The first byte picks the thinking mode (low bit: thinking / chat); the rest is the
// completion. The documented contract: the text parses into an assistant message or throws
// completion_error (a dsv4::error). Any other exception, a crash or a sanitizer report is a
// finding. An accepted message must have the documented shape and no special token in its
// content or reasoning.
#include <cstddef>
#include <cstdint>
#include <string>

#include <dsv4/text.hpp>

#include "fuzz_support.hpp"

namespace {

using dsv4::fuzz::check;
namespace text = dsv4::text;

bool has_special_token(const std::string& s) {
    for (std::string_view t : {text::tokens::bos, text::tokens::eos, text::tokens::think_begin, text::tokens::think_end,
                               text::tokens::dsml})
        if (s.find(t) != std::string::npos) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    dsv4::fuzz::input in(data, size);
    const auto mode = (in.byte() & 1) ? text::thinking_mode::thinking : text::thinking_mode::chat;
    try {
        const auto m = text::parse_completion(in.rest(), mode);
        check(m.is_object() && m.size() == 4 && m.at("role") == "assistant", "message shape");
        const std::string& content = m.at("content").get_ref<const std::string&>();
        const std::string& reasoning = m.at("reasoning_content").get_ref<const std::string&>();
        check(!has_special_token(content) && !has_special_token(reasoning), "special token in content or reasoning");
        check(mode == text::thinking_mode::thinking || reasoning.empty(), "reasoning in chat mode");
        for (const auto& call : m.at("tool_calls")) {
            const auto& fn = call.at("function");
            const std::string& args = fn.at("arguments").get_ref<const std::string&>();
            if (args.size() < 2 || args.front() != '{' || args.back() != '}') dsv4::fuzz::broken("arguments not braced: " + args);
        }
    } catch (const text::completion_error&) {
        // rejected, as the official parser would reject it
    }
    return 0;
}
