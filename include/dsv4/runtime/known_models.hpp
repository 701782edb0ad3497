// dsv4/runtime/known_models.hpp — opening any checkpoint folder: the two routes to a model.
//
//   compile-time: dsv4::model<Config>(folder) — the structure is a config type, checked by
//                 static_assert, with constexpr derived figures (dsv4::Flash, dsv4::Pro).
//   run-time:     open_model(folder) — the structure is whatever the folder's config.json
//                 says (io/config_json.hpp shape_from_config), checked by dsv4::validate.
// Both build the same model_core. open_model names the model after a compiled config when
// config.json matches one (the tools print it), and otherwise after the config.json.
#pragma once

#include <functional>
#include <memory>
#include <string>
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
};

template <class Config>
known_config make_known(std::string name) {
    static_assert(check_config<Config>());
    return {std::move(name), shape_of<Config>()};
}

// The config types compiled into this library, by name.
inline const std::vector<known_config>& known_configs() {
    static const std::vector<known_config> all = {
        make_known<FlashConfig>("FlashConfig"),           make_known<ProConfig>("ProConfig"),
        make_known<FlashMiniConfig>("FlashMiniConfig"),   make_known<FlashMiniFp8Config>("FlashMiniFp8Config"),
        make_known<ProMiniConfig>("ProMiniConfig"),       make_known<BenchMiniConfig>("BenchMiniConfig"),
        make_known<ChatTinyConfig>("ChatTinyConfig"),
    };
    return all;
}

// The compiled config a config.json describes, or null.
inline const known_config* find_known_config(const config_document& doc) {
    for (const auto& k : known_configs())
        if (config_differences(doc, k.shape).empty()) return &k;
    return nullptr;
}

// The model structure of a checkpoint folder: a compiled config's name and shape when its
// config.json matches one, else the shape config.json describes, named "config.json".
inline known_config describe_checkpoint(const std::string& folder) {
    const auto doc = read_config_json(folder + "/config.json");
    if (const auto* k = find_known_config(doc)) return *k;
    return {"config.json", shape_from_config(doc)};
}

// Opens any checkpoint folder whose config.json describes a valid V4 shape.
inline std::unique_ptr<model_core> open_model(const std::string& folder, model_options opt = {}) {
    const auto described = describe_checkpoint(folder);
    return std::make_unique<model_core>(described.shape, described.name, folder, opt);
}

}  // namespace dsv4
