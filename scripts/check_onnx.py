#!/usr/bin/python3
"""ONNX export checked by real consumers (docs/ONNX.md). For every model of models/, plus
tests/reference/resnet-basic.model and tests/onnx/all-layers.model (every layer type): weights
from `convnet_onnx_helper init` (PyTorch's initialisation, batch norm's statistics at random),
`convnet export --onnx` at opsets 13 and 17, then
  - onnx.checker.check_model(full_check=True) (Debian's python3-onnx);
  - ONNX Runtime (onnxruntime-node in tests/onnx/node_modules, CPU execution provider) on 100
    Fashion-MNIST test images as one batch, and on the first image alone (the symbolic batch);
  - OpenCV's DNN module (Debian's python3-opencv) on the same batch;
each compared with convnet's own outputs (Network::predict, as `convnet predict`) within 1e-5.
Models whose input is not 1x28x28 get the images centre-cropped or zero-padded and repeated over
channels. Exits 77 (skipped) naming what to install when a consumer is missing; 1 on any failure.

    /usr/bin/python3 scripts/check_onnx.py --convnet build/convnet --helper build/tests/convnet_onnx_helper \
        --data data/fashion-mnist --work build/onnx-check
"""
import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_SCRIPT = os.path.join(ROOT, "tests", "onnx", "ort.js")
ORT_PACKAGE = os.path.join(ROOT, "tests", "onnx", "node_modules", "onnxruntime-node")
TOLERANCE = 1e-5
IMAGES = 100
OPSETS = (13, 17)


def missing_consumers(node):
    """What is not installed, each with how to install it."""
    missing = []
    for module, package in (("numpy", "python3-numpy"), ("onnx", "python3-onnx"), ("cv2", "python3-opencv")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{sys.executable} cannot import {module} (sudo apt-get install --no-install-recommends {package})")
    if shutil.which(node) is None:
        missing.append(f"no `{node}` command (Node.js; `make deps` installs it)")
    if not os.path.isdir(ORT_PACKAGE):
        missing.append(f"{ORT_PACKAGE} is absent (cd tests/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci; `make test` does)")
    return missing


def read_idx_images(data, count):
    """The first `count` test images (count, 28, 28) as uint8, from t10k-images-idx3-ubyte[.gz]."""
    import numpy as np
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        path = os.path.join(data, name)
        if os.path.exists(path):
            with (gzip.open if name.endswith(".gz") else open)(path, "rb") as file:
                raw = file.read()
            magic, number, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in range(0, 16, 4))
            if magic != 2051 or number < count:
                sys.exit(f"check_onnx: {path}: not an IDX image file of at least {count} images (magic {magic}, {number} images)")
            return np.frombuffer(raw, np.uint8, count * rows * cols, 16).reshape(count, rows, cols)
    sys.exit(f"check_onnx: no t10k-images-idx3-ubyte[.gz] in {data} (run `make data`)")


def fit_images(images, channels, height, width):
    """(N, 28, 28) uint8 -> (N, C, H, W) float32 in [0, 1]: centre crop or zero pad, channels repeated."""
    import numpy as np
    n, rows, cols = images.shape
    out = np.zeros((n, height, width), np.float32)
    top, left = (height - rows) // 2, (width - cols) // 2
    source = images[:, max(0, -top):max(0, -top) + min(rows, height), max(0, -left):max(0, -left) + min(cols, width)]
    out[:, max(0, top):max(0, top) + source.shape[1], max(0, left):max(0, left) + source.shape[2]] = source / 255.0
    return np.ascontiguousarray(np.repeat(out[:, None], channels, axis=1))


def run(command):
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {result.returncode}):\n{result.stderr[-2000:]}{result.stdout[-1000:]}")
    return result.stdout


def check_model(args, model, images):
    """Rows (model, opset, consumer, max abs difference or None, note) for one model file."""
    import numpy as np
    import onnx
    import cv2
    name = os.path.splitext(os.path.basename(model))[0]
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    weights = os.path.join(work, f"{name}.weights")
    run([args.helper, "init", model, "1", weights])
    rows = []
    reference = None
    for opset in OPSETS:
        exported = os.path.join(work, f"{name}-opset{opset}.onnx")
        run([args.convnet, "export", "--model", model, "--weights", weights, "--onnx", exported, "--opset", str(opset),
             "--threads", "1"])
        proto = onnx.load(exported)
        onnx.checker.check_model(proto, full_check=True)
        rows.append((name, opset, "onnx.checker (full_check)", None, "passed"))
        dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]]
        batch = fit_images(images, *dims)
        input_file = os.path.join(work, "input.f32")
        batch.tofile(input_file)
        if reference is None:
            reference_file = os.path.join(work, "convnet.f32")
            run([args.helper, "predict", model, weights, input_file, str(len(batch)), reference_file, "1"])
            reference = np.fromfile(reference_file, np.float32)

        ort_file = os.path.join(work, f"ort-opset{opset}.f32")
        report = json.loads(run([args.node, ORT_SCRIPT, "run", exported, input_file, ",".join(map(str, batch.shape)), ort_file,
                                 "1"]).splitlines()[-1])
        ort = np.fromfile(ort_file, np.float32)
        ort_batch, ort_single = ort[:reference.size], ort[reference.size:]
        per_image = reference.size // len(batch)
        rows.append((name, opset, f"ONNX Runtime {report['version']} (batch {len(batch)})",
                     float(np.max(np.abs(ort_batch - reference))) if ort_batch.size == reference.size else float("inf"),
                     f"output {'x'.join(map(str, report['output_dims']))}"))
        rows.append((name, opset, "ONNX Runtime (batch 1)", float(np.max(np.abs(ort_single - reference[:per_image]))), ""))

        net = cv2.dnn.readNetFromONNX(exported)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        net.setInput(batch)
        opencv = np.ascontiguousarray(net.forward(), np.float32).reshape(-1)
        rows.append((name, opset, f"OpenCV DNN {cv2.__version__} (batch {len(batch)})",
                     float(np.max(np.abs(opencv - reference))) if opencv.size == reference.size else float("inf"), ""))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--convnet", required=True, help="the convnet command (build/convnet)")
    parser.add_argument("--helper", required=True, help="build/tests/convnet_onnx_helper")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "fashion-mnist"))
    parser.add_argument("--work", required=True, help="folder for weights, exported models and outputs")
    parser.add_argument("--node", default="node")
    parser.add_argument("--models", nargs="*", help="model files (default: models/*.model and the two test models)")
    args = parser.parse_args()
    missing = missing_consumers(args.node)
    if missing:
        print("check_onnx: skipped, a consumer is missing:\n  " + "\n  ".join(missing))
        return 77
    import cv2
    cv2.setNumThreads(1)
    models = args.models or sorted(glob.glob(os.path.join(ROOT, "models", "*.model"))) + [
        os.path.join(ROOT, "tests", "reference", "resnet-basic.model"), os.path.join(ROOT, "tests", "onnx", "all-layers.model")]
    images = read_idx_images(args.data, IMAGES)
    rows, failures = [], []
    for model in models:
        try:
            rows += check_model(args, model, images)
        except Exception as error:  # the checker's, a runtime's, or a command's: reported per model
            failures.append(f"{os.path.relpath(model, ROOT)}: {type(error).__name__}: {error}")
    print(f"{'model':16} {'opset':>5}  {'consumer':38} {'max |diff|':>11}  note")
    for name, opset, consumer, difference, note in rows:
        shown = "" if difference is None else f"{difference:.3g}"
        bad = difference is not None and not difference <= TOLERANCE
        print(f"{name:16} {opset:>5}  {consumer:38} {shown:>11}  {note}{'  FAIL: above ' + str(TOLERANCE) if bad else ''}")
        if bad:
            failures.append(f"{name} opset {opset}: {consumer} differs from convnet by {shown} (tolerance {TOLERANCE})")
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"{len(models)} models, opsets {OPSETS}, {IMAGES} test images: "
          f"{'all consumers match convnet' if not failures else str(len(failures)) + ' failures'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
