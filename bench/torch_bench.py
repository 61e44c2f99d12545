#!/usr/bin/python3
"""PyTorch's side of `make bench`: convnet1 in torch.nn, timed the way bench/convnet_bench.cpp times
ours (same commands, options and JSON fields), on the same IDX files converted the same way
(bytes kept, x/255 per batch); or, with --data a segmentation folder (data/m2nist) and --model
models/unet-m2nist.model, the U-Net trained per pixel (CrossEntropyLoss(ignore_index=255)) on the
same PNGs, read by bench/segment_parity.py's reader; or, with --data a detection folder
(data/digit-boxes) and --model models/detect-digits.model, the detector trained with the detection
loss (scripts/make_reference.py's detection_loss_torch, the torch twin of detection_loss.h) on the
same PNGs and label files. Run with Debian's python3-torch (/usr/bin/python3). Whether
PyTorch runs "as a user runs it" or "tuned" is decided by the environment (OPENBLAS_NUM_THREADS=1),
which bench/run_bench.py sets per process.
"""
import argparse
import gzip
import json
import math
import os
import pathlib
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import segment_parity  # bench/: its segmentation-folder reader (pure-Python PNG, cached decoded arrays)

DEFAULT_THREADS = torch.get_num_threads()  # what a user who never calls set_num_threads gets

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """An IDX file (raw or .gz) as a numpy uint8 array of the shape its header gives."""
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(candidate, "rb") as file:
                data = file.read()
            break
    else:
        sys.exit(f"torch_bench: {path}[.gz] not found (try `make data`)")
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        sys.exit(f"torch_bench: {path}: magic 0x{magic:08x} is not an unsigned-byte IDX file")
    rank = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def is_detection_folder(directory):
    return os.path.isdir(os.path.join(directory, "train", "images")) and os.path.isdir(os.path.join(directory, "train", "labels"))


class DetectionTargets:
    """The boxes of a detection split as convnet holds them (Dataset::boxes, box_offsets): corners
    x1 y1 x2 y2 float32 in the image's unit (M, 4), classes int64 (M,), and per image offsets
    (N + 1,), as detection_loss_torch takes them. Indexed as the images are (a slice, or a tensor
    of indices), it gives those images' targets in that order."""

    def __init__(self, boxes, classes, offsets):
        self.boxes, self.classes, self.offsets = boxes, classes, offsets

    def __getitem__(self, selection):
        images = range(len(self.offsets) - 1)[selection] if isinstance(selection, slice) else selection.tolist()
        rows = [torch.arange(self.offsets[i], self.offsets[i + 1]) for i in images]
        offsets = [0]
        for row in rows:
            offsets.append(offsets[-1] + len(row))
        rows = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.int64)
        return DetectionTargets(self.boxes[rows], self.classes[rows], offsets)


def read_label_file(path, classes):
    """[(class, x1, y1, x2, y2)] of a YOLO label file (`class cx cy w h` lines, normalised), the
    corners clipped to [0, 1] as convnet reads them (docs/DETECTION.md); a missing file is no objects."""
    if not os.path.exists(path):
        return []
    objects = []
    with open(path) as file:
        for number, line in enumerate(file, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5 or float(fields[0]) != int(float(fields[0])) or not 0 <= int(float(fields[0])) < classes:
                sys.exit(f"torch_bench: {path}:{number}: expected `class cx cy w h` with a class below {classes}")
            label, cx, cy, w, h = int(float(fields[0])), *map(float, fields[1:])
            clip = lambda value: min(max(value, 0.0), 1.0)
            objects.append((label, clip(cx - w / 2), clip(cy - h / 2), clip(cx + w / 2), clip(cy + h / 2)))
    return objects


def load_detection_split(root, split, count=0):
    """(images uint8 (N, H, W), DetectionTargets) of the first `count` images (all when 0) of a
    detection folder, by the images' sorted names as convnet reads them: 8-bit grey PNGs only
    (segment_parity's reader), at the size stored."""
    images_dir, labels_dir = os.path.join(root, split, "images"), os.path.join(root, split, "labels")
    names = sorted(name for name in os.listdir(images_dir) if name.lower().endswith(".png"))
    if count > 0:
        names = names[:count]
    classes = len(segment_parity.read_class_names(root))
    try:
        images = segment_parity.read_png_stack([os.path.join(images_dir, name) for name in names])
    except segment_parity.PngError as error:
        sys.exit(f"torch_bench: {error}")
    boxes, labels, offsets = [], [], [0]
    for name in names:
        objects = read_label_file(os.path.join(labels_dir, os.path.splitext(name)[0] + ".txt"), classes)
        boxes += [obj[1:] for obj in objects]
        labels += [obj[0] for obj in objects]
        offsets.append(len(boxes))
    targets = DetectionTargets(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(labels, dtype=torch.int64),
                               offsets)
    return torch.from_numpy(images), targets


def load_split(directory, split, count=0):
    """(images uint8 (N, H, W), labels) as torch tensors, the first `count` when > 0: IDX files give
    labels int64 (N,); a segmentation folder (train/images, train/masks) gives masks uint8 (N, H, W),
    made int64 per batch (as a whole split they would take 8 bytes a pixel); a detection folder
    (train/images, train/labels) gives DetectionTargets."""
    if is_detection_folder(directory):
        return load_detection_split(directory, split, count)
    if segment_parity.is_segmentation_folder(directory):
        images, masks, _ = segment_parity.load_segmentation_split(directory, split)
        images, labels = torch.from_numpy(images), torch.from_numpy(masks)
        return (images[:count], labels[:count]) if count > 0 else (images, labels)
    images_name, labels_name = IDX_FILES[split]
    images = torch.from_numpy(read_idx(os.path.join(directory, images_name)).copy())
    labels = torch.from_numpy(read_idx(os.path.join(directory, labels_name)).astype(np.int64))
    if count > 0:
        images, labels = images[:count], labels[:count]
    return images, labels


def convnet1():
    """models/convnet1.model in torch.nn (PyTorch's default initialisation, as ours)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=5, stride=1, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def make_reference():
    """scripts/make_reference.py, the reference tests' torch side, as a module."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    import make_reference as module
    return module


def model_from_file(path):
    """Any model file in torch.nn, built by the reference tests' translation (scripts/make_reference.py:
    the same modules, names and PyTorch default initialisation), for rows beyond convnet1. A detect
    head's objectness bias starts at log(0.01 / 0.99), as convnet's Detect::initialize sets it."""
    network, _ = make_reference().build_network(pathlib.Path(path))
    if detection_gains(path) is not None:
        head = list(network.children())[-1]
        with torch.no_grad():
            head.bias[4] = math.log(0.01 / 0.99)
    return network


def detection_gains(path):
    """(box, objectness, class) gains of the model file's detect head (its box_weight,
    objectness_weight and class_weight, 5, 1 and 1 unless written), or None without one."""
    gains = None
    for line in pathlib.Path(path).read_text().splitlines():
        words = line.split("#")[0].split()
        if words and words[0] == "detect":
            options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
            gains = tuple(float(options.get(key, default)) for key, default in
                          (("box_weight", 5.0), ("objectness_weight", 1.0), ("class_weight", 1.0)))
    return gains


def loss_function(model_path):
    """The training loss of logits against a batch's targets: detection_loss_torch (computed in
    double, as convnet's detection_loss) for a detector, else cross-entropy (per pixel for masks,
    255 left out as convnet's kIgnoreIndex; no label is 255 otherwise)."""
    gains = detection_gains(model_path) if model_path else None
    if gains is None:
        return lambda logits, targets: F.cross_entropy(logits, targets.long(), ignore_index=255)
    loss = make_reference().detection_loss_torch
    return lambda logits, targets: loss(logits.double(), targets.boxes, targets.classes, targets.offsets, gains)[0]


def as_input(images):
    """uint8 (B, H, W) -> float (B, 1, H, W) in [0, 1], as convnet's load_batch."""
    return images.unsqueeze(1).float().div_(255.0)


def train_epoch(model, optimizer, images, labels, batch, generator, criterion):
    """One pass in a fresh random order; a last batch of one is dropped (as convnet's Trainer).
    Returns (seconds, images, mean loss)."""
    model.train()
    start = time.perf_counter()
    order = torch.randperm(images.shape[0], generator=generator)
    loss_sum, done = 0.0, 0
    for first in range(0, images.shape[0], batch):
        indices = order[first:first + batch]
        if indices.numel() < 2:
            break
        loss = criterion(model(as_input(images[indices])), labels[indices])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * indices.numel()
        done += indices.numel()
    return time.perf_counter() - start, done, loss_sum / max(done, 1)


@torch.no_grad()
def evaluate(model, images, labels, batch):
    """Accuracy over the labels (images), or over the labelled pixels (masks: 255 left out)."""
    model.eval()
    correct = counted = 0
    for first in range(0, images.shape[0], batch):
        logits = model(as_input(images[first:first + batch]))
        truth = labels[first:first + batch].long()
        kept = truth != 255
        correct += int((logits.argmax(1) == truth)[kept].sum())
        counted += int(kept.sum())
    return correct / max(counted, 1)


def loaded_blas():
    """The BLAS library this process loaded: OPENBLAS_NUM_THREADS only matters for OpenBLAS, and
    Debian's libtorch takes whichever libblas.so.3 the alternatives system points at."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and ".so" in line}
    except OSError:
        return "unknown"
    return ", ".join(sorted(os.path.realpath(path) for path in paths)) or "none"


def header(command, threads):
    return {"system": "pytorch", "command": command, "compute": "torch " + torch.__version__, "threads": threads,
            "default_threads": DEFAULT_THREADS, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
            "blas": loaded_blas()}


def setup(args):
    if args.threads == 0:  # the user's default: never call set_num_threads
        args.threads = DEFAULT_THREADS
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = convnet1() if args.model is None else model_from_file(args.model)
    return model, torch.optim.Adam(model.parameters(), lr=args.lr)


def run_train(args):
    images, labels = load_split(args.data, "train", args.images)
    model, optimizer = setup(args)
    criterion = loss_function(args.model)
    generator = torch.Generator().manual_seed(args.seed)
    warmup_start = time.perf_counter()
    if args.warmup_steps > 0:
        count = min(args.warmup_steps * args.batch, images.shape[0])
        train_epoch(model, optimizer, images[:count], labels[:count], args.batch, torch.Generator().manual_seed(args.seed + 1),
                    criterion)
    warmup_seconds = time.perf_counter() - warmup_start
    rates, seconds, done, loss = [], 0.0, 0, 0.0
    for _ in range(args.epochs):
        epoch_seconds, epoch_images, loss = train_epoch(model, optimizer, images, labels, args.batch, generator, criterion)
        rates.append(epoch_images / epoch_seconds)
        seconds += epoch_seconds
        done += epoch_images
    return {**header("train", args.threads), "batch": args.batch, "images": done, "epochs": args.epochs,
            "warmup_steps": args.warmup_steps, "warmup_seconds": round(warmup_seconds, 4), "seconds": round(seconds, 4),
            "images_per_second": round(done / seconds, 1), "epoch_images_per_second": rates, "train_loss": round(loss, 5)}


def run_eval(args):
    images, labels = load_split(args.data, "test", args.images)
    model, _ = setup(args)
    evaluate(model, images, labels, args.batch)  # warm-up: one untimed pass
    rates, accuracy = [], 0.0
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        accuracy = evaluate(model, images, labels, args.batch)
        rates.append(images.shape[0] / (time.perf_counter() - start))
    return {**header("eval", args.threads), "batch": args.batch, "images": images.shape[0], "repeat": args.repeat,
            "images_per_second": round(statistics.median(rates), 1), "pass_images_per_second": rates,
            "accuracy": round(accuracy, 4)}


def run_latency(args):
    images, _ = load_split(args.data, "test")
    model, _ = setup(args)
    model.eval()
    count = images.shape[0]

    @torch.no_grad()
    def predict_one(index):  # what a caller does for one image: convert its bytes and predict
        index %= count
        return model(as_input(images[index:index + 1]))

    for i in range(args.warmup):
        predict_one(i)
    microseconds = []
    for i in range(args.count):
        start = time.perf_counter()
        predict_one(i)
        microseconds.append((time.perf_counter() - start) * 1e6)
    ordered = np.array(microseconds)
    return {**header("latency", args.threads), "count": args.count, "warmup": args.warmup,
            "median_us": round(float(np.percentile(ordered, 50)), 2), "p99_us": round(float(np.percentile(ordered, 99)), 2),
            "mean_us": round(float(ordered.mean()), 2), "min_us": round(float(ordered.min()), 2)}


def run_time_to_accuracy(args):
    images, labels = load_split(args.data, "train", args.images)
    test_images, test_labels = load_split(args.data, "test")
    model, optimizer = setup(args)
    generator = torch.Generator().manual_seed(args.seed)
    train_seconds = total_seconds = 0.0
    accuracies, train_curve, total_curve, reached = [], [], [], 0
    for epoch in range(1, args.max_epochs + 1):  # no warm-up: set-up is part of the wait
        epoch_seconds, _, _ = train_epoch(model, optimizer, images, labels, args.batch, generator, loss_function(args.model))
        eval_start = time.perf_counter()
        accuracy = evaluate(model, test_images, test_labels, 1000)
        train_seconds += epoch_seconds
        total_seconds += epoch_seconds + time.perf_counter() - eval_start
        accuracies.append(accuracy)
        train_curve.append(train_seconds)
        total_curve.append(total_seconds)
        if accuracy >= args.target:
            reached = epoch
            break
    return {**header("time-to-accuracy", args.threads), "batch": args.batch, "target": args.target,
            "reached": reached > 0, "epochs": reached or args.max_epochs, "train_seconds": round(train_seconds, 3),
            "seconds": round(total_seconds, 3), "test_accuracy": accuracies, "train_seconds_curve": train_curve,
            "seconds_curve": total_curve}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "eval", "latency", "time-to-accuracy"])
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="0: torch's own default (never set)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=0, help="use only the first N images of the timed split")
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default=None, help="a model file (default: convnet1, written out in torch.nn here)")
    args = parser.parse_args()
    commands = {"train": run_train, "eval": run_eval, "latency": run_latency, "time-to-accuracy": run_time_to_accuracy}
    print(json.dumps(commands[args.command](args)), flush=True)


if __name__ == "__main__":
    main()
