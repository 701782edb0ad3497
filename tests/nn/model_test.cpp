// model_core's guards: a sequence state belongs to the shape that made it, and the class is
// safe to own and delete through a base pointer.
#include <dsv4/config/mini.hpp>
#include <dsv4/nn/model.hpp>
#include <dsv4/runtime/state_file.hpp>

#include "../support/random_model.hpp"
#include "../support/test_util.hpp"

#include <memory>
#include <type_traits>

namespace {

using dsv4::testing::golden;

// The golden flash-mini's layer count (3 + 1 MTP) with other widths: a state made for one
// has the other's number of layers but not its sizes.
struct same_layer_count_config : dsv4::FlashMiniConfig {
    static constexpr int dim = 32;
    static constexpr int head_dim = 32;
    static constexpr int window_size = 16;
    static constexpr int index_head_dim = 16;
};
static_assert(same_layer_count_config::n_layers == dsv4::FlashMiniConfig::n_layers);

class StateOfAnotherShape : public dsv4::testing::random_checkpoint_test<same_layer_count_config, 3> {};

TEST_F(StateOfAnotherShape, IsRefusedByEveryCall) {
    const dsv4::model<dsv4::FlashMiniConfig> golden_model(golden("flash-mini"), {.threads = 2});
    const dsv4::model<same_layer_count_config> other(dir(), {.threads = 2});
    auto foreign = other.new_sequence(256);
    const std::vector<int32_t> ids = {1, 2, 3};
    other.forward(foreign, ids);
    const auto before = foreign.bytes();
    EXPECT_DSV4_ERROR(golden_model.forward(foreign, ids), "forward", "another model shape");
    const auto hidden = xt::xtensor<float, 3>::from_shape({3, 4, 64});
    EXPECT_DSV4_ERROR(golden_model.mtp_forward(foreign, hidden, ids), "mtp_forward", "another model shape");
    EXPECT_DSV4_ERROR(golden_model.rewind(foreign, 1), "rewind", "another model shape");
    dsv4::testing::temp_dir tmp;
    EXPECT_DSV4_ERROR(dsv4::save_state(foreign, golden_model.shape(), tmp.file("s.safetensors")), "save_state",
                      "another model shape");
    EXPECT_FALSE(std::filesystem::exists(tmp.file("s.safetensors")));
    EXPECT_EQ(foreign.bytes(), before);  // untouched
    EXPECT_EQ(foreign.position(), 3);
    // a default-constructed state belongs to no shape
    dsv4::sequence_state none;
    EXPECT_DSV4_ERROR(golden_model.forward(none, ids), "another model shape");
    // and the model's own sequences still run
    auto own = golden_model.new_sequence(16);
    EXPECT_EQ(golden_model.forward(own, ids).logits.size(), size_t(dsv4::FlashMiniConfig::vocab_size));
}

TEST(Fingerprint, EveryFieldCounts) {
    const auto base = dsv4::shape_of<dsv4::FlashMiniConfig>();
    auto changed = [&](auto edit) {
        auto s = base;
        edit(s);
        return dsv4::fingerprint(s) != dsv4::fingerprint(base);
    };
    EXPECT_TRUE(changed([](auto& s) { s.dim = 65; }));
    EXPECT_TRUE(changed([](auto& s) { s.norm_eps = 1e-5; }));
    EXPECT_TRUE(changed([](auto& s) { s.compress_ratios[1] = 8; }));
    EXPECT_TRUE(changed([](auto& s) { s.attention_kinds[1] = dsv4::attention_kind::hca; }));
    EXPECT_TRUE(changed([](auto& s) { s.shared_expert_clamp = false; }));
    EXPECT_FALSE(changed([](auto& s) { s.expert_format = dsv4::weight_format::bf16; }));  // storage, not structure
    EXPECT_FALSE(changed([](auto& s) { s.compress_ratios[200] = 4; }));  // past the layers: unused
}

// A model owned through its base class is destroyed as what it is.
static_assert(std::has_virtual_destructor_v<dsv4::model_core>);

TEST(ModelCore, DeletedThroughItsBase) {
    std::unique_ptr<dsv4::model_core> m = std::make_unique<dsv4::model<dsv4::FlashMiniConfig>>(golden("flash-mini"));
    EXPECT_EQ(m->shape().n_layers, 3);
    m.reset();
}

}  // namespace

namespace {

// What a user touches comes as xtensor: logits [rows, vocab], streams [S, hc, D], the state's
// rows, the trace's records, and weights by name.
TEST(ModelBoundary, TensorsComeAsXtensor) {
    const dsv4::model<dsv4::FlashMiniConfig> m(golden("flash-mini"), {.threads = 2});
    auto seq = m.new_sequence(64);
    std::vector<int32_t> ids(9);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(7 * i + 1);
    dsv4::nn::trace tr;
    const auto out = m.forward(seq, ids, {.all_logits = true, .keep_hidden = true}, &tr);
    EXPECT_EQ(out.logits.shape(0), 9u);
    EXPECT_EQ(out.logits.shape(1), 256u);
    EXPECT_EQ(out.hidden.shape(0), 9u);
    EXPECT_EQ(out.hidden.shape(1), 4u);
    EXPECT_EQ(out.hidden.shape(2), 64u);
    // the trace's last block output is the streams handed back
    const auto block_out = tr.tensor("layers.2.block_out");
    ASSERT_EQ(block_out.dimension(), 3u);
    EXPECT_EQ(block_out.shape(0), 9u);
    EXPECT_EQ(block_out, out.hidden);
    const auto topk = tr.indices("layers.1.indexer_topk");
    EXPECT_EQ(topk.shape(1), size_t(dsv4::FlashMiniConfig::index_topk));
    EXPECT_EQ(topk(8, 0), 0);   // position 8 sees entries 0 and 1, ascending, -1 padded
    EXPECT_EQ(topk(8, 2), -1);
    EXPECT_DSV4_ERROR(tr.tensor("layers.9.block_out"), "no record named 'layers.9.block_out'");
    // state rows: layer 1 (CSA, ratio 4) holds 9 / 4 = 2 entries of head_dim and 2 indexer keys
    const auto& layer = seq.layers()[1];
    EXPECT_EQ(layer.compressed_entries().shape(0), 2u);
    EXPECT_EQ(layer.compressed_entries().shape(1), 64u);
    EXPECT_EQ(layer.index_key_entries().shape(1), 32u);
    EXPECT_EQ(layer.window_rows().shape(0), 64u);
    EXPECT_EQ(layer.compressed_entries().data(), layer.compressed.data());  // a view, not a copy
    // a weight by its official name, next to the file's own bytes
    const auto wq_a = m.weight<2>("layers.0.attn.wq_a.weight");
    const auto file = dsv4::weight_view<2>(m.weights_file(), "layers.0.attn.wq_a.weight");
    EXPECT_EQ(wq_a.shape(0), 64u);
    EXPECT_EQ(wq_a, file);
}

}  // namespace
