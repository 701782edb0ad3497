// libFuzzer target: dsv4::text::encode_messages on OpenAI-style messages.
//
// Input: a JSON object in the layout of the golden encode cases (tests/data/golden-encoding):
// "messages", optional "context", and the options "thinking_mode" ("thinking" or anything
// else for chat), "reasoning_effort" ("max" or anything else for high), "drop_thinking" and
// "add_default_bos_token" (booleans, default true). Text that is not JSON, or JSON that is
// not such an object, is skipped: nlohmann's parser is not under test here.
//
// Contract (chat_encode.hpp): invalid messages throw dsv4::error naming the message
// (`messages[2].content: ...`); nothing else. Any other exception (a nlohmann type_error or
// out_of_range from an unchecked access, std::bad_alloc, ...), a crash, a sanitizer report
// or a timeout is a finding. A prompt without context starts with BOS when it is asked for.
#include <cstddef>
#include <cstdint>
#include <string>

#include <dsv4/text.hpp>

#include "fuzz_support.hpp"

namespace {

bool flag_or_true(const nlohmann::ordered_json& doc, const char* key) {
    const auto it = doc.find(key);
    return it == doc.end() || !it->is_boolean() || it->get<bool>();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    namespace text = dsv4::text;
    const auto doc = nlohmann::ordered_json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("messages")) return 0;
    text::encode_options opt;
    opt.mode = doc.value("thinking_mode", nlohmann::ordered_json()) == "thinking" ? text::thinking_mode::thinking
                                                                                  : text::thinking_mode::chat;
    opt.effort = doc.value("reasoning_effort", nlohmann::ordered_json()) == "max" ? text::reasoning_effort::max
                                                                                : text::reasoning_effort::high;
    opt.drop_thinking = flag_or_true(doc, "drop_thinking");
    opt.add_bos = flag_or_true(doc, "add_default_bos_token");
    const auto context = doc.value("context", nlohmann::ordered_json());
    try {
        const std::string prompt = text::encode_messages(doc.at("messages"), opt, context);
        const bool expect_bos = opt.add_bos && (context.is_null() || context.empty());
        dsv4::fuzz::check(!expect_bos || prompt.starts_with(text::tokens::bos), "BOS missing");
    } catch (const dsv4::error&) {
        // rejected messages
    }
    return 0;
}
