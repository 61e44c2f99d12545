// Option parsing for the subcommands.
#include "cli.h"

#include <convnet/error.h>
#include <convnet/io.h>
#include <convnet/threads.h>

#include <omp.h>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace convnet::cli {

Arguments::Arguments(const std::vector<std::string>& words, const std::vector<std::string>& with_value,
                     const std::vector<std::string>& flags) {
    auto listed = [](const std::vector<std::string>& names, const std::string& name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    for (std::size_t i = 0; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (word.rfind("--", 0) != 0 || word.size() == 2) {
            positional_.push_back(word);
            continue;
        }
        std::string name = word.substr(2), value;
        if (const std::size_t equals = name.find('='); equals != std::string::npos) {
            value = name.substr(equals + 1);
            name.erase(equals);
        } else if (listed(with_value, name)) {
            if (i + 1 >= words.size()) throw Error("option --" + name + " needs a value");
            value = words[++i];
        }
        if (!listed(with_value, name) && !listed(flags, name)) throw Error("unknown option --" + name + " (see --help)");
        values_[name] = value;
    }
}

std::string Arguments::text(const std::string& name, const std::string& fallback) const {
    auto found = values_.find(name);
    return found == values_.end() ? fallback : found->second;
}

std::string Arguments::required(const std::string& name) const {
    auto found = values_.find(name);
    if (found == values_.end() || found->second.empty()) throw Error("option --" + name + " is required (see --help)");
    return found->second;
}

long long Arguments::integer(const std::string& name, long long fallback, long long minimum, long long maximum) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    long long value = 0;
    const std::string& text = found->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < minimum || value > maximum)
        throw Error("option --" + name + " " + text + ": expected an integer from " + std::to_string(minimum) + " to " +
                    std::to_string(maximum));
    return value;
}

double Arguments::real(const std::string& name, double fallback, double minimum, double maximum) const {
    auto found = values_.find(name);
    if (found == values_.end()) return fallback;
    double value = 0.0;
    const std::string& text = found->second;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < minimum || value > maximum)
        throw Error("option --" + name + " " + text + ": expected a number from " + std::to_string(minimum) + " to " +
                    std::to_string(maximum));
    return value;
}

std::string apply_threads(const Arguments& arguments) {
    if (arguments.has("threads")) {
        const long long threads = arguments.integer("threads", 1, 1, 256);
        omp_set_num_threads(static_cast<int>(threads));
        return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
    }
    // OMP_NUM_THREADS is the user's own choice too, as in PyTorch; OpenMP has applied it already.
    if (const char* variable = std::getenv("OMP_NUM_THREADS"); variable != nullptr && *variable != '\0')
        return std::to_string(omp_get_max_threads()) + " threads (OMP_NUM_THREADS)";
    const CoreUsage usage = measure_core_usage(std::chrono::milliseconds(100));
    const int threads = free_core_count(usage);
    omp_set_num_threads(threads);
    char busy[32];
    std::snprintf(busy, sizeof(busy), "%.1f", usage.busy_cores);
    std::string text = std::to_string(threads) + (threads == 1 ? " thread (" : " threads (") + busy + " of " +
                       std::to_string(usage.usable_cores) + " cores busy with other work; ";
    if (threads < usage.usable_cores) text += "--threads " + std::to_string(usage.usable_cores) + " to use them all, ";
    return text + "--threads " + std::to_string(threads) + " to repeat this run)";
}

std::unique_ptr<Network> load_trained_network(const Arguments& arguments) {
    auto network = std::make_unique<Network>(read_model_file(arguments.required("model")));
    network->set_fast_path(!arguments.has("reference"));
    load_weights(*network, arguments.required("weights"));
    return network;
}

}  // namespace convnet::cli
