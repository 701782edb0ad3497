// The model shape of the fuzz_state_file target and its seeds: FlashMiniConfig's layer
// pattern (a sliding-window layer, a CSA layer with an indexer, an HCA layer, one MTP block)
// with entry widths and ratios shrunk so that a saved state is about 2 KB. load_state reads
// only these sizes, and small files let libFuzzer mutate the metadata rather than the floats.
#pragma once

#include <dsv4/config/mini.hpp>

namespace dsv4::fuzz {

inline model_shape tiny_state_shape() {
    model_shape s = shape_of<FlashMiniConfig>();
    s.head_dim = 8;
    s.index_head_dim = 4;
    s.window_size = 4;
    s.compress_ratios = {0, 4, 8, 4};  // the MTP block compresses too, so its entries are checked
    s.set_reference_attention_kinds();  // window, CSA, HCA, CSA
    return s;
}

}  // namespace dsv4::fuzz
