// dsv4/nn/model.hpp — the DeepSeek-V4 model: embedding, blocks, head and MTP.
//
//   forward(seq, ids)  : runs len(ids) tokens at positions seq.position().. through every
//                        block (mHC around attention and MoE), then hc_head, norm and the
//                        head; returns logits of the last token (or of every token), and,
//                        on request, the pre-head streams [S, hc, D] that the MTP block and
//                        speculative decoding need. Any chunking of a prompt is allowed.
//   mtp_forward(seq, h, ids): the MTP block at positions seq.mtp_position().. with the main
//                        model's pre-head streams h of those positions and the ids of the
//                        *next* tokens (DeepSeek MTP convention); returns its logits.
//
// model_core holds run-time sizes (model_shape), so this code is compiled once whatever
// the config; model<Config> is the thin typed shell (dsv4::Flash = model<FlashConfig>).
// Forward passes are const: the weights are read-only and every per-sequence value lives
// in the sequence_state, so one model serves many sequences on many threads.
#pragma once

#include <cxxabi.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <typeinfo>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/config/flash.hpp>
#include <dsv4/config/pro.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/io/weight_tensor.hpp>
#include <dsv4/kernels/rope.hpp>
#include <dsv4/nn/attention.hpp>
#include <dsv4/nn/hyper_connection.hpp>
#include <dsv4/nn/moe.hpp>
#include <dsv4/nn/ops.hpp>
#include <dsv4/nn/saved.hpp>
#include <dsv4/nn/trace.hpp>
#include <dsv4/nn/weights.hpp>
#include <dsv4/context.hpp>
#include <dsv4/nn/sequence_state.hpp>

namespace dsv4 {

struct model_options {
    int threads = 0;             // 0 = all hardware threads
    bool shared_expert_clamp = true;  // false reproduces the initial official revision (so does a shape's false)
    bool check_config_json = true;    // compare the folder's config.json with the compiled config
    bool allow_unexpected_tensors = false;  // true: tensors the model does not use are only listed (unused_tensors())
    bool validate_weights = false;    // scan float weights for NaN/Inf at load (costs one pass over them)
    // Round the input of every product as the official inference does: FP8/FP4-weight
    // products take it quantised to FP8 e4m3 per 128-block with a power-of-two scale
    // (act_quant), BF16-weight products take it in bf16. Decode runs these on AVX512-BF16
    // dot products with one activation part instead of the float path's three (kernels/
    // gemv_bf16dot.hpp), about 1.3-1.5x faster per core. Off by default: logits then differ
    // from the float math (and the golden data) by the quantisation, about 1e-2 relative.
    bool quantize_activations = false;
    // Longer prompts run as consecutive chunks of this many tokens, so activation memory
    // follows the chunk rather than the prompt (0: no limit). Chunking changes only the
    // summation order of the results.
    int max_chunk_tokens = 512;
};

struct forward_request {
    bool all_logits = false;   // logits of every token of the call, not just the last
    bool keep_hidden = false;  // return the pre-head streams [S, hc, D]
    // Training: keep what the backward needs and apply the training variants (nn/saved.hpp).
    // A call with hooks runs in one piece.
    nn::training_hooks* training = nullptr;
    // false: no logits, only the streams (with keep_hidden) — for a training loss that runs
    // the head itself, a vocabulary chunk at a time
    bool compute_logits = true;
};

struct forward_result {
    xt::xtensor<float, 2> logits;  // [rows, vocab]: every token of the call (all_logits) or the last
    size_t rows = 0;               // logits.shape(0)
    xt::xtensor<float, 3> hidden;  // [S, hc, D] pre-head streams when keep_hidden (else empty)
};

class model_core {
public:
    virtual ~model_core() = default;  // model<Config> and user types derive from it
    model_core(const model_core&) = delete;
    model_core& operator=(const model_core&) = delete;

    // The model of a checkpoint folder (its config.json, when present, must describe `shape`).
    model_core(const model_shape& shape, std::string_view config_name, const std::string& folder, model_options opt)
        : model_core(shape, config_name, std::make_unique<checkpoint>(folder), opt) {}

    // The model of any checkpoint, e.g. checkpoint::in_memory over weights being trained
    // (train/parameters.hpp make_model). The model reads the checkpoint's tensors in place
    // (nn/weights.hpp), so their memory must outlive it.
    model_core(const model_shape& shape, std::string_view config_name, std::unique_ptr<checkpoint> weights,
               model_options opt)
        : shape_(shape), opt_(opt), checkpoint_(std::move(weights)),
          ctx_(opt.threads == 0 ? std::make_unique<context>() : std::make_unique<context>(opt.threads)) {
        if (!checkpoint_) fail(config_name, ": no checkpoint given");
        const std::string& folder = checkpoint_->folder();
        if (auto why = validate(shape_); !why.empty()) fail(config_name, ": invalid config: ", why);
        if (opt.max_chunk_tokens < 0)
            fail("model_options.max_chunk_tokens: expected >= 0 (0 = no limit), got ", opt.max_chunk_tokens);
        if (opt.check_config_json && !checkpoint_->in_memory()) {
            const std::string cfg = folder + "/config.json";
            if (std::filesystem::exists(cfg)) check_config(read_config_json(cfg), shape_, config_name);
        }
        nn::weight_loader loader(*checkpoint_, shape_, opt.quantize_activations);
        weights_ = loader.load();
        unused_ = loader.unused_tensors();
        if (!unused_.empty() && !opt.allow_unexpected_tensors) {
            std::string list;
            for (size_t i = 0; i < unused_.size() && i < 5; ++i) list += (i ? ", '" : "'") + unused_[i] + "'";
            fail(folder, ": checkpoint has ", unused_.size(), " tensor(s) that ", config_name, " does not use: ", list,
                 unused_.size() > 5 ? ", ..." : "", " (model_options::allow_unexpected_tensors accepts them)");
        }
        if (opt.validate_weights) validate_finite(*checkpoint_);
        kernels::rope_params window{shape_.rope_head_dim, shape_.rope_theta, 0, 1.0, shape_.beta_fast, shape_.beta_slow};
        kernels::rope_params compressed{shape_.rope_head_dim, shape_.compress_rope_theta, shape_.original_seq_len,
                                        shape_.rope_factor, shape_.beta_fast, shape_.beta_slow};
        window_freqs_ = kernels::rope_frequencies(window);
        compressed_freqs_ = kernels::rope_frequencies(compressed);
    }

    const model_shape& shape() const { return shape_; }
    const context& ctx() const { return *ctx_; }
    const checkpoint& weights_file() const { return *checkpoint_; }
    const std::vector<std::string>& unused_tensors() const { return unused_; }
    const nn::model_weights& weights() const { return weights_; }
    // Whether the shared expert's SwiGLU is clamped (the shape's revision and the option).
    bool shared_expert_clamped() const { return shape_.shared_expert_clamp && opt_.shared_expert_clamp; }
    const std::vector<float>& rope_table(bool compressed) const { return compressed ? compressed_freqs_ : window_freqs_; }

    // Any tensor of the checkpoint by its official name, dequantised exactly to f32
    // ("layers.3.attn.wq_a.weight" -> [out, in]); io/weight_tensor.hpp.
    template <size_t N>
    xt::xtensor<float, N> weight(const std::string& name) const {
        return dequantized<N>(*checkpoint_, name);
    }

    // A fresh sequence that may hold up to `capacity` tokens.
    sequence_state new_sequence(int64_t capacity) const { return sequence_state(shape_, capacity); }

    // Runs ids through the model at the sequence's position. Prompts longer than
    // model_options::max_chunk_tokens run as consecutive chunks (the same results up to
    // summation order; activations sized by the chunk, not the prompt).
    forward_result forward(sequence_state& seq, std::span<const int32_t> ids, const forward_request& req = {},
                           nn::trace* tr = nullptr) const {
        const size_t S = ids.size();
        check_tokens(seq, ids, seq.position(), "forward");
        // a trace records whole-call intermediates, so traced calls run in one piece
        const size_t chunk = opt_.max_chunk_tokens > 0 && tr == nullptr && req.training == nullptr
                                 ? size_t(opt_.max_chunk_tokens) : S;
        if (S <= chunk) {
            auto X = body(seq, ids, tr, req.training);
            return head(X, weights_.hc_head, weights_.norm, req);
        }
        // consecutive chunks write their rows of the whole call's results
        const size_t V = size_t(shape_.vocab_size), hcD = size_t(shape_.hc_mult) * size_t(shape_.dim);
        forward_result out;
        out.rows = req.all_logits ? S : 1;
        out.logits = xt::xtensor<float, 2>::from_shape({out.rows, V});
        out.hidden = xt::xtensor<float, 3>::from_shape({req.keep_hidden ? S : 0, size_t(shape_.hc_mult), size_t(shape_.dim)});
        for (size_t i = 0; i < S; i += chunk) {
            const size_t n = std::min(chunk, S - i);
            auto X = body(seq, ids.subspan(i, n), nullptr, nullptr);
            if (req.keep_hidden) std::copy(X.data(), X.data() + X.size(), out.hidden.data() + i * hcD);
            if (req.all_logits || i + n == S) {
                const auto part = head(X, weights_.hc_head, weights_.norm, {.all_logits = req.all_logits});
                std::copy(part.logits.data(), part.logits.data() + part.logits.size(),
                          out.logits.data() + (req.all_logits ? i * V : 0));
            }
        }
        return out;
    }

    forward_result mtp_forward(sequence_state& seq, const xt::xtensor<float, 3>& hidden, std::span<const int32_t> ids,
                               const forward_request& req = {}, nn::trace* tr = nullptr, int mtp_index = 0) const {
        const size_t S = ids.size(), D = size_t(shape_.dim), hc = size_t(shape_.hc_mult);
        if (mtp_index < 0 || mtp_index >= shape_.n_mtp_layers)
            fail("mtp_forward: MTP block ", mtp_index, " does not exist (the model has ", shape_.n_mtp_layers, ")");
        if (hidden.shape(0) != S || hidden.shape(1) != hc || hidden.shape(2) != D)
            fail("mtp_forward: hidden has shape [", hidden.shape(0), ", ", hidden.shape(1), ", ", hidden.shape(2),
                 "], expected [", S, ", ", hc, ", ", D, "] (the streams of the tokens before ids)");
        check_tokens(seq, ids, seq.mtp_position(), "mtp_forward");
        const auto& w = weights_.mtp[size_t(mtp_index)];
        const int64_t start = seq.mtp_position();
        std::vector<float> e(S * D);
        for (size_t t = 0; t < S; ++t) {
            const float* row = embedding_row(ids[t]);
            kernels::rmsnorm(row, w.enorm.data(), e.data() + t * D, D, float(shape_.norm_eps));
        }
        std::vector<float> hn(hidden.data(), hidden.data() + hidden.size());
        nn::rmsnorm_rows(hn.data(), S * hc, D, w.hnorm.data(), float(shape_.norm_eps));
        const auto ep = nn::linear(*ctx_, e, S, w.e_proj);
        auto X = xt::xtensor<float, 3>::from_shape({S, hc, D});
        nn::linear(*ctx_, hn.data(), S * hc, w.h_proj, X.data());
        for (size_t t = 0; t < S; ++t)
            for (size_t j = 0; j < hc; ++j) kernels::axpy(1.0f, ep.data() + t * D, X.data() + (t * hc + j) * D, D);
        const int layer = shape_.n_layers + mtp_index;
        block_forward(w.block, seq.mtp_layers()[size_t(mtp_index)], layer, "mtp." + std::to_string(mtp_index), X.data(),
                      S, start, ids, tr, req.training);
        seq.advance_mtp(int64_t(S));
        return head(X, w.hc_head, w.norm, req);
    }

    // Returns the sequence to position p <= position(): restores the latest mark at or before
    // p (or the empty state) and re-feeds the recorded tokens up to p. The MTP block's state
    // goes back to that mark's (it is not re-fed).
    void rewind(sequence_state& seq, int64_t p) const {
        check_state(seq, "rewind");
        if (p < 0 || p > seq.position())
            fail("rewind: position ", p, " is outside [0, ", seq.position(), "] (the sequence's current position)");
        if (p == seq.position()) return;
        const std::vector<int32_t> history(seq.tokens().begin(), seq.tokens().begin() + p);
        if (!seq.restore_latest_mark(p)) seq.reset();
        const int64_t from = seq.position();
        if (p > from) forward(seq, std::span<const int32_t>(history).subspan(size_t(from), size_t(p - from)));
    }

private:
    // Every F32/BF16 value must be finite and no FP8 code may be NaN (e8m0 255 is always checked).
    static void validate_finite(const checkpoint& ck) {
        for (const auto& name : ck.names()) {
            const auto& t = ck.at(name);
            const size_t n = size_t(t.numel());
            for (size_t i = 0; i < n; ++i) {
                float v;
                if (t.type == dtype::f32) v = reinterpret_cast<const float*>(t.data)[i];
                else if (t.type == dtype::bf16) v = decode_bf16(reinterpret_cast<const uint16_t*>(t.data)[i]);
                else if (t.type == dtype::f8_e4m3) v = decode_fp8_e4m3(reinterpret_cast<const uint8_t*>(t.data)[i]);
                else break;
                if (!std::isfinite(v)) fail(t.file, ": tensor '", name, "' value ", i, " is ", v, " (weights must be finite)");
            }
        }
    }

    void check_tokens(const sequence_state& seq, std::span<const int32_t> ids, int64_t start, const char* what) const {
        check_state(seq, what);
        if (ids.empty()) fail(what, ": no tokens given (a call needs at least one token)");
        for (size_t t = 0; t < ids.size(); ++t)
            if (ids[t] < 0 || ids[t] >= shape_.vocab_size)
                fail(what, ": token ", t, " has id ", ids[t], ", expected [0, ", shape_.vocab_size, ")");
        if (start + int64_t(ids.size()) > seq.capacity())
            fail(what, ": ", ids.size(), " tokens at position ", start, " exceed the sequence capacity of ",
                 seq.capacity(), " tokens");
    }

    // A state of another shape would be read and written out of its bounds.
    void check_state(const sequence_state& seq, const char* what) const {
        if (seq.shape_fingerprint() != fingerprint(shape_))
            fail(what, ": the sequence state was made for another model shape (fingerprint ", hex(seq.shape_fingerprint()),
                 ", this model's is ", hex(fingerprint(shape_)), "); make it with this model's new_sequence()");
    }

    // The streams after the last block for ids at the sequence's position; advances seq.
    xt::xtensor<float, 3> body(sequence_state& seq, std::span<const int32_t> ids, nn::trace* tr,
                               nn::training_hooks* th) const {
        const size_t S = ids.size(), D = size_t(shape_.dim), hc = size_t(shape_.hc_mult);
        const int64_t start = seq.position();
        // embedding copied into every stream
        auto X = xt::xtensor<float, 3>::from_shape({S, hc, D});
        for (size_t t = 0; t < S; ++t) {
            const float* row = embedding_row(ids[t]);
            for (size_t j = 0; j < hc; ++j) std::copy(row, row + D, X.data() + (t * hc + j) * D);
        }
        for (int l = 0; l < shape_.n_layers; ++l)
            block_forward(weights_.layers[size_t(l)], seq.layers()[size_t(l)], l, "layers." + std::to_string(l), X.data(),
                          S, start, ids, tr, th);
        seq.advance(int64_t(S));
        seq.record_tokens(ids);
        return X;
    }

    const float* embedding_row(int32_t id) const {
        const size_t D = size_t(shape_.dim);
        if (!weights_.embed_bf16) return static_cast<const float*>(weights_.embed) + size_t(id) * D;
        thread_local std::vector<float> row;
        row.resize(D);
        const auto* b = static_cast<const uint16_t*>(weights_.embed) + size_t(id) * D;
        for (size_t k = 0; k < D; ++k) row[k] = decode_bf16(b[k]);
        return row.data();
    }

    void block_forward(const nn::block_weights& w, layer_state& st, int layer, const std::string& name, float* X,
                       size_t S, int64_t start, std::span<const int32_t> ids, nn::trace* tr, nn::training_hooks* th) const {
        const size_t D = size_t(shape_.dim), hcD = size_t(shape_.hc_mult) * D;
        const float eps = float(shape_.norm_eps);
        std::vector<float> a(S * D), f(S * D);
        nn::block_saved* sv = nullptr;
        if (th) {
            if (th->blocks.size() <= size_t(layer)) th->blocks.resize(size_t(layer) + 1);
            sv = &th->blocks[size_t(layer)];
            sv->x_in.assign(X, X + S * hcD);
        }
        auto mix = nn::hc_pre(*ctx_, shape_, w.hc_attn, X, S, a.data());
        if (sv) sv->attn_in = a;
        if (tr) {
            const size_t hc = size_t(shape_.hc_mult);
            tr->add(name + ".hc_attn_pre", mix.pre.data(), S, {hc});
            tr->add(name + ".hc_attn_post", mix.post.data(), S, {hc});
            tr->add(name + ".hc_attn_comb", mix.comb.data(), S, {hc, hc});
            tr->add(name + ".hc_attn_y", a.data(), S, {D});
        }
        nn::rmsnorm_rows(a.data(), S, D, w.attn_norm.data(), eps);
        const bool compressed = shape_.has_compressor(layer);
        nn::attention_setup as{&shape_, shape_.kind(layer), shape_.ratio(layer),
                               compressed ? compressed_freqs_.data() : window_freqs_.data(), name,
                               th != nullptr && th->dense_indexer};
        nn::attention_forward(*ctx_, as, w.attn, st, a.data(), S, start, f.data(), tr, sv ? &sv->attn : nullptr);
        if (sv) sv->attn_out = f;
        nn::hc_post(shape_, mix, f.data(), X, S);
        if (sv) sv->x_mid.assign(X, X + S * hcD);

        mix = nn::hc_pre(*ctx_, shape_, w.hc_ffn, X, S, a.data());
        if (sv) sv->ffn_in = a;
        nn::rmsnorm_rows(a.data(), S, D, w.ffn_norm.data(), eps);
        nn::moe_forward(*ctx_, shape_, w.ffn, shared_expert_clamped(), a.data(), S, ids, f.data(), name, tr,
                        th ? th->forced(layer) : nullptr, sv ? &sv->moe : nullptr);
        if (sv) sv->ffn_out = f;
        nn::hc_post(shape_, mix, f.data(), X, S);
        if (tr) tr->add(name + ".block_out", X, S, {size_t(shape_.hc_mult), D});
    }

    // Logits of the streams X [S, hc, D] (the last row, or all); X moves into the result
    // when the caller keeps the streams.
    forward_result head(xt::xtensor<float, 3>& X, const nn::hc_weights& hcw, nn::float_span norm,
                        const forward_request& req) const {
        const size_t S = X.shape(0), D = size_t(shape_.dim);
        forward_result r;
        if (!req.compute_logits) {
            if (req.keep_hidden) r.hidden = std::move(X);
            return r;
        }
        const size_t first = req.all_logits ? 0 : S - 1;
        r.rows = S - first;
        const size_t hcD = size_t(shape_.hc_mult) * D;
        std::vector<float> y(r.rows * D);
        nn::hc_head(*ctx_, shape_, hcw, X.data() + first * hcD, r.rows, y.data());
        nn::rmsnorm_rows(y.data(), r.rows, D, norm.data(), float(shape_.norm_eps));
        r.logits = xt::xtensor<float, 2>::from_shape({r.rows, size_t(shape_.vocab_size)});
        nn::linear(*ctx_, y.data(), r.rows, weights_.head, r.logits.data());
        if (req.keep_hidden) r.hidden = std::move(X);
        else r.hidden = xt::xtensor<float, 3>::from_shape({0, size_t(shape_.hc_mult), D});
        return r;
    }

    model_shape shape_;
    model_options opt_;
    std::unique_ptr<checkpoint> checkpoint_;
    std::unique_ptr<context> ctx_;
    nn::model_weights weights_;
    std::vector<std::string> unused_;
    std::vector<float> window_freqs_, compressed_freqs_;
};

// The typed model: structure from the config type, weights from a checkpoint folder.
template <class Config>
class model : public model_core {
public:
    using config = Config;
    static_assert(check_config<Config>());  // each violated rule fails with its own message
    explicit model(const std::string& folder, model_options opt = {})
        : model_core(shape_of<Config>(), config_name(), folder, opt) {}

    static constexpr model_shape shape_constant() { return shape_of<Config>(); }

private:
    static std::string config_name() {
        int status = 0;
        char* demangled = abi::__cxa_demangle(typeid(Config).name(), nullptr, nullptr, &status);
        std::string name = status == 0 && demangled ? demangled : typeid(Config).name();
        std::free(demangled);
        return name;
    }
};

using Flash = model<FlashConfig>;
using Pro = model<ProConfig>;

}  // namespace dsv4
