#!/usr/bin/python3
"""ONNX export checked by real consumers (docs/ONNX.md). For every model of models/, plus
tests/reference/resnet-basic.model and tests/models/all-layers.model (every layer type): weights
from `convnet_onnx_helper init` (PyTorch's initialisation, batch norm's statistics at random),
`convnet export --onnx` at opsets 13 and 17, then
  - onnx.checker.check_model(full_check=True) (Debian's python3-onnx);
  - ONNX Runtime (onnxruntime-node in tests/onnx/node_modules, CPU execution provider) on 100
    Fashion-MNIST test images as one batch, and on the first image alone (the symbolic batch);
  - OpenCV's DNN module (Debian's python3-opencv) on the same batch;
each compared with convnet's own outputs (Network::predict, as `convnet predict`) within 1e-5.
Models whose input is not 1x28x28 get the images centre-cropped or zero-padded and repeated over
channels. A detector (a model ending in `detect`, models/detect-digits.model) gets the first 100
test canvases of --detect-data (data/digit-boxes) when that folder exists, and its raw head output
from ONNX Runtime is also decoded by the NumPy `decode` of docs/DETECTION.md's "ONNX export", run
as the page writes it (with torchvision.ops.batched_nms; python3-torchvision), and compared with
the library's own decode_detections of the same output (`convnet_onnx_helper decode`).
Exits 77 (skipped) naming what to install when a consumer is missing; 1 on any failure.

    /usr/bin/python3 scripts/check_onnx.py --convnet build/convnet --helper build/tests/convnet_onnx_helper \
        --data data/fashion-mnist --work build/onnx-check [--detect-data data/digit-boxes]
"""
import argparse
import glob
import gzip
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_SCRIPT = os.path.join(ROOT, "tests", "onnx", "ort.js")
ORT_PACKAGE = os.path.join(ROOT, "tests", "onnx", "node_modules", "onnxruntime-node")
TOLERANCE = 1e-5
IMAGES = 100
OPSETS = (13, 17)
# A detector's decoded detections: evaluation's low score threshold (a network of random weights
# scores about 0.01 at best), and how close the documented decode's boxes (input pixels) must come
# to the library's; the scores are held to TOLERANCE.
DETECT_OPTIONS = {"score_threshold": 0.001, "iou_threshold": 0.5, "max_detections": 100}
DETECT_BOX_TOLERANCE = 1e-3
DETECTION_DOC = os.path.join(ROOT, "docs", "DETECTION.md")
DETECTION_SECTION = "## ONNX export"


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


def is_detector(model):
    """Whether the model file's last layer is a detection head (`detect classes=K`)."""
    with open(model) as file:
        lines = [line.split("#")[0].split() for line in file]
    return [words for words in lines if words][-1][0] == "detect"


def read_detection_images(folder, count):
    """The first `count` test canvases of a detection folder (test/images, by name) as uint8 (N, H, W),
    read by OpenCV as stored (8-bit grey): what convnet's test split holds, in its order."""
    import cv2
    import numpy as np
    images_dir = os.path.join(folder, "test", "images")
    names = sorted(name for name in os.listdir(images_dir) if name.lower().endswith(".png"))[:count]
    images = [cv2.imread(os.path.join(images_dir, name), cv2.IMREAD_UNCHANGED) for name in names]
    if len(images) < count or any(image is None or image.ndim != 2 or image.dtype != np.uint8 for image in images):
        raise RuntimeError(f"{images_dir}: expected {count} 8-bit grey PNGs (make digit-boxes)")
    return np.stack(images)


def documented_decode():
    """The `decode` function of docs/DETECTION.md's "ONNX export" (its first Python block), run as
    written: the decoding and NMS a user of the ONNX file is told to apply, so the page cannot drift
    from what is checked."""
    with open(DETECTION_DOC) as file:
        text = file.read()
    section = text[text.find(DETECTION_SECTION):] if DETECTION_SECTION in text else ""
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    if not blocks:
        raise RuntimeError(f"{DETECTION_DOC}: no Python block under {DETECTION_SECTION!r}")
    namespace = {}
    exec(compile(blocks[0], f"{DETECTION_DOC} ({DETECTION_SECTION})", "exec"), namespace)
    if "decode" not in namespace:
        raise RuntimeError(f"{DETECTION_DOC}: the Python block under {DETECTION_SECTION!r} defines no decode()")
    return namespace["decode"]


def compare_detections(ours, theirs):
    """(max |score difference|, max |box coordinate difference|) over the detections of every image,
    or a text naming the first image whose lists differ in length or classes."""
    score_difference = box_difference = 0.0
    for index, (a, b) in enumerate(zip(ours, theirs)):
        if len(a) != len(b) or [c for c, _, _ in a] != [c for c, _, _ in b]:
            return f"test image {index}: the library found {len(a)} detections (classes {[c for c, _, _ in a][:8]}...), " \
                   f"the decoded ONNX output {len(b)} (classes {[c for c, _, _ in b][:8]}...)"
        for (_, score_a, box_a), (_, score_b, box_b) in zip(a, b):
            score_difference = max(score_difference, abs(score_a - score_b))
            box_difference = max(box_difference, *(abs(x - y) for x, y in zip(box_a, box_b)))
    return score_difference, box_difference


def library_detections(args, work, output, dims, input_height, input_width):
    """decode_detections (the library's decode and batched_nms, as `convnet predict` and evaluation run
    them) on the raw head `output` of dims (N, 5 + K, GH, GW), through `convnet_onnx_helper decode`:
    per image a list of (class, score, [x1, y1, x2, y2])."""
    head_file = os.path.join(work, "head.f32")
    output.astype("float32").tofile(head_file)
    text = run([args.helper, "decode", head_file, ",".join(map(str, dims)), str(input_height), str(input_width),
                str(DETECT_OPTIONS["score_threshold"]), str(DETECT_OPTIONS["iou_threshold"]), str(DETECT_OPTIONS["max_detections"])])
    result = [[] for _ in range(dims[0])]
    for line in text.splitlines():
        image, label, score, *box = line.split()
        result[int(image)].append((int(label), float(score), [float(v) for v in box]))
    return result


def check_decoding(args, work, output, dims, input_height, input_width):
    """(difference, note): docs/DETECTION.md's decode (with torchvision's batched_nms) on ONNX Runtime's
    raw output against the library's decode of the same numbers."""
    import numpy as np
    decoded = documented_decode()(output.reshape(dims), input_height, input_width, **DETECT_OPTIONS)
    theirs = [[(int(c), float(score), [float(v) for v in box]) for box, score, c in zip(*image)] for image in decoded]
    ours = library_detections(args, work, np.asarray(output), dims, input_height, input_width)
    compared = compare_detections(ours, theirs)
    if isinstance(compared, str):
        return float("inf"), compared
    found = sum(len(image) for image in ours)
    note = f"{found} detections alike, scores within {compared[0]:.3g}, boxes within {compared[1]:.3g} px"
    if compared[1] > DETECT_BOX_TOLERANCE:  # the scores are held to TOLERANCE by the caller, the boxes here
        return float("inf"), note + f": boxes differ by more than {DETECT_BOX_TOLERANCE:g} px"
    return compared[0], note


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
    detector = is_detector(model)
    canvases = detector and os.path.isdir(os.path.join(args.detect_data, "test", "images"))
    if detector:
        rows.append((name, "", "input", None, f"the first {IMAGES} test canvases of {os.path.relpath(args.detect_data, ROOT)}"
                     if canvases else f"padded Fashion-MNIST: no {args.detect_data}/test/images (make digit-boxes)"))
        if canvases:
            images = read_detection_images(args.detect_data, IMAGES)
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
        if canvases and ort_batch.size == reference.size:
            try:
                import torchvision  # noqa: F401  (Debian's python3-torchvision, as the NMS reference tests)
            except ImportError:
                rows.append((name, opset, "documented decode + batched_nms", None,
                             "skipped: no torchvision (sudo apt-get install --no-install-recommends python3-torchvision)"))
            else:
                difference, note = check_decoding(args, work, ort_batch, report["output_dims"], *dims[1:])
                rows.append((name, opset, "documented decode + batched_nms", difference, note))

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
    parser.add_argument("--detect-data", default=os.path.join(ROOT, "data", "digit-boxes"),
                        help="a detection folder whose test canvases detectors get (`make digit-boxes`); padded Fashion-MNIST without it")
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
        os.path.join(ROOT, "tests", "reference", "resnet-basic.model"), os.path.join(ROOT, "tests", "models", "all-layers.model")]
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
