#!/usr/bin/env python3
"""A full disk or a file-size limit while `convnet` writes any of its outputs: the command exits
with 1 and a message naming the file and the cause (never killed by SIGXFSZ), the previous file
stays byte for byte, and no temporary file is left. Every output goes through the one atomic
writer (write_file_atomically): train --save, --checkpoint, --metrics (appended: the whole file
rewritten), --plot; export --onnx; visualize -o; plot -o; eval --confusion; filter -o; explain -o.

Two ways to fill the disk: a file-size limit (RLIMIT_FSIZE, `ulimit -f`) set in the child, with
SIGXFSZ at its default (the CLI itself must ignore it), and, where mount is permitted (root,
outside most CI containers), a small tmpfs filled but for less than the new file needs. Without
mount that half is skipped with a note; the limit half always runs.

usage: test_disk_full.py CONVNET_BINARY SOURCE_DIR
Only the standard library; the training data is a small generated IDX set.
"""
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

MODEL = "input 1x28x28\nconv2d out=4 kernel=3\nrelu\nmaxpool2d kernel=2\nflatten\nlinear out=10\n"
PREVIOUS = b"the previous file, which must be kept\n"
PAGE = 4096


def write_idx(folder, prefix, count, chance):
    """`count` random 28x28 images and labels as raw IDX files."""
    with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as file:
        file.write(struct.pack(">IIII", 0x803, count, 28, 28) + bytes(chance.randrange(256) for _ in range(count * 784)))
    with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as file:
        file.write(struct.pack(">II", 0x801, count) + bytes(chance.randrange(10) for _ in range(count)))


def cases(convnet, source_dir, inputs, folder):
    """(name, output file, command) for each output, the output in `folder`."""
    data, weights, metrics = inputs["data"], inputs["weights"], inputs["metrics"]
    train = [convnet, "train", "--model", inputs["model"], "--data", data, "--epochs", "1", "--batch", "50", "--threads", "1"]
    out = lambda name: os.path.join(folder, name)  # noqa: E731
    return [
        ("train --save", out("w.safetensors"), train + ["--save", out("w.safetensors")]),
        ("train --checkpoint", out("run.checkpoint"), train + ["--checkpoint", out("run.checkpoint")]),
        ("train --metrics (append)", out("m.jsonl"), train + ["--metrics", out("m.jsonl")]),
        ("train --plot", out("curves.svg"), train + ["--plot", out("curves.svg")]),
        ("export --onnx", out("w.onnx"), [convnet, "export", "--weights", weights, "--onnx", out("w.onnx"), "--threads", "1"]),
        ("visualize filters", out("filters.png"), [convnet, "visualize", "filters", "--weights", weights, "-o", out("filters.png")]),
        ("plot", out("plot.svg"), [convnet, "plot", metrics, "-o", out("plot.svg")]),
        ("eval --confusion", out("confusion.svg"),
         [convnet, "eval", "--weights", weights, "--data", data, "--confusion", out("confusion.svg"), "--threads", "1"]),
        ("filter", out("edges.png"), [convnet, "filter", "--kernel", "edge", os.path.join(source_dir, "tests", "cli", "small.png"),
                                      "-o", out("edges.png")]),
        ("explain", out("report.html"),
         [convnet, "explain", "--weights", weights, "--data", data, "--index", "0", "-o", out("report.html"), "--threads", "1"]),
    ]


# LLVM's libomp (clang builds: `make test`'s build-sanitize) writes its registration in /dev/shm
# at its first parallel region: ftruncate to 1 KiB, which a smaller RLIMIT_FSIZE refuses, then a
# store into the mapping, which is SIGBUS. No limit that small stops GCC's libgomp.
LIBOMP_REGISTRATION_BYTES = 1024


def uses_libomp(convnet):
    """True when the binary loads LLVM's OpenMP runtime (ldd lists libomp.so)."""
    listing = subprocess.run(["ldd", convnet], capture_output=True, text=True).stdout
    return "libomp.so" in listing


def previous_contents(name, inputs):
    """What the output file holds before the run: a metrics file is appended to, so it holds an
    earlier run's lines; any other file a marker."""
    if name.startswith("train --metrics"):
        with open(inputs["metrics"], "rb") as file:
            return file.read()
    return PREVIOUS


def check(name, output, run, cause, failures):
    """The run failed cleanly: exit 1 (not a signal), the message names the file and `cause`, the
    previous file is intact and no temporary file is left."""
    folder = os.path.dirname(output)
    message = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
    problems = []
    if run.returncode < 0:
        problems.append(f"killed by signal {-run.returncode}")
    elif run.returncode != 1:
        problems.append(f"exit {run.returncode}, expected 1")
    for part in (f"{output}: write failed", cause, "the previous file is left as it was"):
        if part not in run.stderr:
            problems.append(f"the message lacks {part!r}")
    if open(output, "rb").read() != run.previous:
        problems.append("the previous file changed")
    leftovers = [entry for entry in os.listdir(folder) if ".tmp" in entry]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    if problems:
        failures.append(f"{name}: " + "; ".join(problems) + f" (stderr: {run.stderr[-400:]!r})")
    else:
        print(f"ok  {name}: {message}")


def run_case(command, previous, preexec=None):
    run = subprocess.run(command, capture_output=True, text=True, preexec_fn=preexec)
    run.previous = previous
    return run


def fill(folder, free_bytes):
    """Fills the file system of `folder` but for `free_bytes` (whole pages)."""
    filler = os.path.join(folder, "filler")
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while os.write(descriptor, b"\0" * PAGE) == PAGE:
            pass
    except OSError:
        pass
    finally:
        os.close(descriptor)
    written = os.path.getsize(filler)
    os.truncate(filler, max(0, written - free_bytes))


def main():
    convnet, source_dir = os.path.abspath(sys.argv[1]), sys.argv[2]
    work = tempfile.mkdtemp(prefix="convnet_disk_full_")
    failures = []
    mounted = None
    try:
        chance = random.Random(15)
        data = os.path.join(work, "data")
        os.makedirs(data)
        write_idx(data, "train", 200, chance)
        write_idx(data, "t10k", 100, chance)
        inputs = {"data": data, "model": os.path.join(work, "tiny.model"), "weights": os.path.join(work, "tiny.safetensors"),
                  "metrics": os.path.join(work, "tiny.jsonl")}
        with open(inputs["model"], "w") as file:
            file.write(MODEL)
        subprocess.run([convnet, "train", "--model", inputs["model"], "--data", data, "--epochs", "1", "--batch", "50", "--threads", "1",
                        "--save", inputs["weights"], "--metrics", inputs["metrics"]], check=True, capture_output=True)

        # The size each output has when nothing stops it.
        free = os.path.join(work, "free")
        os.makedirs(free)
        sizes = {}
        for name, output, command in cases(convnet, source_dir, inputs, free):
            with open(output, "wb") as file:
                file.write(previous_contents(name, inputs))
            subprocess.run(command, check=True, capture_output=True)
            sizes[name] = os.path.getsize(output)

        # A file-size limit of half the new file (above the previous metrics, which are rewritten).
        limited = os.path.join(work, "limited")
        os.makedirs(limited)
        for name, output, command in cases(convnet, source_dir, inputs, limited):
            previous = previous_contents(name, inputs)
            limit = max(len(previous) + 8, sizes[name] // 2)
            assert limit < sizes[name], f"{name}: {sizes[name]} bytes, too small to cut"

            def set_limit(limit=limit):
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

            if limit < LIBOMP_REGISTRATION_BYTES and uses_libomp(convnet):
                print(f"skipped {name} (ulimit -f): a limit of {limit} bytes stops LLVM's OpenMP runtime, which this build "
                      f"links, before convnet runs (it registers itself in a {LIBOMP_REGISTRATION_BYTES}-byte file in /dev/shm and "
                      "dies with SIGBUS when that cannot grow); GCC builds, the default, run it")
                continue
            with open(output, "wb") as file:
                file.write(previous)
            check(name + " (ulimit -f)", output, run_case(command, previous, set_limit),
                  "over the file-size limit (ulimit -f)", failures)

        # A small tmpfs, filled but for less than half the new file (no page at all for small ones).
        mounted = os.path.join(work, "tmpfs")
        os.makedirs(mounted)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={4 * max(sizes.values()) // 1024 + 64}k", "tmpfs", mounted],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            print(f"skipped the tmpfs half: mount is not permitted here ({mount.stderr.strip() or mount.returncode})")
            mounted = None
        else:
            for name, output, command in cases(convnet, source_dir, inputs, mounted):
                previous = previous_contents(name, inputs)
                with open(output, "wb") as file:
                    file.write(previous)
                fill(mounted, sizes[name] // 2 // PAGE * PAGE)
                check(name + " (full tmpfs)", output, run_case(command, previous), "the disk is full", failures)
                os.remove(os.path.join(mounted, "filler"))
    finally:
        if mounted:
            subprocess.run(["umount", mounted])
        shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
