// dsv4/text/chat_encode.hpp — DeepSeek-V4 prompt encoding: OpenAI-style messages -> prompt text.
//
// V4 ships no Jinja template; the official format is the Python `encode_messages` of
// `encoding/encoding_dsv4.py`, restated in docs/spec/ENCODING.md and pinned byte-for-byte by the golden
// vectors in tests/data/golden-encoding. The steps follow that document:
//   1. normalise context and messages separately (tool results become user messages,
//      adjacent user-side messages merge into one turn of blocks),
//   2. re-order tool results by the order of the calls that asked for them,
//   3. decide whether earlier reasoning is dropped (thinking mode, no tools declared),
//   4. render the new messages, each followed by the transition that opens the next turn.
// Input quirks of the official code are reproduced where docs/spec/ENCODING.md says so (merged user
// messages lose their task, a dropped developer message is not validated, the render count of
// §7); inputs that upstream would turn into Python `str()` noise are rejected instead, with a
// dsv4::error naming the message (`messages[2].content: ...`).
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <dsv4/error.hpp>
#include <dsv4/text/chat_tokens.hpp>
#include <dsv4/text/pyjson.hpp>

namespace dsv4::text {

// ---- declarations -----------------------------------------------------------------------

struct encode_options {
    thinking_mode mode = thinking_mode::chat;
    reasoning_effort effort = reasoning_effort::high;  // only matters in thinking mode
    bool drop_thinking = true;                         // drop reasoning of turns before the last user turn
    bool add_bos = true;                               // write BOS (never when a context is given)
};

// The prompt for `messages` (a JSON array of OpenAI-style messages). `context` (null or an
// array) holds earlier messages that are already encoded, e.g. in the KV cache: they are not
// rendered, but they decide merging neighbours, tool-result order and reasoning dropping.
std::string encode_messages(const nlohmann::ordered_json& messages, const encode_options& options = {},
                            const nlohmann::ordered_json& context = nullptr);

// The "Reasoning Effort" text written before the first message in Think Max.
inline constexpr std::string_view think_max_prefix =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

// ---- implementation ---------------------------------------------------------------------

namespace chat_detail {

using json = nlohmann::ordered_json;

inline constexpr std::string_view tools_intro =
    "## Tools\n\nYou have access to a set of tools to help answer the user's question. You can invoke tools by "
    "writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";
inline constexpr std::string_view tools_outro =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";
inline constexpr std::string_view response_format_intro =
    "\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

// One block of a user turn: a user text (T) or a tool result (R) with the id it answers.
struct block {
    bool is_result = false;
    std::string text;  // T: the text; R: the result text without <tool_result> tags
    std::string id;    // R only
};

// A message after normalisation. Non-user messages point at their source object; user
// turns carry their blocks (a turn built from several messages points at the first).
struct message {
    const json* src = nullptr;
    std::string where;  // "messages[3]" / "context[0]", for error messages
    std::string role;
    std::vector<block> blocks;
    const json* task = nullptr;  // the task value when present and not null
};

inline const json* field(const json& m, std::string_view key) {
    auto it = m.find(key);
    return it == m.end() ? nullptr : &*it;
}

// A text field that may be absent or null (both read as "").
inline std::string_view optional_text(const json& m, std::string_view key, const std::string& where) {
    const json* v = field(m, key);
    if (v == nullptr || v->is_null()) return {};
    if (!v->is_string()) fail(where, ".", key, ": expected a string, got ", v->type_name());
    return v->get_ref<const std::string&>();
}

// A text field that must be a string when present (absent reads as "").
inline std::string_view text_or_absent(const json& m, std::string_view key, const std::string& where) {
    const json* v = field(m, key);
    if (v == nullptr) return {};
    if (!v->is_string()) fail(where, ".", key, ": expected a string, got ", v->type_name());
    return v->get_ref<const std::string&>();
}

inline void check_tools(const json& m, const std::string& where) {
    const json* tools = field(m, "tools");
    if (tools == nullptr || tools->is_null()) return;
    if (!tools->is_array()) fail(where, ".tools: expected an array, got ", tools->type_name());
    for (std::size_t k = 0; k < tools->size(); ++k) {
        const json& t = (*tools)[k];
        if (!t.is_object()) fail(where, ".tools[", k, "]: expected an object");
        const json* fn = field(t, "function");
        if (fn == nullptr) fail(where, ".tools[", k, "].function: missing");
        if (!fn->is_object()) fail(where, ".tools[", k, "].function: expected an object, got ", fn->type_name());
    }
}

inline void check_tool_calls(const json& m, const std::string& where) {
    const json* calls = field(m, "tool_calls");
    if (calls == nullptr || calls->is_null()) return;
    if (!calls->is_array()) fail(where, ".tool_calls: expected an array, got ", calls->type_name());
    for (std::size_t k = 0; k < calls->size(); ++k) {
        const std::string at = where + ".tool_calls[" + std::to_string(k) + "]";
        const json& c = (*calls)[k];
        if (!c.is_object()) fail(at, ": expected an object");
        optional_text(c, "id", at);
        const json* fn = field(c, "function");
        if (fn == nullptr) fail(at, ".function: missing");
        if (!fn->is_object()) fail(at, ".function: expected an object, got ", fn->type_name());
        const json* name = field(*fn, "name");
        if (name == nullptr) fail(at, ".function.name: missing");
        if (!name->is_string()) fail(at, ".function.name: expected a string, got ", name->type_name());
        if (field(*fn, "arguments") == nullptr) fail(at, ".function.arguments: missing");
        optional_text(*fn, "id", at + ".function");
    }
}

// The text of a tool result: a string, or a list of parts (text parts joined by blank lines).
inline std::string tool_result_text(const json& m, const std::string& where) {
    const json* c = field(m, "content");
    if (c == nullptr) return {};
    if (c->is_string()) return c->get<std::string>();
    if (!c->is_array()) fail(where, ".content: expected a string or an array of parts, got ", c->type_name());
    std::string out;
    for (std::size_t k = 0; k < c->size(); ++k) {
        const std::string at = where + ".content[" + std::to_string(k) + "]";
        const json& part = (*c)[k];
        if (!part.is_object()) fail(at, ": expected an object");
        const json* type = field(part, "type");
        if (type == nullptr) fail(at, ".type: missing");
        if (!type->is_string()) fail(at, ".type: expected a string, got ", type->type_name());
        if (k > 0) out += "\n\n";
        if (*type == "text")
            out += text_or_absent(part, "text", at);
        else
            out += "[Unsupported " + type->get<std::string>() + "]";
    }
    return out;
}

inline const json* task_of(const json& m) {
    const json* t = field(m, "task");
    return t == nullptr || t->is_null() ? nullptr : t;
}

// Step 1: validate one list and build its normalised messages.
inline std::vector<message> normalise(const json& list, const std::string& name) {
    if (!list.is_array()) fail(name, ": expected a JSON array of messages, got ", list.type_name());
    std::vector<message> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const json& m = list[i];
        const std::string where = name + "[" + std::to_string(i) + "]";
        if (!m.is_object()) fail(where, ": expected a JSON object, got ", m.type_name());
        const json* role_v = field(m, "role");
        if (role_v == nullptr) fail(where, ".role: missing");
        if (!role_v->is_string()) fail(where, ".role: expected a string, got ", role_v->type_name());
        const std::string& role = role_v->get_ref<const std::string&>();
        const bool user_side_last = !out.empty() && out.back().role == "user";
        if (role == "tool") {
            block r{true, tool_result_text(m, where), std::string(optional_text(m, "tool_call_id", where))};
            // A result joins the current user turn, even one that carries a task.
            if (user_side_last) {
                out.back().blocks.push_back(std::move(r));
            } else {
                out.push_back(message{&m, where, "user", {}, nullptr});
                out.back().blocks.push_back(std::move(r));
            }
            continue;
        }
        if (role == "user") {
            const json* c = field(m, "content");
            if (c != nullptr && !c->is_string())
                fail(where, ".content: expected a string, got ", c->type_name());
            block t{false, c == nullptr ? std::string() : c->get<std::string>(), {}};
            // Merging drops the incoming message's task (upstream behaviour).
            if (user_side_last && out.back().task == nullptr) {
                out.back().blocks.push_back(std::move(t));
            } else {
                out.push_back(message{&m, where, "user", {}, task_of(m)});
                out.back().blocks.push_back(std::move(t));
            }
            continue;
        }
        if (role == "system" || role == "developer" || role == "assistant" || role == "latest_reminder") {
            optional_text(m, "content", where);
            check_tools(m, where);
        }
        if (role == "latest_reminder") {
            const json* c = field(m, "content");
            if (c == nullptr) fail(where, ".content: missing");
            if (!c->is_string()) fail(where, ".content: expected a string, got ", c->type_name());
        }
        if (role == "assistant") {
            optional_text(m, "reasoning_content", where);
            check_tool_calls(m, where);
        }
        out.push_back(message{&m, where, role, {}, task_of(m)});
    }
    return out;
}

inline bool has_tool_calls(const message& m) {
    if (m.role != "assistant") return false;
    const json* calls = field(*m.src, "tool_calls");
    return calls != nullptr && pyjson::truthy(*calls);
}

// Step 2: put the results of a turn in the order of the calls of the latest calling assistant.
inline void order_tool_results(std::vector<message>& f) {
    std::map<std::string, int, std::less<>> position;
    for (message& m : f) {
        if (has_tool_calls(m)) {
            position.clear();
            const json& calls = (*m.src)["tool_calls"];
            for (std::size_t k = 0; k < calls.size(); ++k) {
                const json& c = calls[k];
                std::string id(optional_text(c, "id", m.where));
                if (id.empty()) id = optional_text(c["function"], "id", m.where);
                if (!id.empty()) position[id] = static_cast<int>(k);
            }
        } else if (m.role == "user" && !position.empty()) {
            std::vector<block> results;
            for (const block& b : m.blocks)
                if (b.is_result) results.push_back(b);
            if (results.size() < 2) continue;
            auto pos = [&](const block& b) {
                auto it = position.find(b.id);
                return it == position.end() ? 0 : it->second;
            };
            std::stable_sort(results.begin(), results.end(),
                             [&](const block& a, const block& b) { return pos(a) < pos(b); });
            std::size_t next = 0;
            for (block& b : m.blocks)
                if (b.is_result) b = results[next++];
        }
    }
}

inline bool declares_tools(const message& m) {
    if (m.role == "user") return false;  // normalisation discards tools on user and tool messages
    const json* tools = field(*m.src, "tools");
    return tools != nullptr && pyjson::truthy(*tools);
}

inline int last_user_index(const std::vector<message>& f) {
    for (int i = static_cast<int>(f.size()) - 1; i >= 0; --i)
        if (f[static_cast<std::size_t>(i)].role == "user" || f[static_cast<std::size_t>(i)].role == "developer")
            return i;
    return -1;
}

// §4: before the last user/developer message only these roles survive (in practice developer
// messages, and unknown roles, disappear).
inline std::vector<message> drop_earlier(const std::vector<message>& f) {
    const int last = last_user_index(f);
    std::vector<message> out;
    for (std::size_t i = 0; i < f.size(); ++i) {
        const std::string& r = f[i].role;
        if (static_cast<int>(i) >= last || r == "system" || r == "user" || r == "assistant" ||
            r == "latest_reminder" || r == "tool" || r == "direct_search_results")
            out.push_back(f[i]);
    }
    return out;
}

// The parameters of one DSML invoke, from the call's `arguments` (§5.2).
inline void write_parameters(std::string& out, const json& arguments, const std::string& where) {
    auto param = [&](std::string_view key, bool is_string, std::string_view value) {
        out += "<｜DSML｜parameter name=\"";
        out += key;
        out += is_string ? "\" string=\"true\">" : "\" string=\"false\">";
        out += value;
        out += "</｜DSML｜parameter>";
    };
    if (!arguments.is_string()) {  // json.loads refuses non-strings: the value becomes one parameter
        param("arguments", false, pyjson::dumps(arguments));
        return;
    }
    const std::string& text = arguments.get_ref<const std::string&>();
    pyjson::read_result r = pyjson::read(text);
    if (r.status == pyjson::read_status::invalid) {
        param("arguments", true, text);
        return;
    }
    if (r.status == pyjson::read_status::lone_surrogate)
        fail(where, ".function.arguments: a \\u escape decodes to an unpaired surrogate, which cannot be written as UTF-8");
    if (!r.value.is_object())
        fail(where, ".function.arguments: expected a JSON object, got ", r.value.type_name());
    bool first = true;
    for (const auto& [k, v] : r.value.items()) {
        if (!first) out += '\n';
        first = false;
        if (v.is_string())
            param(k, true, v.get_ref<const std::string&>());
        else
            param(k, false, pyjson::dumps(v));
    }
}

inline void write_tool_calls(std::string& out, const json& calls, const std::string& where) {
    out += "\n\n<｜DSML｜tool_calls>\n";
    for (std::size_t k = 0; k < calls.size(); ++k) {
        const json& fn = calls[k]["function"];
        if (k > 0) out += '\n';
        out += "<｜DSML｜invoke name=\"";
        out += fn["name"].get_ref<const std::string&>();
        out += "\">\n";
        write_parameters(out, fn["arguments"], where + ".tool_calls[" + std::to_string(k) + "]");
        out += "\n</｜DSML｜invoke>";
    }
    out += "\n</｜DSML｜tool_calls>";
}

// TOOLS + RF of a system or developer message.
inline void write_tools_and_format(std::string& out, const json& m) {
    const json* tools = field(m, "tools");
    if (tools != nullptr && pyjson::truthy(*tools)) {
        out += "\n\n";
        out += tools_intro;
        for (std::size_t k = 0; k < tools->size(); ++k) {
            if (k > 0) out += '\n';
            pyjson::write(out, (*tools)[k]["function"]);
        }
        out += tools_outro;
    }
    const json* rf = field(m, "response_format");
    if (rf != nullptr && pyjson::truthy(*rf)) {
        out += response_format_intro;
        pyjson::write(out, *rf);
    }
}

inline std::string_view task_token(const message& m) {
    static constexpr std::pair<std::string_view, std::string_view> table[] = {
        {"action", "<｜action｜>"}, {"query", "<｜query｜>"},   {"authority", "<｜authority｜>"},
        {"domain", "<｜domain｜>"}, {"title", "<｜title｜>"}, {"read_url", "<｜read_url｜>"},
    };
    if (m.task->is_string())
        for (const auto& [name, token] : table)
            if (*m.task == name) return token;
    fail(m.where, ".task: invalid task ", json_in_message(*m.task),
         "; expected one of action, query, authority, domain, title, read_url");
}

// Renders f[i] and its transition (§3.1, §3.2).
inline void render(std::string& out, const std::vector<message>& f, std::size_t i, const encode_options& opt,
                   bool drop, int last_user) {
    const message& m = f[i];
    const bool thinking = opt.mode == thinking_mode::thinking;
    if (i == 0 && thinking && opt.effort == reasoning_effort::max) out += think_max_prefix;
    const json& src = *m.src;
    if (m.role == "system") {
        out += optional_text(src, "content", m.where);
        write_tools_and_format(out, src);
    } else if (m.role == "developer") {
        const std::string_view content = optional_text(src, "content", m.where);
        if (content.empty()) fail(m.where, ".content: a developer message needs non-empty content");
        out += tokens::user;
        out += content;
        write_tools_and_format(out, src);
    } else if (m.role == "user") {
        out += tokens::user;
        for (std::size_t k = 0; k < m.blocks.size(); ++k) {
            if (k > 0) out += "\n\n";
            if (m.blocks[k].is_result) out += "<tool_result>";
            out += m.blocks[k].text;
            if (m.blocks[k].is_result) out += "</tool_result>";
        }
    } else if (m.role == "latest_reminder") {
        out += tokens::latest_reminder;
        out += src["content"].get_ref<const std::string&>();
    } else if (m.role == "assistant") {
        // The answer to a task gets no reasoning block.
        const bool task_answer = i > 0 && f[i - 1].task != nullptr;
        if (thinking && !task_answer && (!drop || static_cast<int>(i) > last_user)) {
            out += optional_text(src, "reasoning_content", m.where);
            out += tokens::think_end;
        }
        out += optional_text(src, "content", m.where);
        if (has_tool_calls(m)) write_tool_calls(out, src["tool_calls"], m.where);
        const json* wo_eos = field(src, "wo_eos");
        if (wo_eos == nullptr || !pyjson::truthy(*wo_eos)) out += tokens::eos;
    } else {
        fail(m.where, ".role: unknown role \"", m.role,
             "\"; expected system, user, assistant, tool, developer or latest_reminder");
    }

    // The transition opens the next assistant turn; it is written only when one follows.
    if (i + 1 < f.size() && f[i + 1].role != "assistant" && f[i + 1].role != "latest_reminder") return;
    if (m.task != nullptr) {
        const std::string_view token = task_token(m);
        if (*m.task == "action") {
            out += tokens::assistant;
            out += thinking ? tokens::think_begin : tokens::think_end;
        }
        out += token;
    } else if (m.role == "user" || m.role == "developer") {
        out += tokens::assistant;
        out += thinking && (!drop || static_cast<int>(i) >= last_user) ? tokens::think_begin : tokens::think_end;
    }
}

}  // namespace chat_detail

inline std::string encode_messages(const nlohmann::ordered_json& messages, const encode_options& options,
                                   const nlohmann::ordered_json& context) {
    using namespace chat_detail;
    std::vector<message> ctx;
    if (!context.is_null()) ctx = normalise(context, "context");
    const std::vector<message> msgs = normalise(messages, "messages");

    std::vector<message> f = ctx;
    f.insert(f.end(), msgs.begin(), msgs.end());
    order_tool_results(f);

    const bool drop = options.drop_thinking && std::none_of(f.begin(), f.end(), declares_tools);
    std::size_t first = ctx.size();
    std::size_t count = msgs.size();
    if (options.mode == thinking_mode::thinking && drop) {
        f = drop_earlier(f);
        // Upstream's count; it is too small when the context ends with a developer turn (§7).
        const std::ptrdiff_t n =
            static_cast<std::ptrdiff_t>(f.size()) - static_cast<std::ptrdiff_t>(drop_earlier(ctx).size());
        count = n > 0 ? static_cast<std::size_t>(n) : 0;
        first = f.size() - count;
    }
    const int last_user = last_user_index(f);

    std::string out;
    if (options.add_bos && ctx.empty()) out += tokens::bos;
    for (std::size_t i = first; i < first + count; ++i) render(out, f, i, options, drop, last_user);
    return out;
}

}  // namespace dsv4::text
