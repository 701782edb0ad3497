// dsv4/train/parameters.hpp — the trainable parameters of a shape: an owned f32 master copy
// of every float tensor of the official list (config/tensor_list.hpp; routed-expert
// matrices one tensor per expert), looked up by the checkpoint's own names
// ("layers.0.attn.wq_a.weight", "layers.1.ffn.experts.3.w2.weight", "layers.0.attn.attn_sink",
// "mtp.0.e_proj.weight"; no ".scale" tensors: every value is the exact logical float).
//
// Each tensor is an xtensor expression (parameters::tensor, an xarray adaptor) over memory
// the parameters own and never move. Why not an xt::xarray: assigning an expression to a
// container (w = w - lr * g) builds a temporary and takes its buffer, so every pointer into
// the old one (a model's views, an optimiser's data()) would dangle; an adaptor copies the
// result into its own memory, and refuses a result of another size.
//
// The hash-routing tables (gate.tid2eid of the hash layers) are integers and frozen
// (docs/spec/TRAINING.md §5): held as xt::xtensor<int32_t, 2>, readable, not parameters.
//
// make_model(p) runs the model on the parameters without a file: the model reads p's
// memory in place (through an in-memory checkpoint, io/checkpoint.hpp), so p must outlive
// it, and a change of p's values (an optimiser step) is what the model's next forward
// computes with.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <dsv4/config/config.hpp>
#include <dsv4/config/tensor_list.hpp>
#include <dsv4/error.hpp>
#include <dsv4/io/checkpoint.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/io/random_checkpoint.hpp>
#include <dsv4/io/safetensors_writer.hpp>
#include <dsv4/io/tensor_names.hpp>
#include <dsv4/io/weight_tensor.hpp>
#include <dsv4/nn/model.hpp>

namespace dsv4::train {

class parameters {
public:
    // One parameter tensor: read it, or change it in place, with xtensor expressions.
    using tensor = xt::xarray_adaptor<xt::xbuffer_adaptor<float*, xt::no_ownership>, xt::layout_type::row_major,
                                      std::vector<size_t>>;

    // Every tensor of `s` allocated and zero; the routing tables too (all expert 0, so a
    // model on them routes every token of a hash layer to expert 0; random() and
    // from_checkpoint() give real tables).
    explicit parameters(const model_shape& s) : shape_(s) {
        if (const auto why = validate(s); !why.empty()) fail("parameters: invalid shape: ", why);
        const int blocks = s.n_blocks();
        first_.assign(size_t(blocks + 1) * tensor_id_count, -1);
        tables_.resize(size_t(blocks));
        size_t offset = 0;
        for_each_tensor(s, [&](const tensor_desc& t) {
            if (t.role == tensor_role::index_table) {
                tables_[size_t(t.block)] = xt::xtensor<int32_t, 2>::from_shape({size_t(t.dims[0]), size_t(t.dims[1])});
                tables_[size_t(t.block)].fill(0);
                return;
            }
            first_[slot(t.id, t.block)] = int32_t(names_.size());
            for (int e = 0; e < t.experts; ++e) {
                const std::string name = tensor_name(s, t, e);
                by_name_.emplace(name, names_.size());
                names_.push_back(name);
                descs_.push_back(t);
                offsets_.push_back(offset);
                offset += aligned_size(size_t(t.numel()));
            }
        });
        memory_.assign(offset, 0.0f);
        bind_tensors();
    }

    parameters(const parameters& o)
        : shape_(o.shape_), names_(o.names_), descs_(o.descs_), offsets_(o.offsets_), by_name_(o.by_name_),
          first_(o.first_), memory_(o.memory_), tables_(o.tables_) {
        bind_tensors();
    }
    parameters(parameters&&) noexcept = default;  // the memory moves with its tensors
    // Values of the same shape are copied into this memory (a model on it stays valid);
    // otherwise the parameters are replaced.
    parameters& operator=(const parameters& o) {
        if (this == &o) return *this;
        if (same_layout(o)) {
            shape_ = o.shape_;
            std::copy(o.memory_.begin(), o.memory_.end(), memory_.begin());
            for (size_t b = 0; b < tables_.size(); ++b)
                std::copy(o.tables_[b].begin(), o.tables_[b].end(), tables_[b].begin());
            return *this;
        }
        parameters copy(o);
        return *this = std::move(copy);
    }
    parameters& operator=(parameters&& o) {
        if (this == &o) return *this;
        if (same_layout(o)) return *this = static_cast<const parameters&>(o);
        shape_ = o.shape_;
        names_ = std::move(o.names_);
        descs_ = std::move(o.descs_);
        offsets_ = std::move(o.offsets_);
        by_name_ = std::move(o.by_name_);
        first_ = std::move(o.first_);
        memory_ = std::move(o.memory_);
        tables_ = std::move(o.tables_);
        bind_tensors();
        o.tensors_.clear();
        return *this;
    }

    // The exact logical values of a checkpoint of shape `s` (F32, BF16, FP8 + scales, FP4 +
    // scales: io/weight_tensor.hpp dequantized). Every tensor of the list must be there with
    // its shape (a dsv4::error names the first that is not); tensors outside the list are
    // not read.
    static parameters from_checkpoint(const checkpoint& ck, const model_shape& s) {
        parameters p(s);
        for_each_tensor(s, [&](const tensor_desc& t) {
            for (int e = 0; e < t.experts; ++e) {
                const std::string name = tensor_name(s, t, e);
                if (t.role == tensor_role::index_table) {
                    const tensor_view& v = ck.at(name);
                    checkpoint::check(v, v.type, std::vector<int64_t>{t.dims[0], t.dims[1]});
                    const auto ids = expert_ids(v, s.n_routed_experts);
                    std::copy(ids.begin(), ids.end(), p.tables_[size_t(t.block)].begin());
                    continue;
                }
                tensor& dst = p[name];
                if (t.rank == 1) assign_checked(ck, name, dst, dequantized<1>(ck, name));
                else assign_checked(ck, name, dst, dequantized<2>(ck, name));
            }
        });
        return p;
    }

    // Random values for a seed, drawn by the rule of random checkpoints (io/random_checkpoint.hpp
    // random_init_of: matrices ±1/sqrt(in), norms 1, ...) in the list's order; tables hold k
    // distinct experts per row. The same seed gives the same parameters.
    static parameters random(const model_shape& s, uint64_t seed) {
        parameters p(s);
        std::mt19937_64 rng(seed);
        for_each_tensor(s, [&](const tensor_desc& t) {
            if (t.role == tensor_role::index_table) {
                fill_random_expert_table(p.tables_[size_t(t.block)].data(), t.dims[0], t.dims[1], s.n_routed_experts, rng);
                return;
            }
            const random_init init = random_init_of(t);
            for (int e = 0; e < t.experts; ++e) fill_random(std::span<float>(p.data(t.id, t.block, e), size_t(t.numel())), init, rng);
        });
        return p;
    }

    // Storage of the same names and layout, all zero (gradients, optimiser moments); the
    // routing tables are p's (frozen, so the result is also a valid parameter set).
    static parameters zeros_like(const parameters& p) {
        parameters z(p.shape_);
        z.tables_ = p.tables_;
        return z;
    }

    // The shape as given (its storage formats say where the values came from; the values
    // are f32 whatever they are).
    const model_shape& shape() const { return shape_; }
    // The float tensors' names in the official order (experts in index order).
    const std::vector<std::string>& names() const { return names_; }
    bool contains(const std::string& name) const { return by_name_.count(name) != 0; }

    // A float tensor by name. Assignments write into the parameters' memory; one of another
    // size throws (xtensor's "not resizable").
    tensor& operator[](const std::string& name) { return tensors_[index_of(name)]; }
    const tensor& operator[](const std::string& name) const { return tensors_[index_of(name)]; }
    // What a named float tensor is (kind, role, logical shape, block).
    const tensor_desc& desc(const std::string& name) const { return descs_[index_of(name)]; }

    // Fast access for training code: tensor `id` of `block` (-1 outside the blocks, a layer
    // index, or n_layers + m for MTP block m: tensor_desc::block) and `expert` (the index for
    // expert_w1/2/3, else 0). A tensor the shape does not have is a dsv4::error naming it.
    // The pointers stay valid for the parameters' life.
    float* data(tensor_id id, int block = -1, int expert = 0) { return memory_.data() + offsets_[index_of(id, block, expert)]; }
    const float* data(tensor_id id, int block = -1, int expert = 0) const {
        return memory_.data() + offsets_[index_of(id, block, expert)];
    }
    // Elements of tensor `id` of `block` (of one expert for the expert matrices).
    size_t numel(tensor_id id, int block = -1) const { return size_t(descs_[index_of(id, block, 0)].numel()); }

    // The routing table [vocab, k] of a hash-routed block; nullptr for a score-routed one.
    const int32_t* tid2eid(int block) const {
        check_block(block, tensor_id::gate_tid2eid);
        if (block < 0) fail("parameters: block -1 (outside the blocks) has no routing table");
        const auto& t = tables_[size_t(block)];
        return t.size() == 0 ? nullptr : t.data();
    }
    // The same table as an xtensor (a dsv4::error for a score-routed block).
    const xt::xtensor<int32_t, 2>& tid2eid_table(int block) const {
        if (!tid2eid(block))
            fail("parameters: ", block_prefix(block), " is score-routed and has no '", tensor_path(tensor_id::gate_tid2eid), "'");
        return tables_[size_t(block)];
    }

    // Whether training computes a gradient for tensors of this kind: not for the router
    // bias (set by the auxiliary-loss-free rule) nor the hash tables (frozen); TRAINING.md §5.
    static bool trained_by_gradient(tensor_id id) { return id != tensor_id::gate_bias && id != tensor_id::gate_tid2eid; }

    // A checkpoint folder dsv4::open_model and model<Config> load: model.safetensors with every
    // float tensor in F32 and the routing tables in I64 (as released), under the official
    // names, and config.json of the shape with f32 storage. Each file is written whole or not
    // at all; the file image is built in memory (about twice the parameters' bytes).
    void save(const std::string& folder) const {
        std::filesystem::create_directories(folder);
        std::vector<tensor_to_write> out;
        out.reserve(names_.size() + tables_.size());
        for (size_t i = 0; i < names_.size(); ++i) {
            const tensor& v = tensors_[i];
            tensor_to_write t{names_[i], dtype::f32, {v.shape().begin(), v.shape().end()},
                              std::vector<std::byte>(v.size() * sizeof(float))};
            std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
            out.push_back(std::move(t));
        }
        for_each_table([&](const std::string& name, const xt::xtensor<int32_t, 2>& table) {
            out.push_back(tensor_to_write::from(name, dtype::i64, {int64_t(table.shape(0)), int64_t(table.shape(1))},
                                                std::vector<int64_t>(table.begin(), table.end())));
        });
        write_safetensors((std::filesystem::path(folder) / "model.safetensors").string(), std::move(out),
                          {{"format", "pt"}, {"generator", "dsv4 train::parameters"}});
        const std::string text = config_json_of(f32_shape()).dump(2);
        const auto* bytes = reinterpret_cast<const std::byte*>(text.data());
        write_file_atomically((std::filesystem::path(folder) / "config.json").string(),
                              std::vector<std::byte>(bytes, bytes + text.size()));
    }

    // An in-memory checkpoint over these parameters (F32 tensors and I32 tables, official
    // names) for model_core; it reads this memory, which must outlive it.
    std::unique_ptr<checkpoint> as_checkpoint() const {
        std::vector<tensor_view> views;
        views.reserve(names_.size() + tables_.size());
        auto view = [&](const std::string& name, dtype type, std::vector<int64_t> shape, const void* data, size_t bytes) {
            views.push_back(tensor_view{name, type, std::move(shape), static_cast<const std::byte*>(data), bytes, {}});
        };
        for (size_t i = 0; i < names_.size(); ++i) {
            const tensor& v = tensors_[i];
            view(names_[i], dtype::f32, {v.shape().begin(), v.shape().end()}, v.data(), v.size() * sizeof(float));
        }
        for_each_table([&](const std::string& name, const xt::xtensor<int32_t, 2>& table) {
            view(name, dtype::i32, {int64_t(table.shape(0)), int64_t(table.shape(1))}, table.data(),
                 table.size() * sizeof(int32_t));
        });
        return checkpoint::in_memory("train::parameters", std::move(views));
    }

    // The shape with f32 storage: what a model on these values, or their saved folder, is.
    model_shape f32_shape() const {
        model_shape s = shape_;
        s.dense_format = weight_format::f32;
        s.expert_format = weight_format::f32;
        return s;
    }

private:
    // Each tensor starts on a 64-byte boundary, as a fresh SIMD buffer would.
    static constexpr size_t alignment_floats = 16;
    static size_t aligned_size(size_t n) { return (n + alignment_floats - 1) / alignment_floats * alignment_floats; }

    // The xtensor adaptors over memory_, one per float tensor.
    void bind_tensors() {
        tensors_.clear();
        tensors_.reserve(names_.size());
        for (size_t i = 0; i < names_.size(); ++i) {
            const tensor_desc& t = descs_[i];
            const size_t n = size_t(t.numel());
            tensors_.emplace_back(xt::xbuffer_adaptor<float*, xt::no_ownership>(memory_.data() + offsets_[i], n),
                                  std::vector<size_t>(t.dims.begin(), t.dims.begin() + t.rank));
        }
    }

    // f(name, table) for each routing table, in the list's order.
    template <class F>
    void for_each_table(F&& f) const {
        for_each_tensor(shape_, [&](const tensor_desc& t) {
            if (t.role == tensor_role::index_table) f(tensor_name(shape_, t), tables_[size_t(t.block)]);
        });
    }

    bool same_layout(const parameters& o) const {
        return fingerprint(shape_) == fingerprint(o.shape_) && memory_.size() == o.memory_.size();
    }

    size_t slot(tensor_id id, int block) const { return size_t(block + 1) * tensor_id_count + size_t(id); }

    std::string block_prefix(int block) const {
        if (block < 0) return "outside the blocks";
        return block >= shape_.n_layers ? "mtp." + std::to_string(block - shape_.n_layers) : "layers." + std::to_string(block);
    }

    void check_block(int block, tensor_id id) const {
        if (block < -1 || block >= shape_.n_blocks())
            fail("parameters: block ", block, " of tensor '", tensor_path(id), "' is outside [-1, ", shape_.n_blocks(),
                 ") (-1: outside the blocks; n_layers + m: MTP block m)");
    }

    size_t index_of(const std::string& name) const {
        const auto it = by_name_.find(name);
        if (it != by_name_.end()) return it->second;
        if (name.ends_with(tensor_path(tensor_id::gate_tid2eid)))
            fail("parameters: '", name, "' is a frozen integer routing table, not a float parameter (tid2eid(block))");
        fail("parameters: no float tensor '", name, "' in this shape");
    }

    size_t index_of(tensor_id id, int block, int expert) const {
        check_block(block, id);
        const tensor_desc probe{id, tensor_role::linear, 1, {}, block, 1};
        if (id == tensor_id::gate_tid2eid)
            fail("parameters: '", tensor_base_name(shape_, probe), "' is a frozen integer routing table (tid2eid(block))");
        const int32_t first = first_[slot(id, block)];
        if (first < 0) fail("parameters: the shape has no tensor '", tensor_base_name(shape_, probe, expert), "'");
        const int copies = descs_[size_t(first)].experts;
        if (expert < 0 || expert >= copies)
            fail("parameters: expert ", expert, " of '", tensor_base_name(shape_, probe, expert), "' is outside [0, ", copies, ")");
        return size_t(first + expert);
    }

    // dst = src after checking src has dst's (the list's) shape.
    template <class Src>
    static void assign_checked(const checkpoint& ck, const std::string& name, tensor& dst, const Src& src) {
        if (!std::equal(src.shape().begin(), src.shape().end(), dst.shape().begin(), dst.shape().end())) {
            auto str = [](const auto& sh) {
                std::string s = "[";
                for (size_t i = 0; i < sh.size(); ++i) s += (i ? ", " : "") + std::to_string(sh[i]);
                return s + "]";
            };
            fail(ck.folder(), ": tensor '", name, "' has shape ", str(src.shape()), ", expected ", str(dst.shape()));
        }
        std::copy(src.data(), src.data() + src.size(), dst.data());
    }

    model_shape shape_;
    std::vector<std::string> names_;                   // float tensors, official order
    std::vector<tensor_desc> descs_;                   // of each float tensor
    std::vector<size_t> offsets_;                      // of each float tensor in memory_
    std::unordered_map<std::string, size_t> by_name_;  // name -> index
    std::vector<int32_t> first_;                       // (block + 1, id) -> index of its first copy, or -1
    std::vector<float, xsimd::aligned_allocator<float, 64>> memory_;  // every float tensor
    std::vector<xt::xtensor<int32_t, 2>> tables_;      // per block: tid2eid (empty when score-routed)
    std::vector<tensor> tensors_;                      // of each float tensor, over memory_
};

// A model that runs on the parameters without a file: f32 weights (the shape's storage
// formats set to f32), read in place from p's memory. p must outlive the model (assigning
// parameters of the same shape to p copies values into that memory and keeps the model
// valid); a change of p's values is what the next forward computes with (sequence states
// already filled keep what earlier weights computed).
inline std::unique_ptr<model_core> make_model(const parameters& p, model_options opt = {}) {
    return std::make_unique<model_core>(p.f32_shape(), "train::parameters", p.as_checkpoint(), opt);
}

}  // namespace dsv4::train
