// A test fixture over one random checkpoint of a config, written once per test suite.
#pragma once

#include <dsv4/config/config.hpp>
#include <dsv4/io/random_checkpoint.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace dsv4::testing {

template <class Config, uint64_t Seed>
class random_checkpoint_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new temp_dir();
        write_random_checkpoint(dir(), shape_of<Config>(), Seed);
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    static std::string dir() { return dir_->path().string(); }
    // n token ids below the config's vocabulary, from `seed`
    static std::vector<int32_t> tokens(size_t n, uint64_t seed) {
        std::mt19937_64 rng(seed);
        std::vector<int32_t> t(n);
        for (auto& x : t) x = int32_t(rng() % uint64_t(Config::vocab_size));
        return t;
    }
    static inline temp_dir* dir_ = nullptr;
};

}  // namespace dsv4::testing
