// Must not compile: a variant with expert width 24 keeps Flash's FP4 experts (the rule
// fp4_expert_widths). tests/CMakeLists.txt checks that the compiler names the rule.
#include <dsv4/config/flash.hpp>
#include <dsv4/nn/model.hpp>

struct forgot_expert_format : dsv4::FlashConfig {
    static constexpr int moe_inter_dim = 24;
};

int main() { return int(sizeof(dsv4::model<forgot_expert_format>)); }
