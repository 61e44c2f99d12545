// Several std::threads running one shared Network's evaluation (predict, observe) at once, as
// model.h promises is safe: every thread's logits must equal, bit for bit, those of the same call
// made alone on a twin network. Built on its own (convnet_thread_tests) so that the thread
// sanitizer build (`make sanitize`, docs/RELIABILITY.md) compiles only the library and this file.
#include <convnet/core/random.h>
#include <convnet/core/threads.h>
#include <convnet/nn/network.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace convnet::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 3;  // each thread's calls per batch

// The OpenMP threads every call uses, in every thread (libgomp keeps the count per thread, so the
// workers set it as the main thread does). Under the thread sanitizer, one: libgomp is not
// instrumented, so the sanitizer cannot see its barriers and would report the writes a parallel
// loop makes before one as races with the reads after it.
int openmp_threads() {
#if defined(__SANITIZE_THREAD__)
    return 1;
#else
    return 2;
#endif
}

std::filesystem::path source_path(const std::string& relative) { return std::filesystem::path(CONVNET_SOURCE_DIR) / relative; }

// Batches of 1 to 3 images, values uniform in [-1, 1]; with `poisoned`, the last batch holds a NaN,
// which sends its calls to the reference layers even when the fast path is on (Network::runs_fast).
std::vector<Tensor> make_batches(const Shape& sample, int count, bool poisoned) {
    Random random(11);
    std::vector<Tensor> batches;
    for (int b = 0; b < count; ++b) {
        std::vector<std::int64_t> dims{1 + b % 3};
        dims.insert(dims.end(), sample.dims().begin(), sample.dims().end());
        Tensor& batch = batches.emplace_back(Shape(dims));
        for (std::int64_t i = 0; i < batch.size(); ++i) batch[i] = random.uniform(-1.0f, 1.0f);
    }
    if (poisoned) batches.back()[0] = std::numeric_limits<float>::quiet_NaN();
    return batches;
}

// Bitwise equality (NaN equals NaN when its bits do), with the first difference on failure.
void expect_same_bits(const Tensor& actual, const Tensor& expected, const std::string& what) {
    ASSERT_EQ(actual.shape().dims(), expected.shape().dims()) << what;
    if (std::memcmp(actual.data(), expected.data(), sizeof(float) * static_cast<std::size_t>(expected.size())) == 0) return;
    for (std::int64_t i = 0; i < expected.size(); ++i)
        if (std::memcmp(actual.data() + i, expected.data() + i, sizeof(float)) != 0) {
            ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", alone it is " << expected[i];
            return;
        }
}

struct ConcurrentCase {
    const char* model;  // relative to the source folder
    bool fast_path;     // false: the reference layers
};

std::string case_name(const ::testing::TestParamInfo<ConcurrentCase>& info) {
    std::string name = std::filesystem::path(info.param.model).stem().string() + (info.param.fast_path ? "_fast" : "_reference");
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
}

class ConcurrentPredict : public ::testing::TestWithParam<ConcurrentCase> {};

// The shared network is fresh when the threads start, so its first calls (the fast path's plans,
// the weights brought into its layouts, the scan of the parameters for NaN) race as well.
TEST_P(ConcurrentPredict, EveryThreadGetsTheLogitsOfACallAlone) {
    const ModelSpec spec = read_model_file(source_path(GetParam().model));
    set_thread_count(openmp_threads());
    Network shared(spec), alone(spec);
    shared.initialize(3);
    alone.initialize(3);
    if (!GetParam().fast_path) shared.set_backend("reference");
    if (!GetParam().fast_path) alone.set_backend("reference");
    if (GetParam().fast_path && !alone.fast_path()) GTEST_SKIP() << "no fast path for this model: " << alone.fast_path_unavailable();

    const std::vector<Tensor> batches = make_batches(spec.input, 4, GetParam().fast_path);
    std::vector<Tensor> expected(batches.size()), expected_observed(batches.size());
    for (std::size_t b = 0; b < batches.size(); ++b) {
        alone.predict(batches[b], expected[b]);
        alone.observe(batches[b], expected_observed[b], {});
    }

    // Thread t starts at batch t and goes round them all kRounds times; the odd threads call
    // observe (the reference layers, with an observer) where the even ones call predict.
    std::vector<std::vector<Tensor>> results(kThreads);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            try {
                set_thread_count(openmp_threads());
                for (int r = 0; r < kRounds; ++r)
                    for (std::size_t k = 0; k < batches.size(); ++k) {
                        const Tensor& batch = batches[(static_cast<std::size_t>(t) + k) % batches.size()];
                        Tensor& logits = results[static_cast<std::size_t>(t)].emplace_back();
                        if (t % 2 == 0) shared.predict(batch, logits);
                        else {
                            std::int64_t layers_seen = 0;
                            shared.observe(batch, logits, [&](std::size_t, const LayerPlan&, const Tensor&) { ++layers_seen; });
                            if (layers_seen != static_cast<std::int64_t>(shared.layer_count()))
                                throw std::runtime_error("observer saw " + std::to_string(layers_seen) + " layers");
                        }
                    }
            } catch (const std::exception& error) {
                errors[static_cast<std::size_t>(t)] = error.what();
            }
        });
    for (std::thread& thread : threads) thread.join();

    for (int t = 0; t < kThreads; ++t) {
        ASSERT_EQ(errors[static_cast<std::size_t>(t)], "") << "thread " << t;
        const std::vector<Tensor>& mine = results[static_cast<std::size_t>(t)];
        ASSERT_EQ(mine.size(), kRounds * batches.size());
        for (std::size_t call = 0; call < mine.size(); ++call) {
            const std::size_t b = (static_cast<std::size_t>(t) + call) % batches.size();
            const std::vector<Tensor>& wanted = t % 2 == 0 ? expected : expected_observed;
            expect_same_bits(mine[call], wanted[b],
                             "thread " + std::to_string(t) + (t % 2 == 0 ? " predict" : " observe") + ", call " + std::to_string(call) +
                                 ", batch " + std::to_string(b));
        }
    }
}

// The shipped models and the all-layer graph of the ONNX check, on each backend.
INSTANTIATE_TEST_SUITE_P(
    Models, ConcurrentPredict,
    ::testing::Values(ConcurrentCase{"models/convnet1.model", true}, ConcurrentCase{"models/convnet1.model", false},
                      ConcurrentCase{"models/resnet-fmnist.model", true}, ConcurrentCase{"models/resnet-fmnist.model", false},
                      ConcurrentCase{"models/unet-small.model", true}, ConcurrentCase{"models/unet-small.model", false},
                      ConcurrentCase{"tests/models/all-layers.model", true}, ConcurrentCase{"tests/models/all-layers.model", false}),
    case_name);

}  // namespace
}  // namespace convnet::testing
