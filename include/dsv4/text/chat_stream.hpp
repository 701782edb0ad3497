// dsv4/text/chat_stream.hpp — incremental completion parsing for streamed generation.
//
// `completion_stream` is fed the generated text in arbitrary pieces (token by token, or split
// inside a UTF-8 character or a special token) and reports what has become certain: reasoning
// and content deltas, tool calls beginning, their `arguments` text growing, and ending. Its
// final message equals parse_completion() on the whole text, and it rejects exactly the same
// texts — often earlier, as soon as no continuation could be accepted.
//
// How it stays equal to the whole-text parser: each state of §8 waits for the earliest of a
// set of markers. A marker found in the buffer decides the state only when no other marker
// could still start before it (a marker prefix at the end of the buffer); until then, text
// before the first possible marker start is final and is reported. Deltas never split a UTF-8
// character, and a parameter value holds back its last two bytes, which may turn out to be the
// `<` / `<\n` that closes it. Validation of invoke heads and parameter segments uses the same
// functions as parse_completion().
#pragma once

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dsv4/text/chat_parse.hpp>

namespace dsv4::text {

// ---- declarations -----------------------------------------------------------------------

struct stream_event {
    enum class kind {
        reasoning_delta,      // text: more reasoning
        content_delta,        // text: more content
        tool_call_begin,      // index, text: the tool name
        tool_call_arguments,  // index, text: more of the call's `arguments` JSON text
        tool_call_end,        // index
        done,                 // the message is complete (completion_stream::message())
    };
    kind type;
    std::string text;
    std::size_t index = 0;  // the tool call (0-based) for tool_call_* events, else 0

    bool operator==(const stream_event&) const = default;
};

class completion_stream {
public:
    explicit completion_stream(thinking_mode mode);

    // Adds the next piece of the completion and returns the events it makes certain. Throws
    // completion_error as soon as the text can no longer be accepted; the stream is then dead.
    std::vector<stream_event> feed(std::string_view piece);
    // Marks the end of the completion (whether or not it ended with EOS) and returns the last
    // events, ending with `done`. Throws completion_error if the whole text is rejected.
    std::vector<stream_event> finish();

    // The parsed message, once finish() has returned (same shape as parse_completion()).
    const nlohmann::ordered_json& message() const;
    bool finished() const { return state_ == state::finished; }

private:
    enum class state {
        reasoning,     // before </think> (thinking mode)
        content,       // before EOS or the tool-call block
        calls_gap,     // after TC_START / an invoke: ">\n" then an invoke or the block end
        invoke_head,   // after "<｜DSML｜invoke": ` name="NAME">\n`
        param_name,    // after "<｜DSML｜parameter": ` name="KEY" string="…">`
        param_value,   // the value, up to "/｜DSML｜parameter"
        param_gap,     // ">\n" then a parameter or the invoke end
        after_calls,   // after the block end: nothing or EOS
        after_eos,     // after the content's EOS: nothing more
        finished,
        failed,
    };

    // Result of looking for the earliest marker from `from`.
    struct scan {
        int which = -1;             // marker found (decided), or -1
        std::size_t begin = 0;      // where it starts
        std::size_t end = 0;        // where it ends
        std::size_t safe = 0;       // undecided: no marker can start before this
    };
    scan search(std::string_view text, std::size_t from, std::initializer_list<std::string_view> markers,
                bool final) const;
    std::size_t utf8_cut(std::size_t end) const;
    void step(bool final);
    bool step_once(bool final);
    bool expect_gap(std::initializer_list<std::string_view> markers, bool final, scan& hit);
    void emit(stream_event::kind k, std::string text);
    void emit_text(std::size_t end);
    void emit_value(std::size_t end);
    void begin_call(std::string_view name);
    void end_call();
    void continue_invoke(bool parameter_follows, std::size_t at);
    void fail_with(std::string_view why);
    void enter(state s, std::size_t pos);

    thinking_mode mode_;
    state state_;
    std::string buf_;
    std::size_t pos_ = 0;        // start of the current state's text
    std::size_t scan_from_ = 0;  // no marker of the current state starts before this
    std::size_t emitted_ = 0;    // reasoning/content/value reported up to here
    std::string reasoning_, content_;
    std::vector<chat_detail::tool_call_text> calls_;
    std::set<std::string> param_names_;
    bool value_is_string_ = false;
    std::size_t value_begin_ = 0;
    std::vector<stream_event> out_;
    nlohmann::ordered_json message_;
};

// ---- implementation ---------------------------------------------------------------------

inline completion_stream::completion_stream(thinking_mode mode)
    : mode_(mode), state_(mode == thinking_mode::thinking ? state::reasoning : state::content) {}

inline void completion_stream::fail_with(std::string_view why) { chat_detail::reject(why); }

inline void completion_stream::enter(state s, std::size_t pos) {
    state_ = s;
    pos_ = scan_from_ = emitted_ = pos;
}

inline completion_stream::scan completion_stream::search(std::string_view text, std::size_t from,
                                                         std::initializer_list<std::string_view> markers,
                                                         bool final) const {
    const chat_detail::marker_hit hit = chat_detail::find_marker(text, from, markers);
    // The first position whose suffix is a proper prefix of a marker: a marker may start there.
    std::size_t partial = text.size();
    if (!final) {
        std::size_t longest = 0;
        for (std::string_view m : markers) longest = std::max(longest, m.size());
        const std::size_t lo = text.size() >= longest ? std::max(from, text.size() - longest + 1) : from;
        for (std::size_t q = lo; q < text.size() && partial == text.size(); ++q)
            for (std::string_view m : markers)
                if (text.size() - q < m.size() && m.starts_with(text.substr(q))) {
                    partial = q;
                    break;
                }
    }
    scan s;
    if (hit.which >= 0 && hit.begin < partial) {
        s.which = hit.which;
        s.begin = hit.begin;
        s.end = hit.end;
    }
    s.safe = std::min(partial, hit.which >= 0 ? hit.begin : text.size());
    return s;
}

// The largest cut <= end that does not split a UTF-8 sequence (one still being received, or
// one cut by the hold-back of a parameter value).
inline std::size_t completion_stream::utf8_cut(std::size_t end) const {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buf_[i]); };
    if (end < buf_.size()) {
        std::size_t e = end;
        while (e > emitted_ && e + 3 > end && (byte(e) & 0xC0) == 0x80) --e;
        return (byte(e) & 0xC0) == 0x80 ? end : e;  // not UTF-8 at all: bytes are passed through
    }
    for (std::size_t back = 1; back <= 3 && back <= end; ++back) {
        const unsigned char c = byte(end - back);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return len > back ? end - back : end;
    }
    return end;
}

inline void completion_stream::emit(stream_event::kind k, std::string text) {
    const bool tool_event = k == stream_event::kind::tool_call_begin || k == stream_event::kind::tool_call_arguments ||
                            k == stream_event::kind::tool_call_end;
    out_.push_back(stream_event{k, std::move(text), tool_event ? calls_.size() - 1 : 0});
}

// Reports reasoning or content text up to `end`.
inline void completion_stream::emit_text(std::size_t end) {
    end = utf8_cut(end);
    if (end <= emitted_) return;
    const std::string piece = buf_.substr(emitted_, end - emitted_);
    emitted_ = end;
    if (state_ == state::reasoning) {
        reasoning_ += piece;
        emit(stream_event::kind::reasoning_delta, piece);
    } else {
        content_ += piece;
        emit(stream_event::kind::content_delta, piece);
    }
}

// Reports a parameter value up to `end` as `arguments` text.
inline void completion_stream::emit_value(std::size_t end) {
    end = utf8_cut(end);
    if (end <= emitted_) return;
    std::string piece;
    if (value_is_string_)
        pyjson::write_escaped(piece, std::string_view(buf_).substr(emitted_, end - emitted_));
    else
        piece = buf_.substr(emitted_, end - emitted_);
    emitted_ = end;
    calls_.back().arguments += piece;
    emit(stream_event::kind::tool_call_arguments, std::move(piece));
}

inline void completion_stream::begin_call(std::string_view name) {
    calls_.push_back({std::string(name), "{"});
    param_names_.clear();
    emit(stream_event::kind::tool_call_begin, std::string(name));
    emit(stream_event::kind::tool_call_arguments, "{");
}

// After an invoke head or a parameter: another parameter, or "</｜DSML｜invoke" ends the call.
inline void completion_stream::continue_invoke(bool parameter_follows, std::size_t at) {
    if (parameter_follows) {
        enter(state::param_name, at);
    } else {
        end_call();
        enter(state::calls_gap, at);
    }
}

inline void completion_stream::end_call() {
    calls_.back().arguments += '}';
    emit(stream_event::kind::tool_call_arguments, "}");
    emit(stream_event::kind::tool_call_end, {});
}

// For the gap states: the text must be exactly ">\n" followed by one of `markers`. Rejects as
// soon as the buffer rules that out; returns true with `hit` once a marker follows the gap.
inline bool completion_stream::expect_gap(std::initializer_list<std::string_view> markers, bool final, scan& hit) {
    const std::string_view rest = std::string_view(buf_).substr(pos_);
    constexpr std::string_view gap = ">\n";
    if (!gap.starts_with(rest.substr(0, gap.size()))) fail_with("tool call format error: expected '>\\n'");
    if (rest.size() > gap.size()) {
        const std::string_view after = rest.substr(gap.size());
        int k = 0;
        hit.which = -1;
        bool possible = false;
        for (std::string_view m : markers) {
            if (after.starts_with(m)) {
                hit.which = k;
                hit.begin = pos_ + gap.size();
                hit.end = hit.begin + m.size();
                return true;
            }
            possible = possible || m.starts_with(after);
            ++k;
        }
        if (!possible) fail_with("tool call format error: expected '>\\n' followed by a DSML tag");
    }
    if (final) fail_with(rest == gap ? "missing special token in tool calls" : "tool call format error: truncated");
    return false;
}

// Advances the current state once; returns whether it moved on (so another step may follow).
inline bool completion_stream::step_once(bool final) {
    using chat_detail::find_marker;
    const std::string_view text(buf_);
    switch (state_) {
        case state::reasoning:
        case state::content: {
            const bool reasoning = state_ == state::reasoning;
            const scan s = reasoning ? search(text, scan_from_, {tokens::think_end, tokens::tool_calls_start}, final)
                                     : search(text, scan_from_, {tokens::eos, tokens::tool_calls_start}, final);
            if (s.which < 0) {
                emit_text(s.safe);
                scan_from_ = s.safe;
                if (final) fail_with(reasoning ? "invalid thinking format: missing </think>" : "invalid format: missing EOS token");
                return false;
            }
            emit_text(s.begin);
            if (reasoning) {
                if (s.which != 0) fail_with("invalid thinking format: missing </think>");
                chat_detail::check_no_special_tokens(reasoning_, "reasoning");
                enter(state::content, s.end);
                return true;
            }
            chat_detail::check_no_special_tokens(content_, "content");
            enter(s.which == 0 ? state::after_eos : state::calls_gap, s.end);
            return true;
        }
        case state::calls_gap: {
            if (pos_ == buf_.size()) return false;  // the block may end right here
            scan hit;
            if (!expect_gap({tokens::invoke, tokens::tool_calls_end}, final, hit)) return false;
            enter(hit.which == 0 ? state::invoke_head : state::after_calls, hit.end);
            return true;
        }
        case state::invoke_head: {
            const scan s = search(text, scan_from_, {tokens::parameter, tokens::invoke_end}, final);
            if (s.which < 0) {
                scan_from_ = s.safe;
                if (!final) return false;
                // The text ends inside the head: accepted as a call without parameters.
                const auto name = chat_detail::invoke_name(text.substr(pos_));
                if (!name) fail_with("tool name format error: '" + buf_.substr(pos_) + "'");
                begin_call(*name);
                end_call();
                enter(state::calls_gap, buf_.size());
                return false;
            }
            const auto name = chat_detail::invoke_name(text.substr(pos_, s.begin - pos_));
            if (!name) fail_with("tool name format error: '" + buf_.substr(pos_, s.begin - pos_) + "'");
            begin_call(*name);
            continue_invoke(s.which == 0, s.end);
            return true;
        }
        case state::param_name: {
            // The segment ends at the first "/｜DSML｜parameter"; the name ends at the first flag in it.
            const chat_detail::marker_hit seg_end = find_marker(text, pos_, {tokens::parameter_end});
            const std::size_t limit = seg_end.which < 0 ? buf_.size() : seg_end.begin;
            const std::string_view seg = text.substr(pos_, limit - pos_);
            const std::string_view open = chat_detail::param_open;
            if (!open.starts_with(seg.substr(0, open.size())) || (seg_end.which >= 0 && seg.size() < open.size()))
                fail_with("parameter format error: '" + std::string(seg) + "'");
            if (seg.size() < open.size()) {
                if (final) fail_with("parameter format error: truncated");
                return false;
            }
            const scan flag = search(text.substr(0, limit), std::max(scan_from_, pos_ + open.size()),
                                     {chat_detail::flag_true, chat_detail::flag_false}, final || seg_end.which >= 0);
            if (flag.which < 0) {
                scan_from_ = flag.safe;
                if (final || seg_end.which >= 0) fail_with("parameter format error: '" + std::string(seg) + "'");
                return false;
            }
            const std::string name = buf_.substr(pos_ + open.size(), flag.begin - pos_ - open.size());
            if (!param_names_.insert(name).second) fail_with("duplicate parameter name: '" + name + "'");
            value_is_string_ = flag.which == 0;
            std::string key = param_names_.size() > 1 ? ", " : "";
            key += chat_detail::argument_key(name, value_is_string_);
            calls_.back().arguments += key;
            emit(stream_event::kind::tool_call_arguments, std::move(key));
            const std::size_t segment_begin = pos_;
            enter(state::param_value, flag.end);
            pos_ = segment_begin;  // the segment (for the final check) still starts at ` name="`
            value_begin_ = flag.end;
            return true;
        }
        case state::param_value: {
            const scan s = search(text, scan_from_, {tokens::parameter_end}, final);
            if (s.which < 0) {
                scan_from_ = s.safe;
                // The last two bytes may be the closing `<` or `<\n`.
                if (s.safe >= value_begin_ + 2) emit_value(s.safe - 2);
                if (final) fail_with("parameter format error: missing '/｜DSML｜parameter'");
                return false;
            }
            const std::string_view seg = text.substr(pos_, s.begin - pos_);
            const std::size_t end = chat_detail::param_value_end(seg, value_begin_ - pos_);
            if (end == std::string_view::npos) fail_with("parameter format error: '" + std::string(seg) + "'");
            emit_value(pos_ + end);
            if (value_is_string_) {
                calls_.back().arguments += '"';
                emit(stream_event::kind::tool_call_arguments, "\"");
            }
            enter(state::param_gap, s.end);
            return true;
        }
        case state::param_gap: {
            if (final && text.substr(pos_) == ">\n") {  // the text ends after a parameter
                end_call();
                enter(state::calls_gap, buf_.size());
                return false;
            }
            scan hit;
            if (!expect_gap({tokens::parameter, tokens::invoke_end}, final, hit)) return false;
            continue_invoke(hit.which == 0, hit.end);
            return true;
        }
        case state::after_calls: {
            const std::string_view rest = text.substr(pos_);
            if (!tokens::eos.starts_with(rest.substr(0, tokens::eos.size())) || rest.size() > tokens::eos.size())
                fail_with("unexpected content after tool calls");
            if (final && !rest.empty() && rest != tokens::eos) fail_with("unexpected content after tool calls");
            return false;
        }
        case state::after_eos:
            if (pos_ != buf_.size()) fail_with("unexpected content at end");
            return false;
        case state::finished: chat_detail::reject("completion_stream: finish() was already called");
        case state::failed: chat_detail::reject("completion_stream: the completion was already rejected");
    }
    return false;
}

inline void completion_stream::step(bool final) {
    try {
        while (step_once(final)) {
        }
    } catch (...) {
        if (state_ != state::finished) state_ = state::failed;
        throw;
    }
}

inline std::vector<stream_event> completion_stream::feed(std::string_view piece) {
    if (state_ == state::finished || state_ == state::failed) step(false);  // throws
    buf_ += piece;
    step(false);
    return std::exchange(out_, {});
}

inline std::vector<stream_event> completion_stream::finish() {
    if (state_ == state::finished || state_ == state::failed) step(false);  // throws
    step(true);
    state_ = state::finished;
    message_ = chat_detail::make_message(content_, reasoning_, calls_);
    emit(stream_event::kind::done, {});
    return std::exchange(out_, {});
}

inline const nlohmann::ordered_json& completion_stream::message() const {
    if (state_ != state::finished) fail("completion_stream::message(): finish() has not completed");
    return message_;
}

}  // namespace dsv4::text
