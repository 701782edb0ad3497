// Helpers shared by the tests: temporary folders, error-message matching, golden paths.
#pragma once

#include <dsv4/error.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace dsv4::testing {

inline std::string golden(const std::string& rel) { return std::string(DSV4_TEST_DATA) + "/golden/" + rel; }

// A fresh folder under the build tree, removed at the end of the test.
class temp_dir {
public:
    temp_dir() {
        static std::mt19937_64 rng(std::random_device{}());
        path_ = std::filesystem::path(DSV4_BINARY_DIR) / "test-tmp" / std::to_string(rng());
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace dsv4::testing

// Expects `stmt` to throw dsv4::error whose message contains every given fragment.
#define EXPECT_DSV4_ERROR(stmt, ...)                                                                \
    do {                                                                                            \
        try {                                                                                       \
            stmt;                                                                                   \
            ADD_FAILURE() << "expected dsv4::error from: " #stmt;                                   \
        } catch (const ::dsv4::error& e_) {                                                         \
            const std::string msg_ = e_.what();                                                     \
            for (const char* frag_ : {__VA_ARGS__})                                                 \
                EXPECT_NE(msg_.find(frag_), std::string::npos) << "message: " << msg_ << "\nlacks: " << frag_; \
        }                                                                                           \
    } while (0)
