#!/usr/bin/python3
"""PyTorch's side of `make bench`: convnet1 in torch.nn, timed the way bench/convnet_bench.cpp times
ours (same commands, options and JSON fields), on the same IDX files converted the same way
(bytes kept, x/255 per batch); or, with --data a segmentation folder (data/m2nist) and --model
models/unet-m2nist.model, the U-Net trained per pixel (CrossEntropyLoss(ignore_index=255)) on the
same PNGs, read by bench/segment_parity.py's reader. Run with Debian's python3-torch (/usr/bin/python3). Whether
PyTorch runs "as a user runs it" or "tuned" is decided by the environment (OPENBLAS_NUM_THREADS=1),
which bench/run_bench.py sets per process.
"""
import argparse
import gzip
import json
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


def load_split(directory, split, count=0):
    """(images uint8 (N, H, W), labels) as torch tensors, the first `count` when > 0: IDX files give
    labels int64 (N,); a segmentation folder (train/images, train/masks) gives masks uint8 (N, H, W),
    made int64 per batch (as a whole split they would take 8 bytes a pixel)."""
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


def model_from_file(path):
    """Any model file in torch.nn, built by the reference tests' translation (scripts/make_reference.py:
    the same modules, names and PyTorch default initialisation), for rows beyond convnet1."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    import make_reference
    network, _ = make_reference.build_network(pathlib.Path(path))
    return network


def as_input(images):
    """uint8 (B, H, W) -> float (B, 1, H, W) in [0, 1], as convnet's load_batch."""
    return images.unsqueeze(1).float().div_(255.0)


def train_epoch(model, optimizer, images, labels, batch, generator):
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
        x, y = as_input(images[indices]), labels[indices].long()
        # Per pixel for masks (N, H, W), 255 left out as convnet's kIgnoreIndex; no label is 255 otherwise.
        loss = F.cross_entropy(model(x), y, ignore_index=255)
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
    generator = torch.Generator().manual_seed(args.seed)
    warmup_start = time.perf_counter()
    if args.warmup_steps > 0:
        count = min(args.warmup_steps * args.batch, images.shape[0])
        train_epoch(model, optimizer, images[:count], labels[:count], args.batch, torch.Generator().manual_seed(args.seed + 1))
    warmup_seconds = time.perf_counter() - warmup_start
    rates, seconds, done, loss = [], 0.0, 0, 0.0
    for _ in range(args.epochs):
        epoch_seconds, epoch_images, loss = train_epoch(model, optimizer, images, labels, args.batch, generator)
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
        epoch_seconds, _, _ = train_epoch(model, optimizer, images, labels, args.batch, generator)
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
