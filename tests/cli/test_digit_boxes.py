#!/usr/bin/env python3
"""make-digit-boxes (tools/generators/make_digit_boxes.cpp) on a small set, --train 40 --test 10:
the Darknet/YOLO layout; 96x96 grey 8-bit PNGs; label lines of 5 numbers, classes 0..9, boxes
inside [0, 1] on whole pixels, tight around the ink (every pixel at least 32 inside a box, each
box's edges touching such a pixel) and overlapping at most 20% of the smaller box; the same seed
gives the same bytes at 1 and 2 threads, another seed other bytes, --test changes no train file;
a second run says "up to date", a folder not its own is refused, bad options exit 2 and write
nothing. Standard-library Python alone; a few seconds.

usage: test_digit_boxes.py MAKE_DIGIT_BOXES SOURCE_DIR   (77: skipped, no MNIST)
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

INK = 32  # make_digit_boxes.cpp's kInkThreshold
SIZE = 96
failures = []


def check(what, ok, detail=""):
    print(("ok " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
    if not ok:
        failures.append(what)


def read_grey_png(path):
    """(width, height, rows of bytes) of an 8-bit grey, non-interlaced PNG; raises otherwise."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
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
    if (depth, colour, interlace) != (8, 0, 0):
        raise ValueError(f"{path}: depth {depth}, colour type {colour}, interlace {interlace}; expected 8-bit grey (0), not interlaced")
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


def folder_bytes(folder):
    """Every file under folder (relative path -> bytes)."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder)] = open(path, "rb").read()
    return files


def pixel_boxes(path, text):
    """The label lines as (class, left, top, width, height) in pixels; raises naming the line."""
    boxes = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if len(fields) != 5:
            raise ValueError(f"{path}:{number}: {len(fields)} fields, expected 5: {line!r}")
        digit = int(fields[0])
        cx, cy, w, h = (float(field) for field in fields[1:])
        if not 0 <= digit <= 9:
            raise ValueError(f"{path}:{number}: class {digit}")
        if any(len(field.split(".")[1]) != 6 for field in fields[1:]):
            raise ValueError(f"{path}:{number}: not 6 decimals: {line!r}")
        if not (w > 0 and h > 0 and cx - w / 2 >= -1e-6 and cy - h / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6 and cy + h / 2 <= 1 + 1e-6):
            raise ValueError(f"{path}:{number}: box outside [0, 1]: {line!r}")
        values = [(cx - w / 2) * SIZE, (cy - h / 2) * SIZE, w * SIZE, h * SIZE]
        whole = [round(value) for value in values]
        if max(abs(value - rounded) for value, rounded in zip(values, whole)) > 1e-3:
            raise ValueError(f"{path}:{number}: not on whole pixels: {values}")
        boxes.append((digit, *whole))
    return boxes


def check_set(folder, train, test):
    classes = open(os.path.join(folder, "classes.txt")).read()
    check("classes.txt is 0..9, one a line", classes == "".join(f"{d}\n" for d in range(10)), repr(classes))
    expected = {"classes.txt", ".digit-boxes-args"}
    for split, count in (("train", train), ("test", test)):
        for index in range(count):
            expected |= {f"{split}/images/{index:05d}.png", f"{split}/labels/{index:05d}.txt"}
    present = set(folder_bytes(folder))
    check("the layout: classes.txt, {train,test}/{images,labels}/NNNNN.{png,txt}", present == expected,
          f"missing {sorted(expected - present)[:5]}, extra {sorted(present - expected)[:5]}")
    problems, objects, sides, counts, classes_seen = [], 0, [], set(), set()
    for split, count in (("train", train), ("test", test)):
        for index in range(count):
            image = os.path.join(folder, split, "images", f"{index:05d}.png")
            label = os.path.join(folder, split, "labels", f"{index:05d}.txt")
            try:
                width, height, rows = read_grey_png(image)
                if (width, height) != (SIZE, SIZE):
                    raise ValueError(f"{image}: {width}x{height}, expected {SIZE}x{SIZE}")
                boxes = pixel_boxes(label, open(label).read())
            except (ValueError, OSError, zlib.error) as error:
                problems.append(str(error))
                continue
            objects += len(boxes)
            counts.add(len(boxes))
            for a in range(len(boxes)):
                digit, left, top, w, h = boxes[a]
                classes_seen.add(digit)
                sides.append(max(w, h))
                for b in range(a):
                    _, left2, top2, w2, h2 = boxes[b]
                    across = min(left + w, left2 + w2) - max(left, left2)
                    down = min(top + h, top2 + h2) - max(top, top2)
                    if across > 0 and down > 0 and 100 * across * down > 20 * min(w * h, w2 * h2):
                        problems.append(f"{label}: boxes {b + 1} and {a + 1} overlap by {across * down} pixels, over 20% of the smaller")
                # Tight: ink on each of the box's four edges (each digit's own ink is in the canvas, which keeps the largest value).
                edges = {"top": rows[top][left:left + w], "bottom": rows[top + h - 1][left:left + w],
                         "left": [rows[y][left] for y in range(top, top + h)], "right": [rows[y][left + w - 1] for y in range(top, top + h)]}
                for edge, values in edges.items():
                    if max(values) < INK:
                        problems.append(f"{label}: box {a + 1}'s {edge} edge has no pixel at least {INK}")
            for y in range(SIZE):
                for x in range(SIZE):
                    if rows[y][x] >= INK and not any(left <= x < left + w and top <= y < top + h for _, left, top, w, h in boxes):
                        problems.append(f"{image}: pixel ({x}, {y}) = {rows[y][x]} is ink outside every box")
                        break
    check("PNGs 96x96 grey 8-bit; labels of 5 numbers, classes 0..9, boxes in [0, 1], tight, overlapping at most 20%",
          not problems, "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    check(f"1 to 5 digits a canvas ({sorted(counts)})", counts and min(counts) >= 1 and max(counts) <= 5)
    check(f"every class appears ({sorted(classes_seen)})", classes_seen == set(range(10)))
    # The longer side is drawn from 14..42; the scaling reaches it exactly for all but about 1 digit in 2,000, a pixel off.
    check(f"boxes' longer sides within 14..42 px, give or take a pixel ({min(sides)}..{max(sides)})", 13 <= min(sides) and max(sides) <= 43)
    return objects


def main():
    tool, source_dir = sys.argv[1], sys.argv[2]
    mnist = os.path.join(source_dir, "data", "mnist")
    if not any(os.path.exists(os.path.join(mnist, name)) for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        print(f"skipped: no MNIST in {mnist} (make data)")
        return 77
    with tempfile.TemporaryDirectory() as work:
        def generate(out, *options, threads="2"):
            return subprocess.run([tool, "--mnist", mnist, "--out", os.path.join(work, out), *options], capture_output=True, text=True,
                                  env=dict(os.environ, OMP_NUM_THREADS=threads))

        small = ("--train", "40", "--test", "10")
        first = generate("a", *small, threads="1")
        check("a small set is written", first.returncode == 0, first.stdout + first.stderr)
        if first.returncode != 0:
            return 1
        print(first.stdout.strip())
        objects = check_set(os.path.join(work, "a"), 40, 10)
        counted = re.findall(r"(\d+) (train|test) canvases with (\d+) digits", first.stdout)
        check(f"the summary line counts the canvases and the objects ({objects})",
              [(c, s) for c, s, _ in counted] == [("40", "train"), ("10", "test")] and sum(int(n) for _, _, n in counted) == objects,
              first.stdout)

        again = generate("a", *small)
        check("a second run is up to date", again.returncode == 0 and "up to date" in again.stdout, again.stdout + again.stderr)
        generate("b", *small, threads="2")
        same = folder_bytes(os.path.join(work, "a")) == folder_bytes(os.path.join(work, "b"))
        check("the same seed gives the same bytes at 1 and 2 threads", same)
        generate("c", *small, "--seed", "2")
        check("another seed gives other canvases",
              folder_bytes(os.path.join(work, "a"))["train/images/00000.png"] != folder_bytes(os.path.join(work, "c"))["train/images/00000.png"])
        generate("d", "--train", "40", "--test", "3")
        a, d = folder_bytes(os.path.join(work, "a")), folder_bytes(os.path.join(work, "d"))
        check("--test changes no train file", all(d[name] == a[name] for name in a if name.startswith("train/")))

        # A folder that is not its own, and one made with other arguments: refused, left as they were.
        os.makedirs(os.path.join(work, "mine"))
        open(os.path.join(work, "mine", "notes.txt"), "w").write("keep")
        refused = generate("mine", *small)
        check("a folder holding other files is refused (exit 1)", refused.returncode == 1 and "not empty" in refused.stderr and
              os.listdir(os.path.join(work, "mine")) == ["notes.txt"], refused.stderr)
        other = generate("a", *small, "--seed", "3")
        check("a set made with other arguments is refused (exit 1)", other.returncode == 1 and ".digit-boxes-args differs" in other.stderr,
              other.stderr)
        missing = subprocess.run([tool, "--mnist", os.path.join(work, "nowhere"), "--out", os.path.join(work, "e")], capture_output=True)
        check("a missing MNIST folder is an error (exit 1), nothing written", missing.returncode == 1 and not os.path.exists(os.path.join(work, "e")))

        bad = {"a negative count": ["--train", "-1"], "a word for a number": ["--test", "many"], "a count over 100000": ["--train", "100001"],
               "a canvas under 16": ["--size", "10"], "--min-box over --max-box": ["--min-box", "30", "--max-box", "20"],
               "--max-box over the canvas": ["--max-box", "97"], "--min-box under 4": ["--min-box", "3"], "no digits": ["--max-digits", "0"],
               "an unknown option": ["--colour", "red"], "an option without its value": ["--seed"]}
        for what, options in bad.items():
            result = generate("f", *options)
            check(f"refused with exit 2 and the usage line: {what}", result.returncode == 2 and "usage: make-digit-boxes" in result.stderr and
                  not os.path.exists(os.path.join(work, "f")), f"exit {result.returncode}: {result.stderr.strip()}")
        no_out = subprocess.run([tool, "--mnist", mnist], capture_output=True, text=True)
        check("--out is required (exit 2)", no_out.returncode == 2 and "--out DIR is required" in no_out.stderr, no_out.stderr)
        check("no partial folder is left", not [name for name in os.listdir(work) if ".partial-" in name])
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
