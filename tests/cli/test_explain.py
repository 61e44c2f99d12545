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
channels) with seeded random weights and a colour PNG. A screenshot of convnet1's page and the
page itself are left in WORK as the test's artefacts.
usage: test_explain.py CONVNET SOURCE_DIR ONNX_HELPER WORK   (standard library only; 77: skipped)
"""
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
    for model in ("resnet-fmnist", "unet-small", "lenet5", "cifar-example"):
        weights, page = os.path.join(work, f"{model}.safetensors"), os.path.join(work, f"{model}.html")
        subprocess.run([helper, "init", os.path.join(source_dir, "models", f"{model}.model"), "7", weights], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([convnet, "explain", "--weights", weights, "--image", picture, "--threads", "1", "-o", page], check=True)
        expected = [] if model == "unet-small" else predicted(convnet, weights, [picture])
        check_page(chromium, page, work, model, 1, expected, failures)

    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
