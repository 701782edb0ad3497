// dsv4/runtime/known_models.hpp — opening a checkpoint folder whose config is one of the
// configs compiled into this program (the tools pick the model type from config.json).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <dsv4/config/flash.hpp>
#include <dsv4/config/mini.hpp>
#include <dsv4/config/pro.hpp>
#include <dsv4/io/config_json.hpp>
#include <dsv4/nn/model.hpp>

namespace dsv4 {

struct known_config {
    std::string name;
    model_shape shape;
    std::function<std::unique_ptr<model_core>(const std::string&, model_options)> open;
};

template <class Config>
known_config make_known(std::string name) {
    return {std::move(name), shape_of<Config>(),
            [](const std::string& folder, model_options o) { return std::make_unique<model<Config>>(folder, o); }};
}

inline const std::vector<known_config>& known_configs() {
    static const std::vector<known_config> all = {
        make_known<FlashConfig>("FlashConfig"),           make_known<ProConfig>("ProConfig"),
        make_known<FlashMiniConfig>("FlashMiniConfig"),   make_known<FlashMiniFp8Config>("FlashMiniFp8Config"),
        make_known<ProMiniConfig>("ProMiniConfig"),       make_known<BenchMiniConfig>("BenchMiniConfig"),
        make_known<ChatTinyConfig>("ChatTinyConfig"),
    };
    return all;
}

// The compiled config matching `folder`/config.json, or a dsv4::error listing the closest.
inline const known_config& match_known_config(const std::string& folder) {
    const auto doc = read_config_json(folder + "/config.json");
    size_t best = 0, best_diffs = SIZE_MAX;
    for (size_t i = 0; i < known_configs().size(); ++i) {
        const auto diffs = config_differences(doc, known_configs()[i].shape);
        if (diffs.empty()) return known_configs()[i];
        if (diffs.size() < best_diffs) {
            best_diffs = diffs.size();
            best = i;
        }
    }
    std::string names;
    for (const auto& k : known_configs()) names += (names.empty() ? "" : ", ") + k.name;
    try {
        check_config(doc, known_configs()[best].shape, known_configs()[best].name);
    } catch (const error& e) {
        fail(folder, "/config.json matches no compiled config (", names, "); the closest:\n", e.what());
    }
    fail(folder, "/config.json matches no compiled config");
}

inline std::unique_ptr<model_core> open_known_model(const std::string& folder, model_options opt = {}) {
    return match_known_config(folder).open(folder, opt);
}

}  // namespace dsv4
