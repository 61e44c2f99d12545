#!/usr/bin/env bash
# Segmentation end to end on a tiny generated set (make-m2nist: 60 train, 12 test canvases), with
# the small models/unet-m2nist.model, in about 20 s:
#  1. train with the options segmentation shares with classification (--normalize auto, --augment,
#     --class-weights auto, --metrics, --plot, --checkpoint): the metrics carry the pixel accuracy
#     and the mean IoU, the plot draws the mIoU line;
#  2. a run stopped after epoch 1 and resumed ends with the weights of an unbroken run, byte for byte;
#  3. eval agrees with training's last line and prints per-class IoU; --confusion counts pixels;
#  4. predict writes a palette PNG, an overlay and, for a test image, the comparison; --json; an
#     image of another size (a fully convolutional model, padded to its stride);
#  5. export --onnx and explain run on the result;
#  6. bad masks are refused by name with exit code 1 and nothing written;
#  7. with mpirun, two ranks (--distributed) train and report the same figures' fields.
# usage: test_segment.sh CONVNET MAKE_M2NIST SOURCE_DIR   (77: skipped, no MNIST)
set -u
convnet=$1 make_m2nist=$2 source_dir=$3
if [[ ! -f $source_dir/data/mnist/train-images-idx3-ubyte.gz && ! -f $source_dir/data/mnist/train-images-idx3-ubyte ]]; then
    echo "skipped: no MNIST in $source_dir/data/mnist (make data)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
check() {  # check DESCRIPTION COMMAND...: runs the command, reports
    local what=$1
    shift
    if "$@"; then echo "ok $what"; else echo "FAIL $what"; failed=1; fi
}
"$make_m2nist" --mnist "$source_dir/data/mnist" --out "$work/m2" --train 60 --test 12 >/dev/null || exit 1
model=$source_dir/models/unet-m2nist.model
recipe=(--model "$model" --data "$work/m2" --batch 20 --lr 0.01 --seed 3 --threads 1 --cache none --normalize auto
        --augment flip,crop:2 --class-weights auto)

# 1. Training, with everything written.
"$convnet" train "${recipe[@]}" --epochs 2 --save "$work/w.safetensors" --metrics "$work/m.jsonl" --plot "$work/curves.svg" \
    --checkpoint "$work/c.safetensors" >"$work/train.out" 2>&1 || { cat "$work/train.out"; exit 1; }
check "train reports mIoU" grep -q '^final test mIoU: [0-9.]*$' "$work/train.out"
check "metrics carry test_miou and pixel accuracies" grep -q '"train_pixel_accuracy".*"test_pixel_accuracy".*"test_miou"' "$work/m.jsonl"
check "plot draws the mIoU" grep -q 'test mIoU' "$work/curves.svg"

# 2. Resume: one epoch, then the second from the checkpoint, against the unbroken run.
"$convnet" train "${recipe[@]}" --epochs 1 --checkpoint "$work/c1.safetensors" >/dev/null 2>&1 || exit 1
"$convnet" train --resume "$work/c1.safetensors" --data "$work/m2" --epochs 2 --threads 1 --cache none --save "$work/resumed.safetensors" \
    >/dev/null 2>&1 || exit 1
check "resumed run ends with the unbroken run's weights" cmp -s "$work/w.safetensors" "$work/resumed.safetensors"

# 3. eval.
"$convnet" eval --weights "$work/w.safetensors" --data "$work/m2" --cache none --confusion "$work/confusion.svg" >"$work/eval.out" 2>&1 || {
    cat "$work/eval.out"; exit 1; }
trained=$(grep -o '^final test mIoU: [0-9.]*' "$work/train.out" | awk '{print $4}')
evaluated=$(grep -o '^test mIoU: [0-9.]*' "$work/eval.out" | awk '{print $3}')
check "eval's mIoU ($evaluated) is training's ($trained)" test "$trained" = "$evaluated"
rows=$(sed "/^confusion matrix/q" "$work/eval.out" | grep -cE "^(background|[0-9]) +([0-9.]+|absent) ")
check "eval lists every class's IoU ($rows rows)" test "$rows" -eq 11
check "eval's confusion counts pixels" grep -q 'pixels, pixel accuracy' "$work/confusion.svg"

# 4. predict.
"$convnet" predict --weights "$work/w.safetensors" --data "$work/m2" --cache none --index 0,1 -o "$work/pred" >"$work/predict.out" 2>&1 || {
    cat "$work/predict.out"; exit 1; }
check "predict writes maps, overlays and comparisons" test -s "$work/pred/test-0.classes.png" -a -s "$work/pred/test-1.overlay.png" \
    -a -s "$work/pred/test-1.compare.png"
check "predict prints shares" grep -q '^test image 0: background [0-9.]*%' "$work/predict.out"
# A 48x100 image (not the model's 64x84): run at its own size, padded to a multiple of 4.
python3 - "$work/odd.png" <<'PY' || exit 1
import struct, sys, zlib
width, height = 100, 48
rows = b"".join(b"\x00" + bytes((255 if 20 <= x < 24 and 10 <= y < 38 else 0) for x in range(width)) for y in range(height))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
"$convnet" predict --weights "$work/w.safetensors" "$work/odd.png" --json -o "$work/pred" >"$work/odd.json" 2>&1 || { cat "$work/odd.json"; exit 1; }
check "predict --json of another size" python3 -c "
import json, struct, sys
d = json.load(open(sys.argv[1])); i = d['images'][0]
assert d['task'] == 'segment' and i['width'] == 100 and i['height'] == 48, d
assert abs(sum(s['share'] for s in i['shares']) - 1) < 1e-9, i['shares']
png = open(i['classes_png'], 'rb').read()
assert struct.unpack('>II', png[16:24]) == (100, 48) and png[25] == 3, 'a 100x48 palette PNG'
" "$work/odd.json"

# 5. export and explain.
check "export --onnx" "$convnet" export --weights "$work/w.safetensors" --onnx "$work/unet.onnx"
check "explain" "$convnet" explain --weights "$work/w.safetensors" --data "$work/m2" --cache none --index 0 -o "$work/page.html"

# 6. A colour mask, and a value that is no class: refused by name, exit code 1, no weights written.
cp -r "$work/m2" "$work/bad"
cp "$work/odd.png" "$work/bad/train/masks/00003.png"
"$convnet" train "${recipe[@]/$work\/m2/$work/bad}" --data "$work/bad" --epochs 1 --save "$work/bad.safetensors" >"$work/bad.out" 2>&1
code=$?
check "a mask of another size is refused (exit $code)" test $code -eq 1
check "the message names the mask" grep -q "train/masks/00003.png: the mask is 100x48" "$work/bad.out"
check "nothing written" test ! -e "$work/bad.safetensors"

# 7. Two ranks.
if command -v mpirun >/dev/null && "$convnet" train --help | grep -q -- --distributed; then
    mpirun --allow-run-as-root --oversubscribe -np 2 "$convnet" train "${recipe[@]}" --epochs 1 --distributed --metrics "$work/d.jsonl" \
        >"$work/distributed.out" 2>&1
    if grep -q 'needs Open MPI\|built without MPI' "$work/distributed.out"; then
        echo "skipped: distributed (convnet built without MPI)"
    else
        check "two ranks report pixel accuracy and mIoU" grep -q '"test_miou"' "$work/d.jsonl"
    fi
fi
exit $failed
