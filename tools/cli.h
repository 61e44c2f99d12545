// What the subcommands of the `convnet` tool share: option parsing and the subcommand table.
#pragma once

#include <convnet/model.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace convnet::cli {

// "--name value" options and bare positional words; throws convnet::Error on an unknown option,
// a missing value or a malformed number, naming the option.
class Arguments {
public:
    // `with_value` and `flags` list the option names the subcommand accepts (without dashes).
    Arguments(const std::vector<std::string>& words, const std::vector<std::string>& with_value, const std::vector<std::string>& flags);

    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string text(const std::string& name, const std::string& fallback) const;
    std::string required(const std::string& name) const;
    long long integer(const std::string& name, long long fallback, long long minimum, long long maximum) const;
    double real(const std::string& name, double fallback, double minimum, double maximum) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

// Applies --threads to the library's thread pool; without it, OMP_NUM_THREADS, else the cores that
// other processes leave free (measured over 0.1 s; all of them on a quiet machine). Returns what
// was chosen and why, for the run's header ("1 thread (1.0 of 2 cores busy ...)").
std::string apply_threads(const Arguments& arguments);

// The network of --model with the weights of --weights, on the fast path unless --reference.
std::unique_ptr<Network> load_trained_network(const Arguments& arguments);

int run_train(const std::vector<std::string>& words);
int run_eval(const std::vector<std::string>& words);
int run_predict(const std::vector<std::string>& words);
int run_summary(const std::vector<std::string>& words);

}  // namespace convnet::cli
