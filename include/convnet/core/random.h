// A small seeded random generator whose sequence is the same on every platform and compiler
// (std:: distributions are not), so one seed makes a run repeatable everywhere.
#pragma once

#include <cstdint>

namespace convnet {

class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}

    // splitmix64: passes BigCrush, one add and two multiplies per number.
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, 1) with 24 bits: every value exactly representable as a float.
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
    float uniform(float low, float high) { return low + (high - low) * uniform(); }
    // Uniform integer in [0, bound); the modulo bias is below 2^-40 for any bound we use.
    std::uint64_t below(std::uint64_t bound) { return next() % bound; }

    // The whole state: a generator given it back with set_state draws the same numbers from there
    // on (for checkpoints).
    std::uint64_t state() const { return state_; }
    void set_state(std::uint64_t state) { state_ = state; }

private:
    std::uint64_t state_;
};

}  // namespace convnet
