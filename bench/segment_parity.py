#!/usr/bin/python3
"""`make segment-parity`: the segmentation recipe of `make segment` (models/unet-m2nist.model on
data/m2nist) trained in PyTorch 1.13, against convnet's own run of the same recipe. Not bit
parity (the two draw different initial weights and orders): the check is that the recipe and the
figures agree, the PyTorch run ending within ±0.01 of convnet's test mean IoU.

    /usr/bin/python3 bench/segment_parity.py [--epochs E] [--threads 2] [--seed 1] [--convnet build/convnet]

The recipe, on both sides (convnet: `train --batch 32 --lr 0.01 --schedule onecycle`):
  Adam(lr 0.01, betas (0.9, 0.999), eps 1e-8); OneCycleLR per step (max_lr 0.01, pct_start 0.3,
  cos, div_factor 25, final_div_factor 1e4, cycle_momentum False: convnet's Adam keeps its betas);
  inputs x/255; per-pixel CrossEntropyLoss(ignore_index=255) averaged over the labelled pixels;
  a fresh shuffle each epoch, every image used (the last partial batch as it is); batch norm in
  training mode; evaluation in eval mode over the test split. Test mIoU: per class TP/(TP+FP+FN)
  from the pixel confusion matrix of the whole split, classes absent from both truth and
  prediction left out, averaged; pixel accuracy: the confusion matrix's trace over its sum.

Prints per-epoch figures and one JSON line (last on stdout). With --convnet it runs convnet's
command first (its metrics file gives its figures), prints both sides and the difference, and
exits 1 when |Δ test mIoU| > --tolerance.

Also the segmentation-folder reader of bench/torch_bench.py: load_segmentation_split reads
ROOT/classes.txt and ROOT/SPLIT/{images,masks}/NAME.png with a small pure-Python PNG decoder
(8-bit grey, non-interlaced only: Debian's python3 here has neither PIL nor torchvision), keeping
the decoded arrays in a .npz cache under build/.
"""
import argparse
import hashlib
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(ROOT, "build", "segment-cache")
IGNORE_INDEX = 255  # convnet's kIgnoreIndex: left out of the loss and the metrics
# The recipe of `make segment`, the same numbers on both sides.
RECIPE = {"model": "models/unet-m2nist.model", "batch": 32, "lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8,
          "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}


class PngError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# PNG: 8-bit grey, non-interlaced (what make-m2nist writes); anything else is refused by name.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def read_png_rows(path):
    """(height, width, the zlib-inflated filtered rows as bytes) of an 8-bit grey non-interlaced
    PNG; raises PngError naming the file and the fault (signature, CRC, truncation, bit depth,
    colour type, interlacing, missing IDAT, wrong decompressed length)."""
    with open(path, "rb") as file:
        data = file.read()
    if data[:8] != PNG_SIGNATURE:
        raise PngError(f"{path}: not a PNG file (no PNG signature)")
    position, header, idat = 8, None, []
    while True:
        if position + 12 > len(data):
            raise PngError(f"{path}: truncated at byte {position} (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if len(body) != length or position + 12 + length > len(data):
            raise PngError(f"{path}: chunk {kind!r} at byte {position} runs past the end of the file")
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise PngError(f"{path}: chunk {kind!r} at byte {position} fails its CRC")
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour != 0:
                raise PngError(f"{path}: {depth}-bit {COLOUR_TYPES.get(colour, f'colour type {colour}')}: this reader takes "
                               f"8-bit grey PNGs only (convert the file, or read it with convnet itself)")
            if interlace != 0:
                raise PngError(f"{path}: Adam7-interlaced: this reader takes non-interlaced PNGs only")
            if compression != 0 or filtering != 0:
                raise PngError(f"{path}: compression method {compression}, filter method {filtering}: expected 0 and 0")
            header = (height, width)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif kind[0] & 0x20 == 0:  # a critical chunk this reader does not know (PLTE cannot come with grey)
            raise PngError(f"{path}: critical chunk {kind!r} is not supported")
    if header is None or not idat:
        raise PngError(f"{path}: no {'IHDR' if header is None else 'IDAT'} chunk")
    height, width = header
    try:
        rows = zlib.decompress(b"".join(idat))
    except zlib.error as error:
        raise PngError(f"{path}: the image data does not inflate ({error})") from None
    if len(rows) != height * (width + 1):
        raise PngError(f"{path}: {len(rows)} bytes of image data, expected {height * (width + 1)} for {width}x{height}")
    return height, width, rows


def unfilter(filtered):
    """Undoes the five PNG row filters (None, Sub, Up, Average, Paeth; one byte per pixel) of a
    stack of same-sized images at once: filtered uint8 (N, H, 1 + W), each row's filter byte
    first; returns uint8 (N, H, W). Rows go in order (each reads the one above), and within a
    row Sub, Average and Paeth go pixel by pixel, each step a vector over the N images."""
    count, height, stride = filtered.shape
    width = stride - 1
    out = np.zeros((count, height, width), dtype=np.int32)
    above = np.zeros((count, width), dtype=np.int32)
    for y in range(height):
        kinds = filtered[:, y, 0]
        if kinds.max(initial=0) > 4:
            bad = int(np.argmax(kinds > 4))
            raise PngError(f"image {bad}: row {y} has filter type {int(kinds[bad])}, expected 0 to 4")
        row = filtered[:, y, 1:].astype(np.int32)
        result = out[:, y]
        for kind in np.unique(kinds):
            images = np.nonzero(kinds == kind)[0]
            raw, up = row[images], above[images]
            if kind == 0:
                decoded = raw
            elif kind == 1:  # Sub: a running sum along the row
                decoded = np.cumsum(raw, axis=1) & 0xFF
            elif kind == 2:  # Up
                decoded = (raw + up) & 0xFF
            else:
                decoded = np.empty_like(raw)
                left = np.zeros(len(images), dtype=np.int32)
                upper_left = np.zeros(len(images), dtype=np.int32)
                for x in range(width):
                    b = up[:, x]
                    if kind == 3:  # Average
                        value = raw[:, x] + ((left + b) >> 1)
                    else:  # Paeth
                        estimate = left + b - upper_left
                        pa, pb, pc = np.abs(estimate - left), np.abs(estimate - b), np.abs(estimate - upper_left)
                        predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, b, upper_left))
                        value = raw[:, x] + predictor
                    decoded[:, x] = left = value & 0xFF
                    upper_left = b
            result[images] = decoded
        above = result
    return out.astype(np.uint8)


def read_png_stack(paths):
    """uint8 (N, H, W) of 8-bit grey PNGs that all share one size (PngError otherwise)."""
    rows, shape = [], None
    for path in paths:
        height, width, data = read_png_rows(path)
        if shape is None:
            shape = (height, width)
        elif (height, width) != shape:
            raise PngError(f"{path}: {width}x{height}, but {paths[0]} is {shape[1]}x{shape[0]}: expected one size")
        rows.append(data)
    if not rows:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    filtered = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), shape[0], shape[1] + 1)
    return unfilter(filtered)


# ---------------------------------------------------------------------------------------------
# Segmentation folders (docs/SEGMENTATION.md): ROOT/classes.txt, ROOT/SPLIT/images/NAME.png and
# ROOT/SPLIT/masks/NAME.png, pairs in the order of the images' file names, as convnet reads them.

def read_class_names(root):
    path = os.path.join(root, "classes.txt")
    if not os.path.isfile(path):
        sys.exit(f"segment_parity: {path} not found: not a segmentation folder (try `make m2nist`)")
    with open(path) as file:
        return [line.strip() for line in file if line.strip()]


def is_segmentation_folder(root):
    return os.path.isdir(os.path.join(root, "train", "images")) and os.path.isdir(os.path.join(root, "train", "masks"))


def split_files(root, split):
    """[(image path, mask path)] of a split, by the images' sorted names; exits naming a missing mask."""
    images_dir, masks_dir = os.path.join(root, split, "images"), os.path.join(root, split, "masks")
    for folder in (images_dir, masks_dir):
        if not os.path.isdir(folder):
            sys.exit(f"segment_parity: {folder} not found (try `make m2nist`)")
    names = sorted(name for name in os.listdir(images_dir) if name.lower().endswith(".png"))
    masks = set(os.listdir(masks_dir))
    pairs = []
    for name in names:
        mask = os.path.splitext(name)[0] + ".png"
        if mask not in masks:
            sys.exit(f"segment_parity: {os.path.join(images_dir, name)} has no mask {os.path.join(masks_dir, mask)}")
        pairs.append((os.path.join(images_dir, name), os.path.join(masks_dir, mask)))
    return pairs


def load_segmentation_split(root, split, cache_dir=DEFAULT_CACHE):
    """(images uint8 (N, H, W), masks uint8 (N, H, W), class names) of a split of a segmentation
    folder of 8-bit grey PNGs. Decoded once and kept in cache_dir (None: no cache), keyed by the
    folder, and refreshed when any file's name, size or modification time changes."""
    pairs = split_files(root, split)
    fingerprint = hashlib.sha256()
    for pair in pairs:
        for path in pair:
            status = os.stat(path)
            fingerprint.update(f"{os.path.basename(path)} {status.st_size} {status.st_mtime_ns}\n".encode())
    fingerprint = fingerprint.hexdigest()
    names = read_class_names(root)
    cache = None
    if cache_dir:
        folder_key = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:12]
        cache = os.path.join(cache_dir, f"{os.path.basename(os.path.realpath(root))}-{folder_key}-{split}.npz")
        if os.path.exists(cache):
            with np.load(cache) as stored:
                if str(stored["fingerprint"]) == fingerprint:
                    return stored["images"], stored["masks"], names
    try:
        images = read_png_stack([image for image, _ in pairs])
        masks = read_png_stack([mask for _, mask in pairs])
    except PngError as error:
        sys.exit(f"segment_parity: {error}")
    if images.shape != masks.shape:
        sys.exit(f"segment_parity: {root}/{split}: images of {images.shape[1:]} but masks of {masks.shape[1:]} (H, W)")
    bad = (masks >= len(names)) & (masks != IGNORE_INDEX)
    if bad.any():
        index, y, x = (int(v) for v in np.argwhere(bad)[0])
        sys.exit(f"segment_parity: {pairs[index][1]}: value {int(masks[index, y, x])} at (x {x}, y {y}) is neither a class index "
                 f"below {len(names)} (classes.txt) nor {IGNORE_INDEX}")
    if cache:
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npz", delete=False) as file:
            np.savez(file, images=images, masks=masks, fingerprint=np.array(fingerprint))
        os.replace(file.name, cache)
    return images, masks, names


# ---------------------------------------------------------------------------------------------
# The recipe in PyTorch.

def import_script(name):
    """scripts/NAME.py as a module (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_network(model_path):
    """scripts/make_reference.py's translation of a model file to torch.nn (PyTorch's names and
    default initialisation), imported from there, not copied: (network, sample shape (C, H, W))."""
    import pathlib
    return import_script("make_reference").build_network(pathlib.Path(model_path))


def steps_per_epoch(count, batch, smallest=2):
    """As convnet's Trainer: ⌈count/batch⌉ steps, the last partial batch as it is unless it would
    hold fewer than `smallest` images (then it joins the one before)."""
    steps = math.ceil(count / batch)
    return steps - 1 if steps > 1 and count % batch and count % batch < smallest else steps


def batches(order, batch, smallest=2):
    """The epoch's batches of indices, as steps_per_epoch counts them."""
    starts = list(range(0, len(order), batch))
    if len(starts) > 1 and len(order) - starts[-1] < smallest:
        starts.pop()
    return [order[start:(starts[k + 1] if k + 1 < len(starts) else len(order))] for k, start in enumerate(starts)]


def convnet_one_cycle(step, total, base):
    """convnet's LearningRateSchedule::rate_at_step for onecycle (src/train/optim.cpp), transcribed to
    check torch's OneCycleLR against it step by step."""
    anneal = lambda start, end, fraction: end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * fraction))
    initial = base / RECIPE["div_factor"]
    final = initial / RECIPE["final_div_factor"]
    warm_end, last = RECIPE["pct_start"] * total - 1.0, total - 1.0
    if step <= warm_end:
        return anneal(initial, base, step / warm_end if warm_end > 0 else 1.0)
    return anneal(base, final, (step - warm_end) / max(last - warm_end, 1e-300))


def confusion_figures(confusion):
    """(mean IoU, pixel accuracy, per-class IoU with None for a class absent from both) of a
    (true, predicted) pixel confusion matrix."""
    confusion = confusion.astype(np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(1) + confusion.sum(0) - true_positive
    iou = [float(tp / u) if u > 0 else None for tp, u in zip(true_positive, union)]
    present = [value for value in iou if value is not None]
    total = confusion.sum()
    return (sum(present) / len(present) if present else float("nan"), float(true_positive.sum() / total) if total else 0.0, iou)


def evaluate(torch, network, images, masks, classes, batch=100):
    """Eval mode over the whole split: (test loss, mean IoU, pixel accuracy, per-class IoU)."""
    import torch.nn.functional as F
    network.eval()
    confusion = np.zeros(classes * classes, dtype=np.int64)
    loss_sum, counted = 0.0, 0
    with torch.no_grad():
        for first in range(0, images.shape[0], batch):
            x = torch.from_numpy(images[first:first + batch]).unsqueeze(1).float().div_(255.0)
            y = torch.from_numpy(masks[first:first + batch]).long()
            logits = network(x)
            labelled = int((y != IGNORE_INDEX).sum())
            loss_sum += float(F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum"))
            counted += labelled
            predicted = logits.argmax(1)
            keep = y != IGNORE_INDEX
            confusion += np.bincount((y[keep] * classes + predicted[keep]).numpy(), minlength=classes * classes)
    miou, pixel_accuracy, iou = confusion_figures(confusion.reshape(classes, classes))
    return loss_sum / max(counted, 1), miou, pixel_accuracy, iou


def train_torch(args, train, test, classes):
    """The recipe in PyTorch; returns the per-epoch records and a summary."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    network, sample = build_network(os.path.join(ROOT, RECIPE["model"]))
    train_images, train_masks = train
    test_images, test_masks = test
    if tuple(sample) != (1,) + train_images.shape[1:]:
        sys.exit(f"segment_parity: {RECIPE['model']} takes {sample}, the data is 1x{train_images.shape[1]}x{train_images.shape[2]}")
    outputs = network.eval()(torch.zeros((1,) + tuple(sample))).shape[1]
    if outputs < classes:
        sys.exit(f"segment_parity: {RECIPE['model']} scores {outputs} classes, the data has {classes}")
    optimizer = torch.optim.Adam(network.parameters(), lr=RECIPE["lr"], betas=RECIPE["betas"], eps=RECIPE["eps"])
    per_epoch = steps_per_epoch(train_images.shape[0], RECIPE["batch"])
    total = per_epoch * args.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=RECIPE["lr"], total_steps=total, pct_start=RECIPE["pct_start"], anneal_strategy="cos",
        div_factor=RECIPE["div_factor"], final_div_factor=RECIPE["final_div_factor"], cycle_momentum=False, three_phase=False)
    generator = torch.Generator().manual_seed(args.seed)
    records, schedule_error, step = [], 0.0, 0
    print(f"pytorch {torch.__version__}: {args.epochs} epochs of {per_epoch} steps, {args.threads} threads, seed {args.seed}",
          flush=True)
    for epoch in range(1, args.epochs + 1):
        network.train()
        start = time.perf_counter()
        loss_sum, correct, labelled = 0.0, 0, 0
        order = torch.randperm(train_images.shape[0], generator=generator).numpy()
        for indices in batches(order, RECIPE["batch"]):
            rate = optimizer.param_groups[0]["lr"]
            expected = convnet_one_cycle(step, total, RECIPE["lr"])
            schedule_error = max(schedule_error, abs(rate - expected) / expected)
            x = torch.from_numpy(train_images[indices]).unsqueeze(1).float().div_(255.0)
            y = torch.from_numpy(train_masks[indices]).long()
            logits = network(x)
            loss = F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            with torch.no_grad():
                keep = y != IGNORE_INDEX
                count = int(keep.sum())
                loss_sum += float(loss) * len(indices)  # as convnet's train_loss: the batches' means, by images
                correct += int((logits.argmax(1)[keep] == y[keep]).sum())
                labelled += count
        seconds = time.perf_counter() - start
        eval_start = time.perf_counter()
        test_loss, miou, pixel_accuracy, iou = evaluate(torch, network, test_images, test_masks, outputs)
        record = {"epoch": epoch, "train_loss": loss_sum / train_images.shape[0], "train_pixel_accuracy": correct / max(labelled, 1),
                  "test_loss": test_loss, "test_pixel_accuracy": pixel_accuracy, "test_miou": miou, "test_iou": iou,
                  "epoch_seconds": seconds, "eval_seconds": time.perf_counter() - eval_start,
                  "images_per_second": train_images.shape[0] / seconds}
        records.append(record)
        print(f"  pytorch epoch {epoch}: train loss {record['train_loss']:.4f}, pixel acc {record['train_pixel_accuracy']:.4f} | "
              f"test loss {test_loss:.4f}, pixel acc {pixel_accuracy:.4f}, mIoU {miou:.4f} | {seconds:.1f} s "
              f"({record['images_per_second']:.0f} images/s), eval {record['eval_seconds']:.1f} s", flush=True)
    return records, {"torch": torch.__version__, "steps": total, "schedule_max_relative_difference": schedule_error}


def run_convnet(args, classes):
    """convnet's command of the recipe; its per-epoch records from its --metrics file."""
    metrics = os.path.join(args.work_dir, "segment-parity-convnet.jsonl")
    weights = os.path.join(args.work_dir, "segment-parity-convnet.safetensors")
    log_path = os.path.join(args.work_dir, "segment-parity-convnet.log")
    if os.path.exists(metrics):
        os.remove(metrics)  # convnet appends to what is there
    command = [args.convnet, "train", "--model", RECIPE["model"], "--data", args.data, "--epochs", str(args.epochs),
               "--batch", str(RECIPE["batch"]), "--lr", str(RECIPE["lr"]), "--schedule", "onecycle", "--seed", str(args.seed),
               "--threads", str(args.threads), "--metrics", metrics, "--save", weights]
    print(f"convnet: {' '.join(command)}  (output in {log_path})", flush=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        with open(log_path, errors="replace") as log:
            tail = log.read()[-3000:]
        sys.exit(f"segment_parity: convnet failed (exit {result.returncode}):\n{tail}")
    with open(metrics) as file:
        records = [json.loads(line) for line in file if line.strip()]
    for record in records:
        print(f"  convnet epoch {record['epoch']}: train loss {record['train_loss']:.4f}, pixel acc "
              f"{record['train_pixel_accuracy']:.4f} | test loss {record['test_loss']:.4f}, pixel acc "
              f"{record['test_pixel_accuracy']:.4f}, mIoU {record['test_miou']:.4f} | {record['epoch_seconds']:.1f} s "
              f"({record['images_per_second']:.0f} images/s)", flush=True)
    return records, {"command": command, "wall_seconds": wall, "weights": weights}


def cross_evaluate(weights, test, classes):
    """convnet's final weights (its --save file) loaded into the PyTorch network and evaluated by
    this script's metric: the same figures as convnet's own last evaluation when the eval-mode
    forward (batch norm's running statistics) and the metric agree, whatever training did."""
    import torch
    network, _ = build_network(os.path.join(ROOT, RECIPE["model"]))
    state, _ = import_script("torch_safetensors").load_safetensors(weights)
    network.load_state_dict(state, strict=True)
    _, miou, pixel_accuracy, _ = evaluate(torch, network, test[0], test[1], classes)
    return miou, pixel_accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "m2nist"))
    parser.add_argument("--convnet", help="convnet's binary (e.g. build/convnet): run its recipe too and compare")
    parser.add_argument("--train-images", type=int, default=0,
                        help="PyTorch only: the first N training images (a harness check; default all)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest |Δ test mIoU| accepted (default 0.01)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where the decoded PNGs are kept; 'none': nowhere")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, "build"), help="where convnet's metrics and log go")
    args = parser.parse_args()
    if args.epochs < 1 or args.threads < 1:
        sys.exit("segment_parity: expected --epochs >= 1 and --threads >= 1")
    if not is_segmentation_folder(args.data):
        sys.exit(f"segment_parity: {args.data} holds no train/images and train/masks (try `make m2nist`)")
    if args.convnet and not os.access(args.convnet, os.X_OK):
        sys.exit(f"segment_parity: {args.convnet} is not an executable (try `make build`)")
    os.makedirs(args.work_dir, exist_ok=True)
    cache_dir = None if args.cache_dir == "none" else args.cache_dir
    start = time.perf_counter()
    train_images, train_masks, names = load_segmentation_split(args.data, "train", cache_dir)
    test_images, test_masks, _ = load_segmentation_split(args.data, "test", cache_dir)
    if args.train_images > 0:
        if args.convnet:
            sys.exit("segment_parity: --train-images is for the PyTorch side alone (convnet trains on the whole split)")
        train_images, train_masks = train_images[:args.train_images], train_masks[:args.train_images]
    print(f"{args.data}: {train_images.shape[0]} train and {test_images.shape[0]} test images of "
          f"{train_images.shape[1]}x{train_images.shape[2]}, {len(names)} classes ({time.perf_counter() - start:.1f} s to read)",
          flush=True)

    convnet_records = convnet_info = None
    if args.convnet:  # first, so that a missing or failing build shows before minutes of PyTorch
        convnet_records, convnet_info = run_convnet(args, len(names))
    torch_records, torch_info = train_torch(args, (train_images, train_masks), (test_images, test_masks), len(names))
    if torch_info["schedule_max_relative_difference"] > 1e-9:
        print(f"warning: torch's OneCycleLR differs from convnet's onecycle formula by up to "
              f"{torch_info['schedule_max_relative_difference']:.2e} (relative)", flush=True)

    summary = {"system": "pytorch", **torch_info, "epochs": args.epochs, "threads": args.threads, "seed": args.seed,
               "recipe": RECIPE, "data": args.data, "per_epoch": torch_records,
               "test_miou": torch_records[-1]["test_miou"], "test_pixel_accuracy": torch_records[-1]["test_pixel_accuracy"],
               # The best epoch's: other work on the machine only ever slows an epoch down.
               "images_per_second": max(r["images_per_second"] for r in torch_records)}
    failed = False
    if convnet_records:
        last = convnet_records[-1]
        delta = summary["test_miou"] - last["test_miou"]
        failed = not abs(delta) <= args.tolerance
        convnet_rate = max(r["images_per_second"] for r in convnet_records)
        cross_miou, cross_accuracy = cross_evaluate(convnet_info["weights"], (test_images, test_masks),
                                                    len(torch_records[-1]["test_iou"]))
        convnet_info["evaluated_by_pytorch"] = {"test_miou": cross_miou, "test_pixel_accuracy": cross_accuracy}
        summary["convnet"] = {**convnet_info, "per_epoch": convnet_records, "test_miou": last["test_miou"],
                              "test_pixel_accuracy": last["test_pixel_accuracy"], "images_per_second": convnet_rate}
        summary["delta_miou"] = delta
        summary["within_tolerance"] = not failed
        print()
        print(f"{'epoch':>5}  {'convnet mIoU':>12}  {'pytorch mIoU':>12}  {'Δ':>7}  {'convnet px acc':>14}  {'pytorch px acc':>14}  "
              f"{'convnet s':>9}  {'pytorch s':>9}")
        for ours, theirs in zip(convnet_records, torch_records):
            print(f"{ours['epoch']:>5}  {ours['test_miou']:>12.4f}  {theirs['test_miou']:>12.4f}  "
                  f"{theirs['test_miou'] - ours['test_miou']:>+7.4f}  {ours['test_pixel_accuracy']:>14.4f}  "
                  f"{theirs['test_pixel_accuracy']:>14.4f}  {ours['epoch_seconds']:>9.1f}  {theirs['epoch_seconds']:>9.1f}")
        print(f"training images/s (the best epoch, {args.threads} threads; rough on a shared machine): convnet "
              f"{convnet_rate:.0f}, pytorch {summary['images_per_second']:.0f} ({convnet_rate / summary['images_per_second']:.2f}×)")
        print(f"convnet's final weights evaluated by this script in PyTorch: mIoU {cross_miou:.4f}, pixel acc "
              f"{cross_accuracy:.4f} (convnet's own evaluation: {last['test_miou']:.4f}, {last['test_pixel_accuracy']:.4f})")
        if abs(cross_miou - last["test_miou"]) > 1e-3:
            print("warning: convnet's evaluation and this one disagree on the same weights: the metric or the eval-mode "
                  "forward differs", flush=True)
        print(f"test mIoU after {args.epochs} epochs: pytorch − convnet = {delta:+.4f} "
              f"({'within' if not failed else 'OUTSIDE'} ±{args.tolerance:g})")
    print(json.dumps(summary), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
