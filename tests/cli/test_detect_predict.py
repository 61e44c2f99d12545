#!/usr/bin/env python3
"""`convnet predict` of a detection model (tools/predict_detect.cpp, docs/DETECTION.md "Predicting"),
end to end on a tiny set: make-digit-boxes writes 200 + 20 canvases, a 6k-parameter detector
(written here) trains for 8 epochs, then predict runs on files and on --data/--index:
  - the text output: a header per image naming it, the count and the size, then one
    `CLASS SCORE X1 Y1 X2 Y2` line per box (a class of classes.txt, the score to 3 decimals and at
    least the threshold, pixels to 1 decimal inside the image), and the PNG it wrote;
  - --json: the fields, the same boxes as the text;
  - NAME.boxes.png is a PNG of the image's size (small ones enlarged as predict says); a test
    image also gets NAME.compare.png, its JSON the true boxes of its label file;
  - boxes go back to the image's pixels: a canvas set in the middle of a 192x96 black picture,
    under --resize center-crop (which then hands the network the canvas itself), gives the
    canvas's boxes moved 48 pixels right; under stretch, boxes inside the wide picture;
  - --score-threshold, --iou-threshold and --max-detections change the count as they should;
  - -o defaults to the current folder;
  - bad options exit 2 with a message, an unreadable image 1, and detection's options are
    refused for a classification model.
Standard-library Python alone; about 5 s on 2 cores.

usage: test_detect_predict.py CONVNET MAKE_DIGIT_BOXES SOURCE_DIR   (77: skipped, no MNIST)
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

failures = []

# A detector small enough to train in a second: 96 -> 12 by three poolings, then the head.
MODEL = """input 1x96x96
conv2d out=8 kernel=3 pad=1
batchnorm2d
relu
maxpool2d kernel=2
conv2d out=16 kernel=3 pad=1
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

HEADER = re.compile(r"^(.+): (\d+) detections? in (\d+)x(\d+) pixels( \((\d+) true box(es)?\))?$")
LINE = re.compile(r"^  (.+) (\d\.\d{3}) (-?\d+\.\d) (-?\d+\.\d) (-?\d+\.\d) (-?\d+\.\d)$")
WROTE = re.compile(r"^  wrote (\S+\.boxes\.png)( and (\S+\.compare\.png) \(truth, prediction\))?$")


def check(what, ok, detail=""):
    print(("ok " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + str(detail)[:2000]))
    if not ok:
        failures.append(what)
    return ok


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)


def write_png(path, width, height, rows, colour=False):
    """rows: `height` byte strings of width (grey) or 3·width (RGB) samples."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + bytes(row) for row in rows))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b""))


def read_grey_png(path):
    """(width, height, rows of bytes) of an 8-bit grey, non-interlaced PNG (as make-digit-boxes writes)."""
    data = open(path, "rb").read()
    at, idat, header = 8, b"", None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert (depth, colour, interlace) == (8, 0, 0), f"{path}: expected an 8-bit grey PNG"
    raw, rows, previous = zlib.decompress(idat), [], bytearray(width)
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(width):
            left = row[x - 1] if x else 0
            up, up_left = previous[x], (previous[x - 1] if x else 0)
            if kind == 1:
                row[x] = (row[x] + left) & 255
            elif kind == 2:
                row[x] = (row[x] + up) & 255
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                row[x] = (row[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 255
        rows.append(row)
        previous = row
    return width, height, rows


def png_size(path):
    """(width, height) from a PNG's header; None when the file is not a PNG."""
    data = open(path, "rb").read(32)
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def parse_text(text):
    """[(name, width, height, truth or None, [(class, score, x1, y1, x2, y2)], boxes_png, compare_png)] of predict's text."""
    images, lines = [], text.splitlines()
    for line in lines:
        if header := HEADER.match(line):
            images.append([header[1], int(header[3]), int(header[4]), int(header[6]) if header[6] else None, [], None, None, int(header[2])])
        elif box := LINE.match(line):
            images[-1][4].append((box[1], float(box[2]), *(float(box[i]) for i in range(3, 7))))
        elif wrote := WROTE.match(line):
            images[-1][5], images[-1][6] = wrote[1], wrote[3]
        else:
            raise ValueError(f"a line predict should not print: {line!r}")
    for image in images:
        if len(image[4]) != image.pop():
            raise ValueError(f"{image[0]}: the header's count differs from the lines")
    return images


def main():
    convnet, make_digit_boxes, source_dir = (os.path.abspath(path) for path in sys.argv[1:4])
    mnist = os.path.join(source_dir, "data", "mnist")
    if not any(os.path.exists(os.path.join(mnist, name)) for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        print(f"skipped: no MNIST in {mnist} (make data)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        def run(*arguments, cwd=None):
            return subprocess.run([convnet, *arguments], capture_output=True, text=True, cwd=cwd)

        def predict(*arguments, cwd=None):
            return run("predict", "--weights", weights, "--threads", "1", *arguments, cwd=cwd)

        boxes = os.path.join(work, "boxes")
        made = subprocess.run([make_digit_boxes, "--mnist", mnist, "--out", boxes, "--train", "200", "--test", "20"], capture_output=True,
                              text=True)
        if not check("make-digit-boxes writes 200 + 20 canvases", made.returncode == 0, made.stderr):
            return 1
        model, weights = os.path.join(work, "tiny.model"), os.path.join(work, "w.safetensors")
        open(model, "w").write(MODEL)
        trained = run("train", "--model", model, "--data", boxes, "--epochs", "8", "--batch", "20", "--lr", "0.01", "--seed", "1",
                      "--threads", "1", "--cache", "none", "--save", weights)
        if not check("a tiny detector trains", trained.returncode == 0 and "mAP@0.5" in trained.stdout, trained.stdout + trained.stderr):
            return 1
        names = open(os.path.join(boxes, "classes.txt")).read().split()

        # Pictures: a test canvas as it is, the canvas in the middle of a 192x96 black picture, and
        # the canvas in colour (red) on a 150x100 RGB picture.
        canvas = os.path.join(boxes, "test", "images", "00000.png")
        width, height, rows = read_grey_png(canvas)
        wide = os.path.join(work, "wide.png")
        write_png(wide, 192, 96, [bytes(48) + bytes(row) + bytes(48) for row in rows])
        colour = os.path.join(work, "colour.png")
        write_png(colour, 150, 100, [b"".join(bytes((v, 0, 0)) for v in bytes(27) + bytes(rows[y]) + bytes(27)) if y < 96 else bytes(450)
                                     for y in range(100)], colour=True)

        # 1. Text, on three files, at a threshold low enough to give boxes.
        out = os.path.join(work, "out")
        result = predict(canvas, wide, colour, "-o", out, "--score-threshold", "0.05")
        if not check("predict on three files", result.returncode == 0, result.stdout + result.stderr):
            return 1
        try:
            images = parse_text(result.stdout)
        except ValueError as error:
            images = []
            check("the text parses", False, f"{error}\n{result.stdout}")
        check("one header per file, with its size", [(i[0], i[1], i[2]) for i in images] ==
              [(canvas, 96, 96), (wide, 192, 96), (colour, 150, 100)], result.stdout)
        check("some boxes at --score-threshold 0.05", sum(len(i[4]) for i in images) > 0, result.stdout)
        for name, image_width, image_height, _, found, boxes_png, _ in images:
            inside = all(0 <= x1 <= x2 <= image_width and 0 <= y1 <= y2 <= image_height for _, _, x1, y1, x2, y2 in found)
            check(f"{os.path.basename(name)}: boxes inside the {image_width}x{image_height} image", inside, found)
            check(f"{os.path.basename(name)}: classes by name, scores from 0.05 to 1, best first",
                  all(c in names and 0.05 <= s <= 1 for c, s, *_ in found) and [s for _, s, *_ in found] == sorted((s for _, s, *_ in found),
                                                                                                                   reverse=True), found)
            scale = max(1, 256 // max(image_width, image_height))
            expected = os.path.join(out, os.path.splitext(os.path.basename(name))[0] + ".boxes.png")
            check(f"{os.path.basename(name)}: wrote a {image_width * scale}x{image_height * scale} PNG", boxes_png == expected and
                  os.path.exists(expected) and png_size(expected) == (image_width * scale, image_height * scale), (boxes_png, expected))

        # 2. JSON: the same boxes, with their fields.
        result = predict(canvas, wide, colour, "-o", out, "--score-threshold", "0.05", "--json")
        try:
            document = json.loads(result.stdout)
        except ValueError:
            document = {}
        check("--json gives one JSON document", result.returncode == 0 and document.get("task") == "detect" and
              document.get("score_threshold") == 0.05 and document.get("iou_threshold") == 0.5 and document.get("max_detections") == 100 and
              document.get("input") == {"channels": 1, "height": 96, "width": 96} and len(document.get("images", [])) == 3, result.stdout[:2000])
        for image, text in zip(document.get("images", []), images):
            detections = image.get("detections", [])
            fields = all(set(d) == {"class", "name", "score", "box"} and isinstance(d["class"], int) and d["name"] == names[d["class"]] and
                         len(d["box"]) == 4 for d in detections)
            check(f"{os.path.basename(image['file'])}: JSON fields file, format, width, height, detections, boxes_png",
                  fields and image["file"] == text[0] and image["format"] == "PNG" and [image["width"], image["height"]] == text[1:3] and
                  image["boxes_png"] == text[5], image)
            same = len(detections) == len(text[4]) and all(
                d["name"] == c and abs(d["score"] - s) <= 0.0005 and all(abs(a - b) <= 0.05 for a, b in zip(d["box"], box))
                for d, (c, s, *box) in zip(detections, text[4]))
            check(f"{os.path.basename(image['file'])}: JSON boxes are the text's", same, (detections, text[4]))

        # 3. Back to the picture's pixels: under center-crop the network sees the canvas itself in the
        # wide picture, so its boxes are the canvas's moved 48 pixels right.
        on_canvas = json.loads(predict(canvas, "-o", out, "--score-threshold", "0", "--json").stdout)["images"][0]["detections"]
        cropped = predict(wide, "-o", out, "--score-threshold", "0", "--json", "--resize", "center-crop")
        in_wide = json.loads(cropped.stdout)["images"][0]["detections"] if cropped.returncode == 0 else []
        def moved_right(a, b):
            """Whether box a (in the wide picture) is box b (on the canvas) 48 pixels right; b's edges
            clipped at the canvas's sides may reach further in the wide picture."""
            return all(abs(p - q) < 1e-3 if i % 2 else p <= 48 + 1e-3 if q == 0 else p >= 144 - 1e-3 if q == 96 else abs(p - q - 48) < 1e-3
                       for i, (p, q) in enumerate(zip(a, b)))

        check("center-crop: boxes of a padded canvas are the canvas's, 48 pixels right", len(in_wide) == len(on_canvas) > 0 and all(
            a["class"] == b["class"] and abs(a["score"] - b["score"]) < 1e-6 and moved_right(a["box"], b["box"])
            for a, b in zip(in_wide, on_canvas)), cropped.stderr + str((in_wide[:3], on_canvas[:3])))
        stretched = json.loads(predict(wide, "-o", out, "--score-threshold", "0", "--json").stdout)["images"][0]["detections"]
        check("stretch: boxes span the wide picture", any(d["box"][2] > 144 for d in stretched) and
              all(0 <= d["box"][0] <= d["box"][2] <= 192 and 0 <= d["box"][1] <= d["box"][3] <= 96 for d in stretched))

        # 4. Test images: the comparison picture, and the true boxes in the JSON.
        result = predict("--data", boxes, "--cache", "none", "--index", "0,3", "-o", out)
        tested = parse_text(result.stdout) if result.returncode == 0 else []
        check("--index: a header per test image with its true count", [(i[0], i[3]) for i in tested] == [
            ("test image 0", len(open(os.path.join(boxes, "test", "labels", "00000.txt")).read().splitlines())),
            ("test image 3", len(open(os.path.join(boxes, "test", "labels", "00003.txt")).read().splitlines()))], result.stdout + result.stderr)
        compare = os.path.join(out, "test-3.compare.png")
        check("--index writes test-N.boxes.png (192x192) and test-N.compare.png (396x212)",
              all(i[6] and os.path.exists(i[6]) for i in tested) and png_size(os.path.join(out, "test-0.boxes.png")) == (192, 192) and
              png_size(compare) == (396, 212), result.stdout)
        result = predict("--data", boxes, "--cache", "none", "--index", "3", "-o", out, "--json")
        image = json.loads(result.stdout)["images"][0] if result.returncode == 0 else {}
        labels = [line.split() for line in open(os.path.join(boxes, "test", "labels", "00003.txt")).read().splitlines()]
        truth = [(int(c), [(float(cx) - float(w) / 2) * 96, (float(cy) - float(h) / 2) * 96, (float(cx) + float(w) / 2) * 96,
                           (float(cy) + float(h) / 2) * 96]) for c, cx, cy, w, h in labels]
        check("--index --json: the true boxes of the label file, in pixels", image.get("test_index") == 3 and
              len(image.get("truth", [])) == len(truth) and all(
                  t["class"] == c and t["name"] == names[c] and all(abs(p - q) < 1e-3 for p, q in zip(t["box"], box))
                  for t, (c, box) in zip(image.get("truth", []), truth)) and image.get("compare_png") == compare, image)

        # 5. The options change the count: all 144 cells at score 0 and IoU 1 (no suppression), cut to 100.
        def count(*options):
            result = predict(canvas, "-o", out, *options)
            return len(parse_text(result.stdout)[0][4]) if result.returncode == 0 else -1

        unsuppressed, default_iou = count("--score-threshold", "0", "--iou-threshold", "1"), count("--score-threshold", "0")
        strict_iou, high_score = count("--score-threshold", "0", "--iou-threshold", "0"), count("--score-threshold", "0.9")
        check(f"thresholds change the count (score 0: {unsuppressed} at IoU 1, {default_iou} at 0.5, {strict_iou} at 0; "
              f"score 0.9: {high_score})", unsuppressed == 100 and strict_iou < default_iou < unsuppressed and high_score < default_iou)
        check("--max-detections 3 keeps 3", count("--score-threshold", "0", "--max-detections", "3") == 3)

        # 6. Without -o the pictures go to the current folder.
        here = os.path.join(work, "here")
        os.makedirs(here)
        result = predict(canvas, cwd=here)
        check("-o defaults to the current folder", result.returncode == 0 and os.listdir(here) == ["00000.boxes.png"], result.stderr)

        # 7. Refusals: usage mistakes exit 2 naming the option, an unreadable image 1, nothing written.
        refused = os.path.join(work, "refused")
        for options, expected in [(["--top", "3"], "--top"), (["--score-threshold", "1.5"], "--score-threshold"),
                                  (["--iou-threshold", "-0.1"], "--iou-threshold"), (["--max-detections", "0"], "--max-detections"),
                                  (["--score-threshold", "nan"], "--score-threshold"), (["--index", "0"], "--index needs --data")]:
            result = predict(canvas, "-o", refused, *options)
            check(f"{' '.join(options)} is refused (exit 2)", result.returncode == 2 and expected in result.stderr and
                  not os.path.exists(refused), result.stderr)
        os.makedirs(os.path.join(work, "other"))
        twin = os.path.join(work, "other", "00000.png")
        write_png(twin, 96, 96, rows)
        result = predict(canvas, twin, "-o", refused)
        check("two images of one name are refused (exit 2)", result.returncode == 2 and "would both be written" in result.stderr, result.stderr)
        result = predict("-o", refused)
        check("no images is refused (exit 2)", result.returncode == 2 and "nothing to predict" in result.stderr, result.stderr)
        broken = os.path.join(work, "broken.png")
        open(broken, "wb").write(b"\x89PNG\r\n\x1a\nnot really")
        result = predict(canvas, broken, "-o", refused)
        check("an unreadable image exits 1 and nothing is written", result.returncode == 1 and "broken.png" in result.stderr and
              not os.path.exists(refused), result.stderr)

        # A classification model refuses detection's options and keeps refusing -o.
        folder = os.path.join(work, "classes")
        for label in ("a", "b"):
            os.makedirs(os.path.join(folder, "train", label))
            os.makedirs(os.path.join(folder, "test", label))
            for i in range(4):
                value = 40 if label == "a" else 200
                for split in ("train", "test"):
                    write_png(os.path.join(folder, split, label, f"{i}.png"), 8, 8, [bytes([value + i] * 8)] * 8)
        classifier_model, classifier = os.path.join(work, "linear.model"), os.path.join(work, "c.safetensors")
        open(classifier_model, "w").write("input 1x8x8\nflatten\nlinear out=2\n")
        result = run("train", "--model", classifier_model, "--data", folder, "--epochs", "1", "--batch", "4", "--threads", "1", "--cache",
                     "none", "--save", classifier)
        if check("a tiny classifier trains", result.returncode == 0, result.stdout + result.stderr):
            image = os.path.join(folder, "test", "a", "0.png")
            for option in ("--score-threshold", "--iou-threshold", "--max-detections"):
                result = run("predict", "--weights", classifier, image, option, "1")
                check(f"a classification model refuses {option} (exit 2)", result.returncode == 2 and "only for a detection model" in result.stderr,
                      result.stderr)
            result = run("predict", "--weights", classifier, image)
            check("a classification model still predicts classes", result.returncode == 0 and re.match(r"^\S+: [ab] [0-9.]+ \| [ab] ",
                                                                                                       result.stdout), result.stdout)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
