"""`convnet explain` in a real browser: Debian's Chromium, headless, with every host name resolving
to nothing, loads each page from file:// with #selftest, which makes the page click its neurons
and write a JSON report into <pre id="selftest"> (read back with --dump-dom). Checked per page:
no console message at all (Chromium's log of the page console), no error caught by the page, no
resource loaded (the page's Resource Timing) and no request started by the page (Chromium's net
log: only the browser's own background requests, all refused, may appear), every <img> decoded,
every neuron's arithmetic recomputed in JS equal to the stored activation, and the probabilities
shown equal to `convnet predict --json`'s within 1e-6. convnet1 trained for one epoch on a
Fashion-MNIST subset (with --data and --metrics, at most 3 MB); models/ resnet-fmnist (add),
unet-small (concat, transposed convolution, per-pixel scores), lenet5 and cifar-example (3
channels) with seeded random weights and a colour PNG; unet-m2nist trained for one epoch on a tiny
generated M2NIST set (make-m2nist beside CONVNET, from SOURCE_DIR/data/mnist), with --data: for
it and unet-small, each class map read back from its canvas equal to the embedded one, to the
argmax recomputed in JS and (unet-m2nist) to `convnet predict --json`'s class shares, the truth
mask drawn, and real clicks on the maps opening the pixel's probabilities, summing to 1. A tiny
detector (TINY_DETECTOR below) trained for a few epochs on 200 generated digit canvases
(make-digit-boxes beside CONVNET) and shown a canvas file and three test images: the embedded
detections equal to `convnet predict --json`'s and the true boxes to the label files, every box
drawn where the data puts it, the objectness heat map equal to σ of the head's raw objectness,
the overlay's toggle, real clicks on the heat map and on detections opening the cell's decoding
(recomputed in JS equal to decode_cell's) and drawing its box, and the mAP curves. A
screenshot of convnet1's page and the pages themselves are left in WORK as the test's artefacts.
usage: test_explain.py CONVNET SOURCE_DIR ONNX_HELPER WORK   (standard library only; 77: skipped)
"""
import base64
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

from idx_subset import write_subset  # beside this script

TRAIN_IMAGES, TEST_IMAGES = 6000, 1000
LARGEST_PAGE = 3 * 1024 * 1024
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", "--window-size=1280,2000"]


def write_rgb_png(path, width, height):
    """A colour picture (a gradient with a bright square), 8-bit RGB, written with zlib alone."""
    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            inside = width // 4 <= x < 3 * width // 4 and height // 4 <= y < 3 * height // 4
            row += bytes([250, 240, 60] if inside else [x * 255 // width, y * 255 // height, 90])
        rows += bytes(row)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
                   chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def write_grey_png(path, width, height, pixel):
    """An 8-bit grey PNG of pixel(x, y), written with zlib alone."""
    rows = b"".join(bytes([0] + [pixel(x, y) for x in range(width)]) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
                   chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def page_requests(net_log):
    """The URL requests Chromium's net log shows the page starting (the browser's own background
    requests carry the initiator 'not an origin')."""
    with open(net_log) as file:
        text = file.read()
    try:
        log = json.loads(text)
    except ValueError:  # a log cut short when the browser exits: close it as Chromium would
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {value: key for key, value in log["constants"]["logEventTypes"].items()}
    requests = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            if params.get("initiator") != "not an origin":
                requests.append(params["url"])
    return requests


def load_in_chromium(chromium, page, work, name):
    """The page's self-test report, the console lines Chromium logged, and the page's requests."""
    profile, net_log = os.path.join(work, f"profile-{name}"), os.path.join(work, f"{name}.netlog.json")
    shutil.rmtree(profile, ignore_errors=True)
    result = subprocess.run([chromium] + CHROMIUM_FLAGS + [f"--user-data-dir={profile}", f"--log-net-log={net_log}", "--dump-dom",
                             "file://" + os.path.abspath(page) + "#selftest"], capture_output=True, text=True, timeout=120)
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    match = re.search(r'<pre id="selftest">(.*?)</pre>', result.stdout, re.S)
    if not match:
        raise AssertionError(f"{name}: the page wrote no self-test report (chromium exit {result.returncode}); stderr:\n" +
                             result.stderr[-2000:])
    return json.loads(html.unescape(match.group(1))), console, page_requests(net_log)


def check_page(chromium, page, work, name, image_count, expected_probabilities, failures):
    size = os.path.getsize(page)
    report, console, requests = load_in_chromium(chromium, page, work, name)
    problems = []
    if console:
        problems.append(f"{len(console)} console messages: {console[:3]}")
    if report["errors"]:
        problems.append(f"errors on the page: {report['errors'][:3]}")
    if report["resources"]:
        problems.append(f"resources loaded: {report['resources'][:3]}")
    if requests:
        problems.append(f"network requests by the page: {requests[:3]}")
    if len(report["images"]) != image_count or any(image["naturalWidth"] <= 0 for image in report["images"]):
        problems.append(f"images not all decoded (expected {image_count}): {report['images']}")
    explained = [n for n in report["neurons"] if n["explained"]]
    wrong = [n for n in explained if not n["ok"] or abs(n["computed"] - n["stored"]) > 1e-3 * (1 + abs(n["stored"]))]
    if wrong:
        problems.append(f"{len(wrong)} neurons whose arithmetic differs from the stored value: {wrong[:3]}")
    clicks = [c for c in report["clicks"] if c["layer"] != "input" and c["computed"] is not None]
    if not clicks or any(c["ok"] != "true" or not c["open"] for c in clicks):
        problems.append(f"clicked neurons: {report['clicks'][:4]}")
    worst = 0.0
    for expected in expected_probabilities:
        shown = [p["probability"] for p in report["probabilities"] if p["image"] == expected["image"] and p["class"] == expected["class"]]
        if len(shown) != 1:
            problems.append(f"no probability shown for image {expected['image']} class {expected['class']}")
            break
        worst = max(worst, abs(shown[0] - expected["probability"]))
    if worst > 1e-6:
        problems.append(f"probabilities differ from convnet predict's by up to {worst:.3g}")
    unexplained = sorted({n["type"] for n in report["neurons"] if not n["explained"]})
    print(f"{name}: {size / 1024:.0f} KiB, {len(report['images'])} images decoded, {report['canvases']} canvases, {len(explained)} neurons "
          f"recomputed ({len(clicks)} by clicks), {len(expected_probabilities)} probabilities within {worst:.2g} of predict's; "
          f"console {len(console)}, errors {len(report['errors'])}, resources {len(report['resources'])}, page requests {len(requests)}"
          + (f"; value only: {', '.join(unexplained)}" if unexplained else ""))
    failures += [f"{name}: {problem}" for problem in problems]
    return report


def check_segmentation(report, name, image_count, classes, with_truth, expected_shares, ignored, failures):
    """The class maps as the page drew them (report["segmentation"], see segmentationSelfTest in
    src/inspect/explain_page.h) and the pixels clicked on them. expected_shares: per image {class: share}
    from `convnet predict --json`, or None; ignored: {image: pixels of its mask that are 255}."""
    segmentation = report.get("segmentation")
    if segmentation is None:
        failures.append(f"{name}: no segmentation report: the page drew no class map")
        return
    problems, maps = [], segmentation["maps"]
    if len(maps) != image_count:
        problems.append(f"{len(maps)} class maps for {image_count} images")
    worst_share = 0.0
    for entry in maps:
        image, drawn = entry["image"], entry["predicted"]
        if drawn is None or drawn["shown_width"] <= 0:
            problems.append(f"image {image}: no predicted class map shown")
            continue
        if drawn["unknown_colours"] or drawn["differ"]:
            problems.append(f"image {image}: the drawn class map has {drawn['unknown_colours']} pixels not in the palette and "
                            f"{drawn['differ']} pixels other than the embedded map")
        if entry["argmax_differ"]:
            problems.append(f"image {image}: {entry['argmax_differ']} pixels where the embedded class map is not the argmax of the scores")
        if with_truth != entry["has_truth"] or with_truth != (entry["truth"] is not None):
            problems.append(f"image {image}: truth mask {'missing' if with_truth else 'shown for an image without one'}")
        elif entry["truth"] and (entry["truth"]["unknown_colours"] or entry["truth"]["differ"] or entry["truth"]["shown_width"] <= 0):
            problems.append(f"image {image}: the truth mask as drawn differs from the dataset's: {entry['truth']}")
        elif entry["truth"] and entry["truth"]["counts"].get("255", 0) != ignored.get(image, 0):
            problems.append(f"image {image}: {entry['truth']['counts'].get('255', 0)} pixels drawn in the ignore colour, expected {ignored.get(image, 0)}")
        if entry["legend_rows"] != classes + (1 if ignored.get(image) else 0):
            problems.append(f"image {image}: {entry['legend_rows']} legend rows for {classes} classes" + (" and ignore" if ignored.get(image) else ""))
        if expected_shares is not None:
            pixels = drawn["width"] * drawn["height"]
            shares = {int(c): n / pixels for c, n in drawn["counts"].items()}
            for c in set(shares) | set(expected_shares[image]):
                worst_share = max(worst_share, abs(shares.get(c, 0.0) - expected_shares[image].get(c, 0.0)))
    if worst_share > 1e-3:  # a few pixels: predict normalises its input in another order
        problems.append(f"class shares differ from convnet predict's by up to {worst_share:.3g}")
    pixels = segmentation["pixels"]
    clicked_maps = {(p["image"], p["map"]) for p in pixels}
    for image in range(image_count):
        for canvas in ["class-map"] + (["truth-map"] if with_truth else []):
            if (image, canvas) not in clicked_maps:
                problems.append(f"image {image}: no click on #{canvas}")
        if ignored.get(image) and not any(p["image"] == image and p["truth"] == 255 for p in pixels):
            problems.append(f"image {image}: no click on a pixel without a class (255)")
    good = 0
    for pixel in pixels:
        total = sum(pixel["probabilities"])
        if (not pixel["open"] or pixel["layer"] != "pixel" or pixel["index"] != pixel["expected_index"] or pixel["ok"] != "true" or
                pixel["sum"] is None or abs(pixel["sum"] - 1) > 1e-6 or abs(total - 1) > 1e-5 or pixel["classes"] != classes):
            problems.append(f"clicked pixel: {pixel}")
        else:
            good += 1
    print(f"{name}: {len(maps)} class maps ({'with' if with_truth else 'without'} truth, {sum(ignored.values())} ignored pixels), "
          f"{len(pixels)} pixels clicked, {good} with probabilities summing to 1" +
          (f", class shares within {worst_share:.2g} of predict's" if expected_shares is not None else ""))
    failures += [f"{name}: {problem}" for problem in problems[:6]]


# A detector small enough to train in about a second: 96x96 canvases, a 12x12 grid of 8-pixel cells.
TINY_DETECTOR = """input 1x96x96
conv2d out=8 kernel=3 pad=1 stride=2
batchnorm2d
relu
maxpool2d kernel=2
conv2d out=16 kernel=3 pad=1
batchnorm2d
relu
maxpool2d kernel=2
conv2d out=16 kernel=3 pad=1
relu
detect classes=10
"""


def embedded_data(page):
    """The page's JSON data block (explain.cpp writes "</" as "<\\/" inside it)."""
    with open(page, encoding="utf-8") as file:
        match = re.search(r'<script type="application/json" id="data">(.*?)</script>', file.read(), re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def yolo_boxes(label_file, width, height):
    """A label file's `class cx cy w h` lines as [class, [x1, y1, x2, y2]] in pixels, clipped as convnet clips them."""
    boxes = []
    with open(label_file) as file:
        for line in file:
            if line.strip():
                c, cx, cy, w, h = (float(v) for v in line.split())
                corners = [max(0.0, cx - w / 2) * width, max(0.0, cy - h / 2) * height, min(1.0, cx + w / 2) * width, min(1.0, cy + h / 2) * height]
                boxes.append([int(c), corners])
    return boxes


def check_detection(report, data, name, expected, failures):
    """A detector's page: `data` its embedded JSON, `expected` per image {"detections": predict --json's,
    "truth": [[class, box]] or None}; report["detection"] as detectionSelfTest (src/inspect/explain_page.h) wrote it."""
    problems = []
    if not data.get("detects") or data.get("segments") or data.get("classifies"):
        problems.append(f"the page does not take the model for a detector: detects {data.get('detects')}, segments {data.get('segments')}")
    grid = data["detection"]["grid"] if data.get("detection") else None
    if grid != [12, 12] or data["detection"]["score_threshold"] != 0.25 or data["detection"]["iou_threshold"] != 0.5:
        problems.append(f"detection settings: {data.get('detection')}")
    for i, (image, wanted) in enumerate(zip(data["images"], expected)):
        found, predict = image["detections"], wanted["detections"]
        if len(found) != len(predict) or any(a["class"] != b["class"] or abs(a["score"] - b["score"]) > 1e-4 or
                                              max(abs(x - y) for x, y in zip(a["box"], b["box"])) > 1e-3 for a, b in zip(found, predict)):
            problems.append(f"image {i}: detections {found[:3]} differ from convnet predict's {predict[:3]}")
        truth = image["truth_boxes"]
        if (truth is None) != (wanted["truth"] is None):
            problems.append(f"image {i}: true boxes {'missing' if truth is None else 'given for an image file'}")
        elif truth is not None and (len(truth) != len(wanted["truth"]) or any(
                t["class"] != c or max(abs(x - y) for x, y in zip(t["box"], box)) > 1e-3 for t, (c, box) in zip(truth, wanted["truth"]))):
            problems.append(f"image {i}: true boxes {truth} differ from the label file's {wanted['truth']}")
        if len(base64.b64decode(image["objectness"])) != 4 * 144 or len(base64.b64decode(image["cells"])) != 4 * 144 * 15:
            problems.append(f"image {i}: the objectness map or the decoded cells are not 144 cells of 1 and 15 floats")
    drawn = report.get("detection")
    if drawn is None:
        failures.append(f"{name}: no detection report: the page drew no boxes")
        return
    if len(drawn["images"]) != len(expected):
        problems.append(f"{len(drawn['images'])} detection views for {len(expected)} images")
    for entry, wanted in zip(drawn["images"], expected):
        i, truths = entry["image"], None if wanted["truth"] is None else len(wanted["truth"])
        if entry["drawn_detections"] != entry["detections"] or not entry["drawn_match"] or entry["listed"] != entry["detections"]:
            problems.append(f"image {i}: {entry['drawn_detections']} boxes drawn and {entry['listed']} listed for {entry['detections']} "
                            f"detections (drawn where the data puts them: {entry['drawn_match']})")
        if entry["truths"] != truths or entry["drawn_truths"] != (truths or 0):
            problems.append(f"image {i}: {entry['drawn_truths']} true boxes drawn, {entry['truths']} embedded, {truths} in the label file")
        if entry["cells"] != 144 or entry["grid"] != [12, 12] or entry["shown_width"] <= 0:
            problems.append(f"image {i}: objectness map of {entry['cells']} cells, canvas {entry['grid']}, shown {entry['shown_width']} px wide")
        if entry["sigmoid_differ"] or entry["heat_differ"]:
            problems.append(f"image {i}: {entry['sigmoid_differ']} cells whose objectness is not σ of the head's raw score, "
                            f"{entry['heat_differ']} drawn in another colour")
        if not entry["toggled"]:
            problems.append(f"image {i}: the objectness overlay's checkbox does not show or hide it")
    if not any(entry["detections"] for entry in drawn["images"]):
        problems.append("no image has a detection (score ≥ 0.25): nothing to draw; train the detector longer")
    good = 0
    for cell in drawn["cells"]:
        box, shown = cell["box"], cell["drawn_box"]
        if (not cell["open"] or cell["layer"] != "cell" or cell["ok"] != "true" or (cell["row"], cell["column"]) != (cell["expected_row"], cell["expected_column"]) or
                shown is None or box is None or max(abs(a - b) for a, b in zip(shown, [box[0], box[1], box[2] - box[0], box[3] - box[1]])) > 1e-9 or
                cell["objectness"] is None or abs(cell["objectness"] - cell["stored_objectness"]) > 1e-6 or cell["classes_shown"] != 5 or
                (cell["detection"] is not None and cell["kept"] != cell["detection"])):
            problems.append(f"clicked cell: {cell}")
        else:
            good += 1
    for i in range(len(expected)):
        if not any(cell["image"] == i and cell["target"] == "heat map" for cell in drawn["cells"]):
            problems.append(f"image {i}: no click on the objectness map")
    curves = {curve["title"]: curve["keys"] for curve in report.get("curves", [])}
    if curves.get("mAP") != ["test_map50", "test_map"]:
        problems.append(f"no mAP curve of test_map50 and test_map: curves {curves}")
    print(f"{name}: {sum(e['detections'] for e in drawn['images'])} detections and {sum(e['drawn_truths'] for e in drawn['images'])} true boxes "
          f"drawn over {len(drawn['images'])} images, equal to predict's and the label files'; {len(drawn['cells'])} cells clicked, "
          f"{good} decoded as decode_cell does with their box drawn; curves {', '.join(curves)}")
    failures += [f"{name}: {problem}" for problem in problems[:8]]


def predicted(convnet, weights, arguments):
    """convnet predict --json's probabilities as [{image, class, probability}], every class."""
    output = subprocess.run([convnet, "predict", "--weights", weights, "--json", "--top", "1000"] + arguments, check=True,
                            capture_output=True, text=True).stdout
    return [{"image": i, "class": entry["class"], "probability": entry["probability"]}
            for i, image in enumerate(json.loads(output)["images"]) for entry in image["top"]]


def main():
    convnet, source_dir, helper, work = sys.argv[1:5]
    chromium = shutil.which("chromium")
    if chromium is None:
        print("skipped: no chromium (Debian's package `chromium`; `make test` installs it)")
        return 77
    data_source = os.path.join(source_dir, "data", "fashion-mnist")
    if not os.path.exists(os.path.join(data_source, "train-images-idx3-ubyte.gz")):
        print(f"skipped: no Fashion-MNIST in {data_source} (make data)")
        return 77
    os.makedirs(work, exist_ok=True)
    failures = []
    data = os.path.join(work, "data")
    write_subset(data_source, data, TRAIN_IMAGES, TEST_IMAGES)

    # convnet1, trained briefly: the test split's images, accuracy and the training curves.
    weights, metrics, page = (os.path.join(work, name) for name in ("convnet1.safetensors", "convnet1.jsonl", "convnet1.html"))
    if os.path.exists(metrics):
        os.remove(metrics)
    subprocess.run([convnet, "train", "--model", os.path.join(source_dir, "models", "convnet1.model"), "--data", data, "--epochs", "1",
                    "--threads", "1", "--seed", "1", "--save", weights, "--metrics", metrics], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([convnet, "explain", "--weights", weights, "--data", data, "--metrics", metrics, "--threads", "1", "-o", page], check=True)
    if os.path.getsize(page) > LARGEST_PAGE:
        failures.append(f"convnet1: the page is {os.path.getsize(page)} bytes, over {LARGEST_PAGE}")
    report = check_page(chromium, page, work, "convnet1", 3, predicted(convnet, weights, ["--data", data, "--index", "0,1,2"]), failures)
    if not any(n["type"] == "conv2d" and n["explained"] for n in report["neurons"]):
        failures.append("convnet1: no convolution's arithmetic was shown")
    screenshot = os.path.join(work, "explain.png")
    subprocess.run([chromium] + CHROMIUM_FLAGS + [f"--user-data-dir={os.path.join(work, 'profile-shot')}", "--hide-scrollbars",
                    f"--screenshot={screenshot}", "file://" + os.path.abspath(page) + "#selftest"], capture_output=True, timeout=120)
    if not os.path.exists(screenshot) or os.path.getsize(screenshot) == 0:
        failures.append("no screenshot written")
    else:
        print(f"screenshot: {screenshot}")

    # Every other model of models/, seeded random weights, one colour PNG of another size.
    picture = os.path.join(work, "colour.png")
    write_rgb_png(picture, 40, 30)
    # A segmentation model's page also shows the picture beside its class map: one more <img>.
    for model in ("resnet-fmnist", "unet-small", "lenet5", "cifar-example"):
        weights, page = os.path.join(work, f"{model}.safetensors"), os.path.join(work, f"{model}.html")
        subprocess.run([helper, "init", os.path.join(source_dir, "models", f"{model}.model"), "7", weights], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([convnet, "explain", "--weights", weights, "--image", picture, "--threads", "1", "-o", page], check=True)
        segments = model == "unet-small"
        report = check_page(chromium, page, work, model, 2 if segments else 1, [] if segments else predicted(convnet, weights, [picture]),
                            failures)
        if segments:
            check_segmentation(report, model, 1, 3, False, None, {}, failures)

    # Segmentation with a dataset: unet-m2nist, one epoch on 40 generated canvases; test images 0 and 1 with their masks,
    # the second mask replaced (in a copy of the set) by a square of class 4 framed by pixels without a class (255).
    make_m2nist, mnist = os.path.join(os.path.dirname(convnet), "make-m2nist"), os.path.join(source_dir, "data", "mnist")
    if not os.path.exists(make_m2nist) or not os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte.gz")):
        print(f"unet-m2nist: skipped (needs {make_m2nist}, built with the project, and MNIST in {mnist}: make data)")
    else:
        data = os.path.join(work, "m2nist")
        subprocess.run([make_m2nist, "--mnist", mnist, "--out", data, "--train", "40", "--test", "8"], check=True, stdout=subprocess.DEVNULL)
        weights, page = os.path.join(work, "unet-m2nist.safetensors"), os.path.join(work, "unet-m2nist.html")
        subprocess.run([convnet, "train", "--model", os.path.join(source_dir, "models", "unet-m2nist.model"), "--data", data, "--epochs", "1",
                        "--batch", "20", "--threads", "1", "--seed", "1", "--cache", "none", "--save", weights], check=True, stdout=subprocess.DEVNULL)
        shown = os.path.join(work, "m2nist-ignore")
        shutil.rmtree(shown, ignore_errors=True)
        shutil.copytree(data, shown)
        frame = lambda x, y: 20 <= x < 60 and 16 <= y < 48
        write_grey_png(os.path.join(shown, "test", "masks", "00001.png"), 84, 64,
                       lambda x, y: (4 if frame(x - 2, y - 2) and frame(x + 2, y + 2) else 255) if frame(x, y) else 0)
        ignored = {1: 40 * 32 - 36 * 28}
        subprocess.run([convnet, "explain", "--weights", weights, "--data", shown, "--index", "0,1", "--cache", "none", "--threads", "1",
                        "-o", page], check=True)
        output = subprocess.run([convnet, "predict", "--weights", weights, "--data", shown, "--index", "0,1", "--cache", "none", "--json",
                                 "-o", os.path.join(work, "unet-m2nist-predict")], check=True, capture_output=True, text=True).stdout
        shares = [{entry["class"]: entry["share"] for entry in image["shares"]} for image in json.loads(output)["images"]]
        report = check_page(chromium, page, work, "unet-m2nist", 3, [], failures)
        check_segmentation(report, "unet-m2nist", 2, 11, True, shares, ignored, failures)

    # Detection: the tiny detector, a few epochs on 200 generated canvases (one epoch leaves every score under predict's 0.25,
    # and nothing to draw), shown a canvas as an image file and test images 0 to 2 with their true boxes.
    make_digit_boxes = os.path.join(os.path.dirname(convnet), "make-digit-boxes")
    if not os.path.exists(make_digit_boxes) or not os.path.exists(os.path.join(mnist, "train-images-idx3-ubyte.gz")):
        print(f"tiny-detector: skipped (needs {make_digit_boxes}, built with the project, and MNIST in {mnist}: make data)")
    else:
        data = os.path.join(work, "digit-boxes")
        subprocess.run([make_digit_boxes, "--mnist", mnist, "--out", data, "--train", "200", "--test", "20"], check=True, stdout=subprocess.DEVNULL)
        model, weights, metrics, page = (os.path.join(work, name) for name in
                                         ("tiny-detector.model", "tiny-detector.safetensors", "tiny-detector.jsonl", "tiny-detector.html"))
        with open(model, "w") as file:
            file.write(TINY_DETECTOR)
        if os.path.exists(metrics):
            os.remove(metrics)
        subprocess.run([convnet, "train", "--model", model, "--data", data, "--epochs", "20", "--lr", "0.01", "--batch", "20", "--threads", "1",
                        "--seed", "1", "--cache", "none", "--save", weights, "--metrics", metrics], check=True, stdout=subprocess.DEVNULL)
        names = sorted(os.listdir(os.path.join(data, "test", "images")))
        canvas = os.path.join(work, "canvas.png")
        shutil.copyfile(os.path.join(data, "test", "images", names[3]), canvas)
        subprocess.run([convnet, "explain", "--weights", weights, "--image", canvas, "--data", data, "--index", "0,1,2", "--metrics", metrics,
                        "--cache", "none", "--threads", "1", "-o", page], check=True)
        predict = lambda arguments: json.loads(subprocess.run([convnet, "predict", "--weights", weights, "--json", "--cache", "none", "-o",
                                                               os.path.join(work, "tiny-detector-predict")] + arguments,
                                                              check=True, capture_output=True, text=True).stdout)["images"]
        shown = predict([canvas]) + predict(["--data", data, "--index", "0,1,2"])
        expected = [{"detections": image["detections"],
                     "truth": None if i == 0 else yolo_boxes(os.path.join(data, "test", "labels", os.path.splitext(names[i - 1])[0] + ".txt"), 96, 96)}
                    for i, image in enumerate(shown)]
        report = check_page(chromium, page, work, "tiny-detector", 5, [], failures)
        check_detection(report, embedded_data(page), "tiny-detector", expected, failures)

    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
