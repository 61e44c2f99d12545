// libFuzzer's entry point for one target, chosen by CONVNET_FUZZ_TARGET (tests/fuzz/CMakeLists.txt):
// convnet::Error is the expected answer to a bad input; any other exception is reported and aborts,
// which libFuzzer records as a crash with the input that caused it.
#include "fuzz_support.h"

#include <convnet/core/error.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        convnet::fuzz::CONVNET_FUZZ_TARGET(std::string_view(reinterpret_cast<const char*>(data), size));
    } catch (const convnet::Error&) {
        // The reader refused the input: what it should do with a bad file.
    } catch (const std::exception& error) {
        std::fprintf(stderr, "uncaught %s: %s\n", typeid(error).name(), error.what());
        std::abort();
    }
    return 0;
}
