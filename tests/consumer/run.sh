#!/usr/bin/env bash
# Installs the built convnet into a prefix under the build folder, then configures, builds and runs
# tests/consumer against it as a user's project would (CMAKE_PREFIX_PATH and find_package only),
# and builds README.md's C++ example (its one ```cpp block) there too.
# usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
prefix=$build_dir/consumer/prefix
consumer_build=$build_dir/consumer/build
rm -rf "$prefix" "$consumer_build"
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
[[ -f $prefix/lib/cmake/convnet/convnetConfig.cmake && -f $prefix/lib/cmake/convnet/convnetConfigVersion.cmake ]] || {
    echo "FAIL: no package config under $prefix/lib/cmake/convnet"
    exit 1
}
readme_example=$build_dir/consumer/readme_example.cpp
sed -n '/^```cpp$/,/^```$/p' "$source_dir/README.md" | sed '1d;$d' >"$readme_example"
[[ -s $readme_example ]] || { echo "FAIL: README.md has no \`\`\`cpp block"; exit 1; }
# A fresh configure that knows only the prefix: nothing of the source tree's include paths.
cmake -S "$source_dir/tests/consumer" -B "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DREADME_EXAMPLE="$readme_example" >"$build_dir/consumer/configure.log" 2>&1 ||
    { cat "$build_dir/consumer/configure.log"; exit 1; }
cmake --build "$consumer_build" >"$build_dir/consumer/build.log" 2>&1 || { cat "$build_dir/consumer/build.log"; exit 1; }
"$consumer_build/consumer" "$source_dir/models/convnet1.model"
