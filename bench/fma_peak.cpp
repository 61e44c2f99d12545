// `fma_peak`: the machine's measured single-precision FMA peak, on one core and on T threads: a
// loop of independent vector FMAs (AVX-512 where the CPU has it, else AVX2), no memory traffic.
// GFLOP/s = 2 × FMAs × lanes / s. Prints one JSON line. The ceiling a kernel can approach, not
// a prediction of what one will reach.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

// Enough independent accumulators to cover FMA latency (4-5 cycles) times two FMA pipes, and few
// enough to stay in registers with the two constants: AVX-512 has 32 vector registers, AVX2 16
// (16 AVX2 accumulators spilled, and the loop measured half the AVX2 peak).
constexpr int kAccumulators = 16, kAvx2Accumulators = 12;

// Returns a value that depends on every accumulator so the loop cannot be removed.
__attribute__((target("avx512f"))) float fma_loop_avx512(long long iterations) {
    __m512 accumulators[kAccumulators];
    for (int i = 0; i < kAccumulators; ++i) accumulators[i] = _mm512_set1_ps(1.0f + 1e-3f * float(i));
    const __m512 multiplier = _mm512_set1_ps(0.999999f), addend = _mm512_set1_ps(1e-7f);
    for (long long n = 0; n < iterations; ++n) {
#pragma GCC unroll 16
        for (int i = 0; i < kAccumulators; ++i) accumulators[i] = _mm512_fmadd_ps(accumulators[i], multiplier, addend);
    }
    alignas(64) float lanes[16];
    __m512 sum = accumulators[0];
    for (int i = 1; i < kAccumulators; ++i) sum = _mm512_add_ps(sum, accumulators[i]);
    _mm512_store_ps(lanes, sum);  // (not _mm512_reduce_add_ps: GCC 12's header warns in it)
    float total = 0.0f;
    for (float lane : lanes) total += lane;
    return total;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(long long iterations) {
    __m256 accumulators[kAvx2Accumulators];
    for (int i = 0; i < kAvx2Accumulators; ++i) accumulators[i] = _mm256_set1_ps(1.0f + 1e-3f * float(i));
    const __m256 multiplier = _mm256_set1_ps(0.999999f), addend = _mm256_set1_ps(1e-7f);
    for (long long n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
        for (int i = 0; i < kAvx2Accumulators; ++i) accumulators[i] = _mm256_fmadd_ps(accumulators[i], multiplier, addend);
    }
    alignas(32) float lanes[8];
    __m256 sum = accumulators[0];
    for (int i = 1; i < kAvx2Accumulators; ++i) sum = _mm256_add_ps(sum, accumulators[i]);
    _mm256_store_ps(lanes, sum);
    float total = 0.0f;
    for (float lane : lanes) total += lane;
    return total;
}

struct Measurement {
    double gflops = 0.0;
    double seconds = 0.0;
    int threads = 0;  // that ran
};

// Every thread runs the loop; the rate is all threads' FMAs over the slowest thread's time.
// The best of `trials` runs is kept: interference only ever slows a run down.
Measurement measure(int threads, bool avx512, long long iterations, int trials) {
    const int lanes = avx512 ? 16 : 8;
    Measurement best;
    volatile float sink = 0.0f;
    for (int trial = 0; trial < trials; ++trial) {
        const auto start = std::chrono::steady_clock::now();
        float total = 0.0f;
        int team = 0;  // the threads that ran: OMP_THREAD_LIMIT may give fewer than asked for
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
#pragma omp single
            team = omp_get_num_threads();
            total += avx512 ? fma_loop_avx512(iterations) : fma_loop_avx2(iterations);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        sink = sink + total;
        const double flops = 2.0 * double(avx512 ? kAccumulators : kAvx2Accumulators) * double(lanes) * double(iterations) * double(team);
        if (flops / seconds * 1e-9 > best.gflops) best = {flops / seconds * 1e-9, seconds, team};
    }
    return best;
}

constexpr const char* kUsage = R"(usage: fma_peak [--threads T] [--iterations N] [--trials K] [--isa auto|avx2]

The machine's single-precision FMA peak: independent vector FMAs in registers, no memory traffic,
on one core and on T threads; each figure is the best of K trials (a trial that gets the cores
to itself sets it). Prints one JSON line:
  isa              avx512 or avx2: the widest the CPU has, or avx2 with --isa avx2
  lanes            floats per vector: 16 or 8
  accumulators     independent FMA chains per thread
  threads          the threads that ran the second figure: T (default: the processors OpenMP
                   sees), or fewer where OMP_THREAD_LIMIT says so
  gflops_one_core  GFLOP/s on one thread: 2 × FMAs × lanes / seconds / 1e9
  gflops_threads   GFLOP/s on T threads together
  scaling          gflops_threads / gflops_one_core

options:
  --threads T      threads for the second figure (default: all processors; at most 4 a processor)
  --iterations N   loop iterations a trial (default 20,000,000: about 40 ms at 250 GFLOP/s)
  --trials K       trials, best kept (default 20)
  --isa avx2       AVX2's peak on an AVX-512 CPU (make bench BENCH_ISA=avx2); auto: the widest
)";

}  // namespace

int main(int argc, char** argv) {
    int threads = omp_get_num_procs();
    long long iterations = 20'000'000;  // about 40 ms a trial at 250 GFLOP/s per core
    // Many short trials, best kept: on a shared machine some trial gets the cores to itself.
    int trials = 20;
    bool avx2_only = false;  // --isa avx2: AVX2's peak on an AVX-512 CPU (make bench BENCH_ISA=avx2)
    for (int i = 1; i < argc; ++i) {
        const std::string word = argv[i];
        if (word == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        const bool takes_value = word == "--threads" || word == "--iterations" || word == "--trials" || word == "--isa";
        if (!takes_value || i + 1 == argc) {
            std::fprintf(stderr, "fma_peak: %s '%s'; see --help\n", takes_value ? "a value is missing after" : "unexpected argument",
                         word.c_str());
            return 2;
        }
        const std::string value = argv[++i];
        // Whole numbers within bounds: atoi read "abc" as 0 and "1e6" as 1.
        const auto whole = [&](long long low, long long high) -> std::optional<long long> {
            long long number = 0;
            const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
            if (error != std::errc() || end != value.data() + value.size() || number < low || number > high) return std::nullopt;
            return number;
        };
        std::optional<long long> number;
        if (word == "--isa") {
            if (value != "avx2" && value != "auto") {
                std::fprintf(stderr, "fma_peak: --isa %s: expected auto or avx2\n", value.c_str());
                return 2;
            }
            avx2_only = value == "avx2";
            continue;
        }
        if (word == "--threads" && (number = whole(1, 4 * std::max(1, omp_get_num_procs())))) threads = int(*number);
        else if (word == "--iterations" && (number = whole(1, 1'000'000'000'000))) iterations = *number;
        else if (word == "--trials" && (number = whole(1, 10'000))) trials = int(*number);
        else {
            std::fprintf(stderr,
                         "fma_peak: %s %s: expected a whole number (threads 1 to 4 per processor, iterations 1 to 1e12, "
                         "trials 1 to 10000)\n",
                         word.c_str(), value.c_str());
            return 2;
        }
    }
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && !avx2_only;
    const Measurement one = measure(1, avx512, iterations, trials);
    const Measurement all = measure(threads, avx512, iterations, trials);
    std::printf(
        "{\"isa\": \"%s\", \"lanes\": %d, \"accumulators\": %d, \"threads\": %d, \"gflops_one_core\": %.1f, "
        "\"gflops_threads\": %.1f, \"scaling\": %.3f}\n",
        avx512 ? "avx512" : "avx2", avx512 ? 16 : 8, avx512 ? kAccumulators : kAvx2Accumulators, all.threads, one.gflops, all.gflops,
        all.gflops / one.gflops);
    return 0;
}
