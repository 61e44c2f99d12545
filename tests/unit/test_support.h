// Test support shared by the unit tests: checks on the convnet::Error an action throws. Not a
// layer harness (that is layer_harness.h).
#pragma once

#include <convnet/error.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <string>

namespace convnet::testing {

// Runs `action`, expecting a convnet::Error whose message contains every one of `parts`.
template <typename Action>
void expect_error(Action action, std::initializer_list<std::string> parts) {
    try {
        action();
        ADD_FAILURE() << "no error thrown; expected one mentioning " << *parts.begin();
    } catch (const Error& error) {
        for (const std::string& part : parts)
            EXPECT_NE(std::string(error.what()).find(part), std::string::npos) << "message: " << error.what() << "\nmissing: " << part;
    }
}

// Runs `action` and returns the message of the convnet::Error it throws, or "no error".
template <typename Action>
std::string error_message(Action action) {
    try {
        action();
    } catch (const Error& error) {
        return error.what();
    }
    return "no error";
}

// A fixture with a fresh folder per test, named after the test, removed afterwards.
class TemporaryFolderTest : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ = std::filesystem::temp_directory_path() /
                     ("convnet_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(directory_);
        std::filesystem::create_directories(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }
    std::filesystem::path directory_;
};

}  // namespace convnet::testing
