#!/usr/bin/env bash
# The last step of docs/CLI.md's walk-through: a model exported by `convnet export` classifies PNGs in ONNX Runtime
# (tests/onnx/classify.js) exactly as `convnet predict` prints them, class names included, from
# the weights file alone. usage: test_classify.sh CONVNET ONNX_HELPER SOURCE_DIR (77: skipped)
set -u
convnet=$1 helper=$2 source_dir=$3
if [[ ! -d $source_dir/tests/onnx/node_modules/onnxruntime-node ]] || ! command -v node >/dev/null; then
    echo "skipped: onnxruntime-node is not installed (make onnx-runtime)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for model in convnet1 cifar-example; do
    "$helper" init "$source_dir/models/$model.model" 3 "$work/$model.safetensors" || exit 1
    "$convnet" export --weights "$work/$model.safetensors" --onnx "$work/$model.onnx" >/dev/null || exit 1
    for image in grey8 colour_swatches_rgb; do
        png=$source_dir/tests/cases/$image.png
        [[ $model == cifar-example ]] && { python3 - "$png" "$work/$image.32.png" <<'PY' || exit 1
import struct, sys, zlib
# The 28x28 test picture padded to the 32x32 of cifar-example, as 8-bit RGB.
data = open(sys.argv[1], "rb").read()
width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
chunks, offset = b"", 8
while offset < len(data):
    length, kind = struct.unpack(">I4s", data[offset:offset + 8])
    chunks += data[offset + 8:offset + 8 + length] if kind == b"IDAT" else b""
    offset += 12 + length
raw, channels = zlib.decompress(chunks), {0: 1, 2: 3}[colour]
stride = width * channels
rows = [bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]) for y in range(height)]
assert all(raw[y * (stride + 1)] == 0 for y in range(height)), "the test PNGs are unfiltered"
out = b"".join(b"\x00" + bytes(v for x in range(32) for v in ((rows[y - 2][(x - 2) * channels:(x - 1) * channels] * (3 // channels))
               if 2 <= x < 30 and 2 <= y < 30 else b"\x00\x00\x00")) for y in range(32))
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(out)) + chunk(b"IEND", b""))
PY
        png=$work/$image.32.png; }
        ours=$("$convnet" predict --weights "$work/$model.safetensors" --data "$source_dir/data/fashion-mnist" "$png" 2>/dev/null)
        theirs=$(node "$source_dir/tests/onnx/classify.js" "$work/$model.onnx" --classes "$source_dir/data/fashion-mnist/classes.txt" "$png")
        if [[ -n $ours && $ours == "$theirs" ]]; then
            echo "ok $model $image: $theirs"
        else
            echo "FAIL $model $image: convnet predict '$ours', ONNX Runtime '$theirs'"
            failed=1
        fi
    done
done
exit $failed
