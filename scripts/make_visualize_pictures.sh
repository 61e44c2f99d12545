#!/usr/bin/env bash
# Makes the pictures of docs/CLI.md and docs/VISUALIZE.md (docs/images/*.png) from convnet1 trained
# as the walk-through of docs/CLI.md trains it. usage: scripts/make_visualize_pictures.sh [BUILD_DIR] [WEIGHTS]
# Without WEIGHTS it trains convnet1 for 3 epochs (about 20 s on 2 cores) into BUILD_DIR.
set -euo pipefail
build=${1:-build}
weights=${2:-$build/convnet1-3epochs.safetensors}
convnet=$build/convnet
out=docs/images
mkdir -p "$out"
if [[ ! -f $weights ]]; then
    "$convnet" train --model models/convnet1.model --data data/fashion-mnist --epochs 3 --schedule cosine:3 --threads 2 --save "$weights"
fi
"$convnet" visualize filters --weights "$weights" -o "$out/filters-conv1.png"
"$convnet" visualize filters --weights "$weights" --per-filter -o "$out/filters-conv1-per-filter.png"
"$convnet" visualize filters --weights "$weights" --layer conv2 -o "$out/filters-conv2.png"
# A 28x28 grey PNG of a shoe: tests/cases/grey8.png.
"$convnet" visualize activations --weights "$weights" --image tests/cases/grey8.png -o "$out/activations.png"
# The photo-like JPEG of docs/CLI.md's walk-through, small; each named kernel on it.
"$build/tests/convnet_write_jpeg" "$out/trousers.jpg" 240 160 rgb
for kernel in edge sobel-x sobel-y blur gaussian sharpen emboss; do
    "$convnet" filter --kernel "$kernel" "$out/trousers.jpg" -o "$out/kernel-$kernel.png"
done
# The explainer page's screenshot (docs/images/explain.png), from the page's self-test, which opens
# a neuron's arithmetic; needs Debian's chromium (make test installs it). Run from a folder of its
# own so that the page names the weights file without a path.
if command -v chromium >/dev/null; then
    page=$(mktemp -d)
    cp "$weights" "$page/convnet1.safetensors"
    (cd "$page" && "$OLDPWD/$convnet" explain --weights convnet1.safetensors --data "$OLDPWD/data/fashion-mnist" -o report.html)
    chromium --headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync \
        --no-first-run --host-resolver-rules="MAP * ~NOTFOUND" --window-size=1200,1000 --screenshot="$out/explain.png" \
        "file://$page/report.html#selftest" 2>/dev/null
    rm -rf "$page"
fi
