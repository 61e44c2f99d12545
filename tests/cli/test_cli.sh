#!/usr/bin/env bash
# End-to-end checks of the `convnet` command: bad input gives a clear one-line error and a
# non-zero exit (never a crash), and a tiny train/eval round trip works.
# usage: test_cli.sh CONVNET_BINARY SOURCE_DIR [WRITE_JPEG_BINARY]
# (WRITE_JPEG_BINARY, built from tests/cli/write_jpeg.cpp, writes the photo-like JPEGs of the
# predict tests; without it those tests are skipped with a note.)
set -u
convnet=$1
source_dir=$2
write_jpeg=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect_failure NAME EXPECTED_TEXT COMMAND...: exit code 1 or 2, stderr contains EXPECTED_TEXT.
expect_failure() {
    local name=$1 expected=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local code=$?
    if [[ $code -ne 1 && $code -ne 2 ]] || ! grep -qF -- "$expected" "$work/err"; then
        echo "FAIL $name: exit $code, stderr: $(head -c 400 "$work/err")"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

# expect_usage_error NAME EXPECTED_TEXT COMMAND...: a mistake in the command line: exit code 2.
expect_usage_error() {
    local name=$1 expected=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local code=$?
    if [[ $code -ne 2 ]] || ! grep -qF -- "$expected" "$work/err"; then
        echo "FAIL $name: exit $code (expected 2), stderr: $(head -c 400 "$work/err")"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

expect_success() {
    local name=$1 expected=$2
    shift 2
    if ! "$@" >"$work/out" 2>"$work/err" || ! grep -qF -- "$expected" "$work/out"; then
        echo "FAIL $name: stdout: $(head -c 400 "$work/out") stderr: $(head -c 400 "$work/err")"
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

model=$source_dir/models/convnet1.model
# --version and -V: the project's version (CMakeLists.txt's project(VERSION)) and oneDNN's.
project_version=$(sed -n 's/^project(convnet VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
expect_success "--version" "convnet ${project_version:-(no version in CMakeLists.txt)}" "$convnet" --version
expect_success "-V names oneDNN" "oneDNN " "$convnet" -V
expect_failure "no data" "make data" "$convnet" train --model "$model" --data "$work/nowhere"
expect_failure "no model" "cannot open the model file" "$convnet" train --model "$work/none.model" --data "$work"
printf 'input 1x28x28\nconv2d out=4 kernel=abc\n' >"$work/bad.model"
expect_failure "bad number" "bad.model:2: conv2d: option kernel=abc" "$convnet" train --model "$work/bad.model" --data "$work"
printf 'input 1x28x28\nconvolution out=4 kernel=3\n' >"$work/unknown.model"
expect_failure "unknown layer" "unknown.model:2: unknown layer 'convolution'" "$convnet" train --model "$work/unknown.model" --data "$work"
expect_usage_error "unknown option" "unknown option --epoch (did you mean --epochs?)" "$convnet" train --model "$model" --epoch 3
expect_usage_error "bad epochs" "option --epochs x" "$convnet" train --model "$model" --data "$work" --epochs x
expect_usage_error "single dash" "option -epochs: options take two dashes (did you mean --epochs?)" "$convnet" train --model "$model" -epochs 1 -threads 1
expect_usage_error "stray word" "unexpected argument 'fast'" "$convnet" train --model "$model" --data "$work" fast
expect_usage_error "flag with a value" "option --reference takes no value" "$convnet" eval --model "$model" --reference=yes
expect_usage_error "readable range" "expected a number from 1e-12 to 100" "$convnet" train --model "$model" --data "$work" --lr 0
expect_usage_error "value missing before an option" "option --epochs needs a value" "$convnet" train --model "$model" --data "$work" --epochs --batch 10
expect_usage_error "bad schedule" "option --schedule" "$convnet" train --model "$model" --data "$work" --schedule cosin:3
expect_usage_error "bad optimizer" "option --optimizer adamm" "$convnet" train --model "$model" --data "$work" --optimizer adamm
expect_usage_error "missing option" "option --model is required" "$convnet" train --data "$work"
expect_failure "sizes that overflow" "overflow_wraps_to_zero.model:3: conv2d gives 16777216x1048576x1048576" \
    "$convnet" summary "$source_dir/tests/cases/overflow_wraps_to_zero.model"
expect_failure "training sizes that overflow" "values per image, more than the limit" \
    "$convnet" train --model "$source_dir/tests/cases/overflow_wraps_to_zero.model" --data "$work"
# Larger than any machine, refused before the arena is allocated or the data read: 256 G
# parameters (each layer within the per-layer limit); then 4096 channels at 28x28, ~30 MB an image.
{ printf 'input 1x28x28\nflatten\n'; for _ in $(seq 64); do printf 'linear out=2000000\nlinear out=1000\n'; done; } >"$work/huge.model"
expect_failure "model larger than the machine" "its parameters and the optimiser's state alone do not fit" \
    "$convnet" train --model "$work/huge.model" --data "$work"
printf 'input 1x28x28\nconv2d out=4096 kernel=3 pad=1\nrelu\nflatten\nlinear out=10\n' >"$work/wide.model"
expect_failure "batch larger than the machine" "would fill the memory by this estimate alone (oneDNN's buffers and the data come on top): give less" \
    "$convnet" train --model "$work/wide.model" --data "$work" --batch 65536
expect_failure "file as data" "convnet1.model: is not a folder; expected one of" "$convnet" train --model "$model" --data "$model"
expect_failure "save under a file" "$model is a file, not a folder" "$convnet" train --model "$model" --data "$work" --save "$model/w.bin"
mkfifo "$work/pipe"
expect_failure "save onto a FIFO" "exists and is not a regular file" "$convnet" train --model "$model" --data "$work" --save "$work/pipe"
[[ -p $work/pipe ]] && passed=$((passed + 1)) || { echo "FAIL the FIFO was replaced"; failed=$((failed + 1)); }
expect_usage_error "command typo" "unknown command 'tran' (did you mean train?)" "$convnet" tran
printf 'input 1x28x28\nflatten\nlinear out=8\nbatchnorm1d\nlinear out=10\n' >"$work/bn1d.model"
expect_usage_error "batch too small" "option --batch 1: $work/bn1d.model has a batch norm" "$convnet" train --model "$work/bn1d.model" --data "$work" --batch 1
expect_usage_error "unknown backend" "option --backend cudnn: expected one of onednn, onednn-only, reference" "$convnet" train --model "$model" --data "$work" --backend cudnn
expect_failure "folder as model" "is a folder; expected the model file" "$convnet" train --model "$work" --data "$work"
# Where results go is checked before the data is even read (here there is none).
expect_failure "save into a missing folder" "option --save $work/nowhere/w.bin: the folder $work/nowhere does not exist" \
    "$convnet" train --model "$model" --data "$work/nowhere" --save "$work/nowhere/w.bin"
expect_failure "metrics into a folder" "option --metrics $work: is a folder" "$convnet" train --model "$model" --data "$work/nowhere" --metrics "$work"
expect_usage_error "save and metrics into one file" "options --save and --metrics name the same file" \
    "$convnet" train --model "$model" --data "$work/nowhere" --save "$work/same.out" --metrics "$work/./same.out"
expect_usage_error "save and checkpoint into one relative file" "options --save and --checkpoint name the same file" \
    "$convnet" train --model "$model" --data "$work/nowhere" --save same.out --checkpoint ./same.out
expect_failure "unknown command" "unknown command" "$convnet" fly

# A tiny IDX dataset (20 train, 10 test images of 28x28) written here, then a round trip.
mkdir -p "$work/tiny"
python3 - "$work/tiny" <<'PY'
import gzip, struct, sys, random
random.seed(1)
folder = sys.argv[1]
for prefix, count in (("train", 20), ("t10k", 10)):
    labels = bytes(random.randrange(10) for _ in range(count))
    images = bytes(random.randrange(256) for _ in range(count * 784))
    with gzip.open(f"{folder}/{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, count, 28, 28) + images)
    with gzip.open(f"{folder}/{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, count) + labels)
PY
expect_success "train" "final test accuracy" "$convnet" train --model "$model" --data "$work/tiny" --epochs 2 --batch 5 \
    --save "$work/w.bin" --metrics "$work/m.jsonl"
# The speedrun's options (docs/PERFORMANCE.md): a per-step schedule and label smoothing, named in
# the header; a resumed run keeps them, and refuses to be given them again.
expect_success "train onecycle, label smoothing, ema" "schedule one_cycle pct_start=0.25, label smoothing 0.1, weight average (EMA 0.99), batch 5" \
    "$convnet" train --model "$model" --data "$work/tiny" --epochs 2 --batch 5 --schedule onecycle:0.25 --label-smoothing 0.1 \
    --ema 0.99 --checkpoint "$work/onecycle.checkpoint.safetensors"
expect_success "resume onecycle" "schedule one_cycle pct_start=0.25, label smoothing 0.1, weight average (EMA 0.99)" \
    "$convnet" train --resume "$work/onecycle.checkpoint.safetensors" --data "$work/tiny" --epochs 3
# Its cycle, planned over 8 steps (2 epochs of 4), is laid over 12: the rate jumps, and it says so
# (torch 1.13 OneCycleLR: 0.00025 at step 8 of 12 with max_lr 0.001, pct_start 0.25; the old cycle's last rate
# is 0.001/25/1e4).
if ! grep -qF "warning: --epochs 3 lays the one-cycle schedule over 3 epochs instead of the 2 the run started with: after step 8 the learning rate is 0.00025 where the run's own cycle ended at 4e-09" "$work/err"; then
    echo "FAIL resume onecycle warns of the stretched cycle: stderr: $(head -c 600 "$work/err")"
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi
expect_success "train --tta flip" "schedule constant, test-time flip, batch 5" \
    "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 --tta flip --save "$work/tta.safetensors"
expect_success "eval --tta flip" "test accuracy" "$convnet" eval --weights "$work/tta.safetensors" --data "$work/tiny" --tta flip
expect_usage_error "eval --tta rotate" "option --tta: test-time augmentation 'rotate': expected none or flip" \
    "$convnet" eval --weights "$work/tta.safetensors" --data "$work/tiny" --tta rotate
expect_usage_error "resume with label smoothing" "option --label-smoothing: a resumed run keeps the settings" \
    "$convnet" train --resume "$work/onecycle.checkpoint.safetensors" --data "$work/tiny" --epochs 4 --label-smoothing 0.2
# --eval-every 2 over 3 epochs: epoch 2 evaluated, epoch 1 not, epoch 3 (the last) always.
expect_success "train --eval-every" "epoch 1/3  train loss" \
    "$convnet" train --model "$model" --data "$work/tiny" --epochs 3 --batch 5 --eval-every 2 --metrics "$work/every.jsonl"
if ! grep -q "^epoch 1/3 .*test not evaluated (--eval-every)" "$work/out" || ! grep -q "^epoch 2/3 .*test loss" "$work/out" ||
    ! grep -q "^epoch 3/3 .*test loss" "$work/out" || [[ $(grep -c test_accuracy "$work/every.jsonl") -ne 2 ]]; then
    echo "FAIL train --eval-every: expected epochs 2 and 3 evaluated, 1 not: $(cat "$work/out")"
    failed=$((failed + 1))
fi
# Refused with the other options, before the model and data are read (no header printed).
expect_usage_error "eval every 0" "option --eval-every 0" "$convnet" train --model "$model" --data "$work/tiny" --eval-every 0
if grep -q "parameters" "$work/out"; then
    echo "FAIL eval every 0: refused only after the model and data were read: $(head -c 400 "$work/out")"
    failed=$((failed + 1))
fi
expect_usage_error "ema of 1" "option --ema" "$convnet" train --model "$model" --data "$work/tiny" --ema 1
expect_usage_error "label smoothing of 1" "option --label-smoothing" \
    "$convnet" train --model "$model" --data "$work/tiny" --label-smoothing 1
expect_usage_error "onecycle out of range" "pct_start 1.5, expected a fraction between 0 and 1" \
    "$convnet" train --model "$model" --data "$work/tiny" --schedule onecycle:1.5
# The thread count is printed: as given by --threads or OMP_NUM_THREADS, else as chosen.
expect_success "threads given" ", 1 thread" "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 --threads 1
expect_success "threads from OMP_NUM_THREADS" "2 threads (OMP_NUM_THREADS)" env OMP_NUM_THREADS=2 "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5
expect_success "threads by default" " thread" "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5
expect_usage_error "bad threads" "option --threads 0" "$convnet" train --model "$model" --data "$work/tiny" --threads 0
"$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 --threads 64 >"$work/out" 2>"$work/err"
if grep -qF "warning: --threads 64 is more than the $(nproc) cores" "$work/err"; then passed=$((passed + 1)); else echo "FAIL threads warning: $(head -c 300 "$work/err")"; failed=$((failed + 1)); fi
lines=$(wc -l <"$work/m.jsonl")
if [[ $lines -eq 2 ]] && grep -q '"test_accuracy"' "$work/m.jsonl"; then passed=$((passed + 1)); else echo "FAIL metrics: $lines lines"; failed=$((failed + 1)); fi
expect_success "eval" "Ankle boot" "$convnet" eval --model "$model" --weights "$work/w.bin" --data "$source_dir/data/fashion-mnist"
expect_success "eval on the reference backend" "test accuracy" "$convnet" eval --model "$model" --weights "$work/w.bin" --data "$work/tiny" --backend reference
expect_failure "weights of another model" "holds the weights of another model than" "$convnet" eval --model "$source_dir/models/lenet5.model" --weights "$work/w.bin" --data "$work/tiny"
head -c 100 "$work/w.bin" >"$work/short.bin"
expect_failure "truncated weights" "truncated" "$convnet" eval --model "$model" --weights "$work/short.bin" --data "$work/tiny"
printf '\x00\x00\x08\x03\x77\x35\x94\x00\x00\x00\x00\x1c\x00\x00\x00\x1c' >"$work/tiny/t10k-images-idx3-ubyte"
expect_failure "huge header" "t10k-images-idx3-ubyte" "$convnet" eval --model "$model" --weights "$work/w.bin" --data "$work/tiny"
rm "$work/tiny/t10k-images-idx3-ubyte"  # back to the good .gz file
expect_success "summary" "29,034" "$convnet" summary "$model"

# The model, class names and preprocessing travel in a safetensors file: eval and predict need no
# --model, predict no --data for the names. A file in convnet's older format needs --model.
cp "$source_dir/data/fashion-mnist/classes.txt" "$work/tiny/classes.txt"
"$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 --threads 1 --save "$work/named.safetensors" >/dev/null 2>&1
rm "$work/tiny/classes.txt"
expect_success "eval without --model" "test accuracy" "$convnet" eval --weights "$work/named.safetensors" --data "$work/tiny"
expect_success "predict names from the weights" "Ankle boot" "$convnet" predict --weights "$work/named.safetensors" --top 10 \
    "$source_dir/tests/cases/grey8.png"
printf 'CNVNETW1\x02\x00\x00\x00' >"$work/old.weights"
expect_failure "older format without --model" "give the model file with --model" "$convnet" eval --weights "$work/old.weights" --data "$work/tiny"
# Checkpoints: --resume keeps the run's settings and refuses a weights file.
expect_success "checkpoint" "final test accuracy" "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 \
    --checkpoint "$work/run.checkpoint.safetensors"
expect_success "resume for one more epoch" "resuming after 1 epoch and 0 images of epoch 2" "$convnet" train \
    --resume "$work/run.checkpoint.safetensors" --data "$work/tiny" --epochs 2
expect_usage_error "resume a finished run" "the checkpoint's run has done 2 epochs already; give --epochs 3" "$convnet" train \
    --resume "$work/run.checkpoint.safetensors" --data "$work/tiny"
expect_failure "resume on other data" "written training on other data than these 60000 images" "$convnet" train \
    --resume "$work/run.checkpoint.safetensors" --data "$source_dir/data/fashion-mnist" --epochs 3
expect_usage_error "resume with --lr" "option --lr: a resumed run keeps the settings" "$convnet" train \
    --resume "$work/run.checkpoint.safetensors" --data "$work/tiny" --lr 0.1
expect_failure "resume from weights" "not a checkpoint" "$convnet" train --resume "$work/named.safetensors" --data "$work/tiny"
# Augmentation and normalisation: the forms, and the statistics kept in the weights file, which
# eval then applies (the same accuracy as training's last evaluation).
expect_usage_error "bad augmentation" "option --augment: 'mirror': expected none, or crop:N" "$convnet" train --model "$model" \
    --data "$work/tiny" --augment mirror
expect_usage_error "bad normalisation" "option --normalize 0.5: expected auto, none, MEAN/STD" "$convnet" train --model "$model" \
    --data "$work/tiny" --normalize 0.5
expect_usage_error "augment with resume" "option --augment: a resumed run keeps the settings" "$convnet" train \
    --resume "$work/run.checkpoint.safetensors" --data "$work/tiny" --augment flip
expect_success "augmented, normalised training" "augmentation crop:2,flip; normalisation (x - 0." "$convnet" train --model "$model" \
    --data "$work/tiny" --epochs 1 --batch 5 --threads 1 --augment flip,crop:2 --normalize auto --save "$work/norm.safetensors"
trained=$(grep -o 'test loss [0-9.]*  acc [0-9.]*' "$work/out" | tail -1 | awk '{print $6}')
expect_success "eval applies the stored normalisation" "test accuracy: $trained" "$convnet" eval --weights "$work/norm.safetensors" \
    --data "$work/tiny" --threads 1
expect_success "val split" "final val accuracy" "$convnet" train --model "$model" --data "$work/tiny" --epochs 1 --batch 5 \
    --threads 1 --val-split 0.25
if grep -q "| val loss" "$work/out" && grep -q "final test accuracy" "$work/out"; then passed=$((passed + 1)); else echo "FAIL val split lines: $(cat "$work/out")"; failed=$((failed + 1)); fi
expect_usage_error "bad val split" "option --val-split 2" "$convnet" train --model "$model" --data "$work/tiny" --val-split 2
# CIFAR-10 binary batches (generated: 20 records each) train the RGB example model; a label past
# the class names is refused by file and record.
mkdir -p "$work/cifar"
python3 - "$work/cifar" <<'PY'
import os, random, sys
folder, chance = sys.argv[1], random.Random(3)
names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
open(os.path.join(folder, "batches.meta.txt"), "w").write("\n".join(names) + "\n")
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    with open(os.path.join(folder, name), "wb") as out:
        for _ in range(20):
            out.write(bytes([chance.randrange(10)]) + bytes(chance.randrange(256) for _ in range(3072)))
PY
expect_success "train on CIFAR-10 batches" "data $work/cifar: 100 train, 20 test images" "$convnet" train \
    --model "$source_dir/models/cifar-example.model" --data "$work/cifar" --epochs 1 --batch 10 --threads 1 --augment flip,crop:4 \
    --normalize auto --save "$work/cifar.safetensors"
expect_success "predict a CIFAR-10 test image by name" "(label " "$convnet" predict --weights "$work/cifar.safetensors" --data "$work/cifar" --index 3
if grep -qE '\(label [a-z]+\): [a-z]+ 0\.' "$work/out"; then passed=$((passed + 1)); else echo "FAIL predict --index names: $(cat "$work/out")"; failed=$((failed + 1)); fi
expect_usage_error "cache inside the data" "inside the dataset folder" "$convnet" train --model "$source_dir/models/cifar-example.model" \
    --data "$work/cifar" --cache "$work/cifar/cache"
expect_usage_error "augmentation twice" "'flip' is given twice" "$convnet" train --model "$model" --data "$work/tiny" --augment flip,flip
printf '\x0c' | dd of="$work/cifar/test_batch.bin" bs=1 seek=3073 conv=notrunc 2>/dev/null
expect_failure "CIFAR-10 label past the names" "test_batch.bin" "$convnet" eval --weights "$work/cifar.safetensors" --data "$work/cifar"
expect_usage_error "bad --on-nan" "option --on-nan later: expected stop or skip" "$convnet" train --model "$model" --data "$work/tiny" \
    --on-nan later
expect_usage_error "checkpoint-every alone" "give --checkpoint FILE too" "$convnet" train --model "$model" --data "$work/tiny" \
    --checkpoint-every 5

# predict: test images by index, and a PNG file (written here with zlib alone).
expect_success "predict index" "test image 3 (label" "$convnet" predict --model "$model" --weights "$work/w.bin" --data "$work/tiny" --index 0,3
python3 - "$work/image.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
rows = b"".join(b"\x00" + bytes((x * 9 + y * 3) % 256 for x in range(28)) for y in range(28))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
expect_success "predict png" "image.png: " "$convnet" predict --model "$model" --weights "$work/w.bin" --top 10 "$work/image.png"
# the ten probabilities printed must sum to 1
sum=$(sed 's/.*: //' "$work/out" | tr '|' '\n' | awk '{s += $NF} END {printf "%.3f", s}')
if [[ $sum == "1.000" ]]; then passed=$((passed + 1)); else echo "FAIL probabilities sum to $sum"; failed=$((failed + 1)); fi
# The same picture in 8 and 16 bits gives the same answer (a field report: 0.885 against 0.966).
"$convnet" predict --model "$model" --weights "$work/w.bin" --top 10 "$source_dir/tests/cases/grey8.png" | sed 's/^[^:]*: //' >"$work/p8"
"$convnet" predict --model "$model" --weights "$work/w.bin" --top 10 "$source_dir/tests/cases/grey16.png" | sed 's/^[^:]*: //' >"$work/p16"
if [[ -s $work/p8 ]] && cmp -s "$work/p8" "$work/p16"; then passed=$((passed + 1)); else echo "FAIL 8 and 16 bits differ: $(cat "$work/p8") / $(cat "$work/p16")"; failed=$((failed + 1)); fi
python3 - "$work/blank.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
rows = b"".join(b"\x00" + bytes([200] * 28) for y in range(28))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$convnet" predict --model "$model" --weights "$work/w.bin" "$work/blank.png" >"$work/out" 2>"$work/err"
if grep -qF "blank.png: the image the network receives is blank or nearly uniform" "$work/err"; then passed=$((passed + 1)); else echo "FAIL blank warning: $(head -c 300 "$work/err")"; failed=$((failed + 1)); fi
# Another size is resized (4x3 to 28x28 here); a policy that is not one is a usage error.
expect_success "predict another size" "small.png: " "$convnet" predict --model "$model" --weights "$work/w.bin" "$source_dir/tests/cli/small.png"
expect_usage_error "bad resize policy" "option --resize crop: expected stretch or center-crop" \
    "$convnet" predict --model "$model" --weights "$work/w.bin" --resize crop "$work/image.png"

# --invert: the negative of image.png, read with --invert, is image.png again (x -> 1 - x).
python3 - "$work/negative.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
rows = b"".join(b"\x00" + bytes(255 - (x * 9 + y * 3) % 256 for x in range(28)) for y in range(28))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
"$convnet" predict --model "$model" --weights "$work/w.bin" --top 10 --json "$work/image.png" >"$work/plain.json"
"$convnet" predict --model "$model" --weights "$work/w.bin" --top 10 --json --invert "$work/negative.png" >"$work/inverted.json"
if python3 - "$work/plain.json" "$work/inverted.json" <<'PY'
import json, sys
plain, inverted = (json.load(open(name)) for name in sys.argv[1:3])
assert inverted["invert"] is True and plain["invert"] is False
a, b = plain["images"][0]["top"], inverted["images"][0]["top"]
assert [t["class"] for t in a] == [t["class"] for t in b], (a, b)
assert all(abs(x["probability"] - y["probability"]) < 1e-5 for x, y in zip(a, b)), (a, b)
PY
then passed=$((passed + 1)); else echo "FAIL --invert of the negative differs from the picture"; failed=$((failed + 1)); fi

# Photo-like JPEGs: dark trousers on a light background, 3000x2000 colour and 1200x1600
# progressive grey; --json parsed by Python's json module.
if [[ -n $write_jpeg ]]; then
    "$write_jpeg" "$work/photo.jpg" 3000 2000 rgb
    "$write_jpeg" "$work/portrait.jpg" 1200 1600 grey progressive
    printf 'T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot\n' >"$work/tiny/classes.txt"
    for policy in stretch center-crop; do
        if "$convnet" predict --model "$model" --weights "$work/w.bin" --data "$work/tiny" --top 10 --json --invert \
            --resize "$policy" "$work/photo.jpg" "$work/portrait.jpg" --index 0 >"$work/photo.json" 2>"$work/err" &&
            python3 - "$work/photo.json" "$policy" <<'PY'
import json, sys
document = json.load(open(sys.argv[1]))
assert document["resize"] == sys.argv[2] and document["input"] == {"channels": 1, "height": 28, "width": 28}, document
test_image, photo, portrait = document["images"]
assert test_image["test_index"] == 0 and isinstance(test_image["label_name"], str), test_image
assert photo["file"].endswith("photo.jpg") and (photo["format"], photo["width"], photo["height"]) == ("JPEG", 3000, 2000), photo
assert (portrait["width"], portrait["height"]) == (1200, 1600), portrait
for image in document["images"]:
    top = image["top"]
    assert len(top) == 10 and abs(sum(t["probability"] for t in top) - 1) < 1e-4, top
    assert all(isinstance(t["name"], str) and 0 <= t["class"] < 10 for t in top), top
    assert top == sorted(top, key=lambda t: -t["probability"]), top
PY
        then
            passed=$((passed + 1))
        else
            echo "FAIL predict --json on photos ($policy): $(head -c 400 "$work/photo.json") $(head -c 300 "$work/err")"
            failed=$((failed + 1))
        fi
    done
    rm "$work/tiny/classes.txt"
    expect_success "predict a photo as text" "photo.jpg: " "$convnet" predict --model "$model" --weights "$work/w.bin" --invert "$work/photo.jpg"

    # Bad files: exit code 1, the file and the problem named, and nothing on stdout, not even for
    # the good file before the bad one.
    head -c 30000 "$work/photo.jpg" >"$work/cut.jpg"
    printf 'GIF89a not a supported image' >"$work/picture.png"
    python3 - "$work/photo.jpg" "$work/crafted.jpg" "$work/zero.png" <<'PY'
import struct, sys, zlib
jpeg = bytearray(open(sys.argv[1], "rb").read()[:2000])  # the headers and a little data
sof = jpeg.index(b"\xff\xc0")
jpeg[sof + 5:sof + 9] = struct.pack(">HH", 8000, 8000)  # claims 64 Mpixel in 2,000 bytes
open(sys.argv[2], "wb").write(jpeg)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")
open(sys.argv[3], "wb").write(png)
PY
    for case in "cut.jpg:cut.jpg: cannot read as JPEG: the file ends early" "picture.png:picture.png: neither a PNG nor a JPEG" \
        "crafted.jpg:crafted.jpg: the JPEG header says 8000x8000 pixels" "zero.png:zero.png: the PNG header says 0x0 pixels"; do
        file=${case%%:*} expected=${case#*:}
        "$convnet" predict --model "$model" --weights "$work/w.bin" --json "$work/image.png" "$work/$file" >"$work/out" 2>"$work/err"
        code=$?
        if [[ $code -eq 1 && ! -s $work/out ]] && grep -qF -- "$expected" "$work/err"; then
            passed=$((passed + 1))
        else
            echo "FAIL predict $file: exit $code, stdout $(head -c 100 "$work/out"), stderr: $(head -c 300 "$work/err")"
            failed=$((failed + 1))
        fi
    done
else
    echo "note: no write_jpeg helper given (third argument): the JPEG predict tests are skipped"
fi
expect_failure "predict nothing" "nothing to predict" "$convnet" predict --model "$model" --weights "$work/w.bin"
expect_failure "predict bad index" "not an index from 0 to 9" "$convnet" predict --model "$model" --weights "$work/w.bin" --data "$work/tiny" --index 10

# ONNX export (the consumers' check is scripts/check_onnx.py): written, or refused with the file
# and the problem named and nothing left behind.
expect_success "export onnx" "wrote $work/m.onnx (ONNX opset 13" "$convnet" export --model "$model" --weights "$work/w.bin" --onnx "$work/m.onnx"
expect_success "export onnx opset 17" "ONNX opset 17" "$convnet" export --model "$model" --weights "$work/w.bin" --onnx "$work/m17.onnx" --opset 17
expect_usage_error "export bad opset" "option --opset 15: expected 13 (the default) or 17" "$convnet" export --model "$model" --weights "$work/w.bin" --onnx "$work/x.onnx" --opset 15
expect_usage_error "export without --onnx" "--onnx" "$convnet" export --model "$model" --weights "$work/w.bin"
expect_failure "export into a missing folder" "option --onnx $work/nowhere/x.onnx: the folder $work/nowhere does not exist" \
    "$convnet" export --model "$model" --weights "$work/w.bin" --onnx "$work/nowhere/x.onnx"
printf 'older' >"$work/kept.onnx"
expect_failure "export weights of another model" "holds the weights of another model than" "$convnet" export --model "$source_dir/models/lenet5.model" --weights "$work/w.bin" --onnx "$work/kept.onnx"
if [[ $(cat "$work/kept.onnx") != older ]]; then
    echo "FAIL export on error: $work/kept.onnx was replaced"
    failed=$((failed + 1))
fi

# Pictures (docs/VISUALIZE.md): convnet1's filters and feature maps, and the classic kernels on an
# image; each PNG has the size printed and is not blank (python3 reads its pixels back with zlib).
png_check() {  # png_check NAME FILE WIDTH HEIGHT: the PNG is WIDTHxHEIGHT (0: any) with varied pixels
    if python3 - "$2" "$3" "$4" <<'PY'; then passed=$((passed + 1)); else echo "FAIL $1: $2 is not the picture expected"; failed=$((failed + 1)); fi
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
width, height, depth, kind = struct.unpack(">IIBB", data[16:26])
want_width, want_height = int(sys.argv[2]), int(sys.argv[3])
assert data[:8] == b"\x89PNG\r\n\x1a\n" and depth == 8, "not an 8-bit PNG"
assert want_width in (0, width) and want_height in (0, height), f"{width}x{height}"
pixels, at = b"", 8
while at < len(data):
    length, chunk = struct.unpack(">I4s", data[at:at + 8])
    if chunk == b"IDAT": pixels += data[at + 8:at + 8 + length]
    at += 12 + length
raw = zlib.decompress(pixels)  # filtered rows: only the spread of bytes is checked, enough for "not blank"
assert len(set(raw)) > 8, "blank"
PY
}
expect_success "visualize filters" "conv1.weight 16x1x5x5" "$convnet" visualize filters --model "$model" --weights "$work/w.bin" -o "$work/filters.png"
png_check "filters picture" "$work/filters.png" 0 0
expect_success "visualize filters of conv2, per filter" "conv2.weight 32x16x5x5, each filter on its own scale" "$convnet" visualize filters \
    --weights "$work/named.safetensors" --layer conv2 --per-filter -o "$work/filters2.png"
expect_success "visualize activations" "the input and 10 layers' outputs" "$convnet" visualize activations --weights "$work/named.safetensors" \
    --image "$source_dir/tests/cases/grey8.png" -o "$work/maps.png"
png_check "activations picture" "$work/maps.png" 0 0
expect_usage_error "visualize unknown layer" "option --layer conv3: no layer of that name (did you mean conv1?); the convolution layers are conv1, conv2" \
    "$convnet" visualize filters --weights "$work/named.safetensors" --layer conv3 -o "$work/x.png"
expect_usage_error "visualize a layer that is not a convolution" "bn1 is a batchnorm2d, not a convolution; the convolution layers are conv1, conv2" \
    "$convnet" visualize filters --weights "$work/named.safetensors" --layer bn1 -o "$work/x.png"
expect_usage_error "visualize into an .svg" "pictures are written as PNG" "$convnet" visualize filters --weights "$work/named.safetensors" -o "$work/x.svg"
expect_usage_error "visualize what" "unknown picture 'filter' (did you mean filters?)" "$convnet" visualize filter --weights "$work/named.safetensors"
expect_failure "visualize an unreadable image" "$work/none.png" "$convnet" visualize activations --weights "$work/named.safetensors" \
    --image "$work/none.png" -o "$work/x.png"
if [[ -e $work/x.png ]]; then echo "FAIL visualize errors: $work/x.png was written"; failed=$((failed + 1)); fi
expect_success "filter sobel-x" "wrote $work/sobel.png (28x28 grey)" "$convnet" filter --kernel sobel-x "$source_dir/tests/cases/grey8.png" -o "$work/sobel.png"
png_check "sobel picture" "$work/sobel.png" 28 28
expect_success "filter colour, stride 2, no padding" "(13x13 RGB)" "$convnet" filter --kernel blur --stride 2 --padding 0 \
    "$source_dir/tests/cases/colour_swatches_rgb.png" -o "$work/blur.png"
printf '# a ridge detector\n-1 2 -1\n-1 2 -1\n-1 2 -1\n' >"$work/ridge.txt"
expect_success "filter with a kernel file" "filtered by $work/ridge.txt (3x3)" "$convnet" filter --kernel "$work/ridge.txt" --range abs \
    "$source_dir/tests/cases/grey8.png" -o "$work/ridge.png"
printf '1 2 3\n4 5\n' >"$work/ragged.txt"
expect_failure "filter with a ragged kernel file" "ragged.txt:2: 2 numbers, where the first row (line 1) has 3" "$convnet" filter \
    --kernel "$work/ragged.txt" "$source_dir/tests/cases/grey8.png" -o "$work/y.png"
expect_usage_error "filter unknown kernel" "option --kernel sobelx: not a named kernel (did you mean sobel-x?)" "$convnet" filter --kernel sobelx \
    "$source_dir/tests/cases/grey8.png" -o "$work/y.png"
expect_failure "filter an unreadable image" "neither a PNG nor a JPEG" "$convnet" filter --kernel edge "$work/ridge.txt" -o "$work/y.png"
expect_failure "filter a kernel larger than the image" "conv2d" "$convnet" filter --kernel gaussian --padding 0 "$source_dir/tests/cli/small.png" -o "$work/y.png"
expect_usage_error "filter a bad range" "option --range negative: expected clip, abs or shift" "$convnet" filter --kernel edge --range negative \
    "$source_dir/tests/cases/grey8.png" -o "$work/y.png"
if [[ -e $work/y.png ]]; then echo "FAIL filter errors: $work/y.png was written"; failed=$((failed + 1)); fi

# NaN weights: PyTorch's scores are NaN for any image; so are ours, with a warning at load.
expect_success "eval with a NaN bias" "test loss: nan" "$convnet" eval --model "$source_dir/tests/cases/nan_through_relu.model" \
    --weights "$source_dir/tests/cases/nan_through_relu.weights" --data "$work/tiny"
cases=$source_dir/tests/cases
expect_success "predict with a NaN bias" ": 0 nan | 1 nan | 2 nan" "$convnet" predict --model "$cases/nan_through_relu.model" \
    --weights "$cases/nan_through_relu.weights" --data "$work/tiny" --index 0
if grep -qF "warning: $cases/nan_through_relu.weights: conv1.bias: 1 NaN, 0 infinite of 2 values" "$work/err"; then
    passed=$((passed + 1))
else
    echo "FAIL NaN weights warning: $(head -c 300 "$work/err")"
    failed=$((failed + 1))
fi

# Pictures (docs/VISUALIZE.md): training curves while training (--plot) and from a metrics file
# (plot), the confusion matrix of eval. Each must parse as XML, have the expected width, and hold
# the expected elements; a heat map's cells must not all be one colour.
# svg_check NAME FILE WIDTH|- CLASS COUNT|N+ [TEXT]: FILE is an SVG WIDTH wide with COUNT (or at
# least N) elements of class CLASS, containing TEXT when given.
svg_check() {
    local name=$1
    shift
    if python3 - "$@" 2>"$work/err" <<'PY'; then
import sys, xml.dom.minidom
path, width, cls, count = sys.argv[1:5]
text = sys.argv[5] if len(sys.argv) > 5 else None
svg = xml.dom.minidom.parse(path).documentElement
assert svg.tagName == "svg", svg.tagName
assert width == "-" or svg.getAttribute("width") == width, f"width {svg.getAttribute('width')}, expected {width}"
elements = [e for e in svg.getElementsByTagName("*") if e.getAttribute("class") == cls]
if count.endswith("+"):
    assert len(elements) >= int(count[:-1]), f"{len(elements)} elements of class {cls}, expected at least {count[:-1]}"
else:
    assert len(elements) == int(count), f"{len(elements)} elements of class {cls}, expected {count}"
if cls == "cell":
    assert len({e.getAttribute("fill") for e in elements}) > 1, "every cell has the same colour"
assert text is None or text in open(path, encoding="utf-8").read(), f"no {text!r}"
PY
        passed=$((passed + 1))
    else
        echo "FAIL $name: $(tail -c 400 "$work/err")"
        failed=$((failed + 1))
    fi
}
expect_success "train --plot" "final test accuracy" "$convnet" train --model "$model" --data "$work/tiny" --epochs 2 --batch 5 \
    --plot "$work/curves.svg"
svg_check "train --plot picture" "$work/curves.svg" 840.0 point 8 ">cross-entropy loss<"
expect_usage_error "plot not SVG" "option --plot $work/curves.png: the picture is written as SVG" "$convnet" train --model "$model" \
    --data "$work/tiny" --plot "$work/curves.png"
expect_success "plot a metrics file" "wrote $work/m.svg: 2 epochs of $work/m.jsonl" "$convnet" plot "$work/m.jsonl" --output "$work/m.svg"
svg_check "plot picture" "$work/m.svg" 840.0 point 8 ">epoch<"
printf '%s\n' '{"epoch": 1, "train_loss": 2.3, "train_accuracy": 0.1, "test_loss": null, "test_accuracy": 0.1}' \
    '{"epoch": 2, "train_loss": null, "train_accuracy": 0.1, "test_loss": null, "test_accuracy": 0.1}' >"$work/nan.jsonl"
expect_success "plot a NaN loss" "wrote $work/nan.svg" "$convnet" plot "$work/nan.jsonl" --output "$work/nan.svg" --eval-name val
svg_check "plot NaN picture" "$work/nan.svg" 840.0 point 5 "val not finite (not drawn) at epoch 1, 2"
expect_failure "plot a model file" "convnet1.model:1: expected one JSON object a line" "$convnet" plot "$model" --output "$work/x.svg"
expect_usage_error "plot without --output" "option --output is required" "$convnet" plot "$work/m.jsonl"
expect_usage_error "plot two files" "expected one metrics file, got 2" "$convnet" plot "$work/m.jsonl" "$work/m.jsonl" --output "$work/x.svg"
expect_success "eval --confusion" "most confused (true -> predicted" "$convnet" eval --model "$model" --weights "$work/w.bin" \
    --data "$source_dir/data/fashion-mnist" --confusion "$work/cm.svg" --top-confused 3
if grep -qF "true \ predicted T-shirt/top" "$work/out" && grep -qF "Ankle boot " "$work/out" && grep -qF "wrote $work/cm.svg" "$work/out"; then
    passed=$((passed + 1))
else
    echo "FAIL eval --confusion table: $(head -c 600 "$work/out")"
    failed=$((failed + 1))
fi
svg_check "confusion cells" "$work/cm.svg" - cell 100 ">T-shirt/top<"
svg_check "confusion pairs" "$work/cm.svg" - pair 3
svg_check "confusion thumbnails" "$work/cm.svg" - thumbnail 3+ "data:image/png;base64,"
expect_usage_error "confusion not SVG" "give a name ending in .svg" "$convnet" eval --model "$model" --weights "$work/w.bin" \
    --data "$work/tiny" --confusion "$work/cm.png"
expect_usage_error "top-confused alone" "option --top-confused: give --confusion FILE.svg too" "$convnet" eval --model "$model" \
    --weights "$work/w.bin" --data "$work/tiny" --top-confused 3

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
