// nearest_name: the suggestion behind "did you mean" in messages.
#include <convnet/core/error.h>

#include <algorithm>

namespace convnet {

namespace {

// Edits (insertions, deletions, substitutions) that turn `a` into `b`.
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> previous(b.size() + 1), current(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(previous, current);
    }
    return previous[b.size()];
}

}  // namespace

std::string nearest_name(const std::string& word, const std::vector<std::string>& names) {
    std::string best;
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (const std::string& known : names) {
        const std::size_t distance = edit_distance(word, known);
        if (distance < best_distance || (known.starts_with(word) && word.size() >= 2 && best.empty())) {
            best = known;
            best_distance = std::min(best_distance, distance);
        }
    }
    return best;
}

}  // namespace convnet
