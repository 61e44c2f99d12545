// The floors of the library (docs/DESIGN.md, "Layout"): src/ and include/convnet/ are split into
// parts, each including only itself and the parts below it, and the CLI (tools/) sits on top of
// the public headers. These tests read every #include and fail naming the file and the line.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace convnet::testing {
namespace {

namespace fs = std::filesystem;

// Bottom to top. A part may include the parts before it in this list, and itself.
constexpr std::array<const char*, 8> kFloors = {"core", "kernels", "data", "nn", "engine", "io", "train", "inspect"};
constexpr int kTop = static_cast<int>(kFloors.size());  // tools/ and the umbrella header: anything public

const fs::path kRoot = CONVNET_SOURCE_DIR;

std::string floors_text() {
    std::string text;
    for (const char* floor : kFloors) text += (text.empty() ? "" : " → ") + std::string(floor);
    return text;
}

std::optional<int> floor_index(const std::string& name) {
    for (std::size_t i = 0; i < kFloors.size(); ++i)
        if (name == kFloors[i]) return static_cast<int>(i);
    return std::nullopt;
}

// The part a file belongs to, from its path relative to the root: src/<part>/..., include/convnet/<part>/...;
// tools/ and include/convnet/convnet.h are the top; nullopt for a file outside every part.
std::optional<int> floor_of(const fs::path& relative) {
    auto part = relative.begin();
    if (*part == "tools") return kTop;
    if (*part == "include") {
        ++part;  // convnet
        if (relative == "include/convnet/convnet.h") return kTop;
    }
    ++part;
    if (part == relative.end() || std::next(part) == relative.end()) return std::nullopt;  // a loose file
    return floor_index(part->string());
}

std::string relative_text(const fs::path& path) { return fs::relative(path, kRoot).generic_string(); }

std::vector<fs::path> sources_under(const fs::path& folder) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(kRoot / folder))
        if (entry.is_regular_file() && (entry.path().extension() == ".h" || entry.path().extension() == ".cpp"))
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

struct Include {
    int line;
    bool quoted;         // "..." (a private header, relative to the file) or <...>
    std::string target;  // as written
};

std::vector<Include> includes_of(const fs::path& file) {
    static const std::regex pattern(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
    std::vector<Include> includes;
    std::ifstream stream(file);
    std::string text;
    for (int line = 1; std::getline(stream, text); ++line) {
        std::smatch match;
        if (std::regex_search(text, match, pattern)) includes.push_back({line, match[1] == "\"", match[2]});
    }
    return includes;
}

// What each include of `file` (in a part of index `own`) reaches, and whether it may.
std::vector<std::string> violations_in(const fs::path& file, int own) {
    std::vector<std::string> found;
    const std::string where = relative_text(file);
    const bool in_public_header = where.starts_with("include/");
    for (const Include& include : includes_of(file)) {
        const std::string place = where + ":" + std::to_string(include.line) + ": ";
        std::optional<int> target;
        if (include.quoted) {
            const fs::path resolved = fs::weakly_canonical(file.parent_path() / include.target);
            const std::string relative = relative_text(resolved);
            if (in_public_header) {
                found.push_back(place + "a public header includes \"" + include.target + "\": an installed header cannot reach src/");
                continue;
            }
            if (!relative.starts_with("src/")) continue;  // tools/cli.h and the like
            if (own == kTop) {
                found.push_back(place + "the CLI includes the library's private header " + relative +
                                ": use a public header of include/convnet/ (the CLI is a client of the library)");
                continue;
            }
            target = floor_of(relative);
        } else if (include.target.starts_with("convnet/")) {
            target = floor_of("include/" + include.target);
            if (!target && include.target != "convnet/convnet.h") {
                found.push_back(place + "<" + include.target + "> is outside every part");
                continue;
            }
        } else {
            continue;  // the standard library and the dependencies
        }
        if (target && *target > own)
            found.push_back(place + std::string(own == kTop ? "top" : kFloors[own]) + " includes " + kFloors[*target] + " (" +
                            include.target + "); a part may include only itself and the parts below it: " + floors_text());
    }
    return found;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    return text;
}

TEST(Layering, EveryLibraryFileIsInAPart) {
    std::vector<std::string> loose;
    for (const char* folder : {"src", "include/convnet"})
        for (const fs::path& file : sources_under(folder))
            if (!floor_of(fs::relative(file, kRoot)))
                loose.push_back(relative_text(file) + ": outside the parts; move it into one of " + floors_text());
    EXPECT_TRUE(loose.empty()) << joined(loose);
}

TEST(Layering, EveryIncludeReachesOnlyTheSamePartOrOneBelow) {
    std::vector<std::string> found;
    std::size_t files = 0;
    for (const char* folder : {"src", "include/convnet", "tools"})
        for (const fs::path& file : sources_under(folder)) {
            const std::optional<int> own = floor_of(fs::relative(file, kRoot));
            if (!own) continue;  // reported by EveryLibraryFileIsInAPart
            ++files;
            const std::vector<std::string> here = violations_in(file, *own);
            found.insert(found.end(), here.begin(), here.end());
        }
    EXPECT_GT(files, 150u);  // the walk found the tree
    EXPECT_TRUE(found.empty()) << found.size() << " includes against the floors:\n" << joined(found);
}

// The rule itself, on made-up paths: the test above is only as good as these answers.
TEST(Layering, TheRuleKnowsUpFromDown) {
    EXPECT_EQ(floor_of("src/nn/network.cpp"), floor_index("nn"));
    EXPECT_EQ(floor_of("include/convnet/core/tensor.h"), floor_index("core"));
    EXPECT_EQ(floor_of("src/engine/onednn/stage.h"), floor_index("engine"));
    EXPECT_EQ(floor_of("tools/train.cpp"), kTop);
    EXPECT_EQ(floor_of("include/convnet/convnet.h"), kTop);
    EXPECT_FALSE(floor_of("src/model.cpp"));          // loose
    EXPECT_FALSE(floor_of("src/widgets/thing.cpp"));  // not a part
    EXPECT_LT(*floor_index("core"), *floor_index("inspect"));
}

// The CLI parses, calls the library and prints: a function of tools/ that grows past 80 lines is
// holding library policy (docs/DESIGN.md, "Layout"). A function is counted from its signature,
// written from the first column and ending in "{", to the "}" in the first column that closes it.
TEST(Layering, NoFunctionOfTheCliIsLongerThan80Lines) {
    constexpr int kLongest = 80;
    static const std::regex signature(R"(^[A-Za-z][^;]*\)( const)? \{$)");
    std::vector<std::string> long_functions;
    std::size_t functions = 0;
    for (const fs::path& file : sources_under("tools")) {
        if (file.extension() != ".cpp" || relative_text(file).starts_with("tools/generators/")) continue;
        std::ifstream stream(file);
        std::string text, name;
        int start = 0;
        for (int line = 1; std::getline(stream, text); ++line) {
            if (name.empty() && std::regex_search(text, signature)) {
                name = text.substr(0, text.find('('));
                start = line;
            } else if (!name.empty() && text == "}") {
                ++functions;
                if (line - start + 1 > kLongest)
                    long_functions.push_back(relative_text(file) + ":" + std::to_string(start) + ": " + name + " is " +
                                             std::to_string(line - start + 1) + " lines: move its policy into the library");
                name.clear();
            }
        }
    }
    EXPECT_GT(functions, 50u);  // the scan found the CLI's functions
    EXPECT_TRUE(long_functions.empty()) << joined(long_functions);
}

// The umbrella header brings every public header, so that a consumer includes one file.
TEST(Layering, TheUmbrellaHeaderIncludesEveryPublicHeader) {
    const fs::path umbrella = kRoot / "include/convnet/convnet.h";
    ASSERT_TRUE(fs::exists(umbrella)) << "include/convnet/convnet.h is missing";
    std::vector<std::string> included;
    for (const Include& include : includes_of(umbrella)) included.push_back(include.target);
    std::vector<std::string> missing;
    for (const fs::path& header : sources_under("include/convnet")) {
        const std::string name = fs::relative(header, kRoot / "include").generic_string();
        if (name != "convnet/convnet.h" && std::find(included.begin(), included.end(), name) == included.end())
            missing.push_back("include/convnet/convnet.h: add #include <" + name + ">");
    }
    EXPECT_TRUE(missing.empty()) << joined(missing);
}

}  // namespace
}  // namespace convnet::testing
