#!/usr/bin/env bash
# The image-folder route against the IDX route: Fashion-MNIST written as an image folder of PNGs
# and JPEGs of several sizes, grey and RGB (tests/generators/make_image_folder.cpp), trains convnet1
# with augmentation to the test accuracy the IDX files give, within half a point; the second
# read of the folder comes from the cache.
# usage: test_image_folder_route.sh CONVNET MAKE_IMAGE_FOLDER SOURCE_DIR   (77: skipped, no data)
set -u
convnet=$1 make_folder=$2 source_dir=$3
data=$source_dir/data/fashion-mnist
if [[ ! -f $data/train-images-idx3-ubyte.gz ]]; then
    echo "skipped: no Fashion-MNIST in $data (make data)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$make_folder" mixed "$data" "$work/folder" >/dev/null || exit 1
recipe=(--model "$source_dir/models/convnet1.model" --epochs 5 --schedule cosine:5 --threads 2 --seed 1 --augment flip,crop:2)
accuracy() { grep -o 'final test accuracy: [0-9.]*' | awk '{print $4}'; }
idx=$("$convnet" train "${recipe[@]}" --data "$data" | accuracy)
folder=$("$convnet" train "${recipe[@]}" --data "$work/folder" --cache "$work/cache" --save "$work/folder.safetensors" | accuracy)
# eval reads the test split from the cache the training wrote, and agrees with training's last line.
cached=$("$convnet" eval --weights "$work/folder.safetensors" --data "$work/folder" --cache "$work/cache" | grep -o 'test accuracy: [0-9.]*' | awk '{print $3}')
echo "IDX route: $idx, image-folder route: $folder, eval from the cache: $cached (convnet1, 5 epochs, --augment flip,crop:2)"
if [[ -z $idx || -z $folder || $cached != "$folder" || $(ls "$work/cache" | wc -l) -ne 2 ]]; then
    echo "FAIL: a run did not finish"
    exit 1
fi
if awk -v a="$idx" -v b="$folder" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005) }'; then
    echo "ok: within 0.005"
else
    echo "FAIL: the image-folder route is more than 0.005 from the IDX route"
    exit 1
fi
