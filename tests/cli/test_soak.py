#!/usr/bin/env python3
"""Soak: 30 epochs of LeNet-5 (models/lenet5.model) on 6,000 Fashion-MNIST images, writing the
metrics, the weights and a checkpoint every epoch, while this script reads the process's
/proc/PID/status every 20 ms. Passes when memory stops growing after epoch 2, within TOLERANCE:

- the peak: the largest resident size known after epochs 3 to 30 (the kernel's VmHWM when epoch 30
  ends, and every VmRSS sampled) is at most TOLERANCE above the one known when epoch 2 ended
  (VmHWM then, and the samples so far). Both, as the kernel's high-water mark can miss a peak that
  the allocator gave back with madvise, and a 20 ms sampler can miss a short one;
- the level, in the second half: the median VmRSS sampled in each of epochs 16 to 30 is at most
  LEVEL_TOLERANCE above epoch 15's. Once settled the level grows only by the metrics lines the
  run keeps (a page every few epochs), so a leak of a few KiB an epoch, which would hide under the
  first check's tolerance, shows here.

The child runs with glibc's mmap threshold fixed at its default, 128 KiB
(MALLOC_MMAP_THRESHOLD_=131072). Left dynamic, glibc raises the threshold after the first large
free, so the checkpoint's buffers (some 0.7 MiB each for LeNet-5 with Adam) move from mmap into
the heap, and the resident size then steps up and down by about 1.3 MiB from one epoch to the
next with no leak (measured: levels between 70.8 and 72.3 MiB, peaks 72.1 MiB by epoch 2 and
72.8 MiB by epoch 30). Fixed, large buffers are mapped and unmapped each time and the level is
flat to the page, so what leaks shows.

Prints the figures per epoch. Trains at one thread: about 25 s on an AVX2 EPYC (2026-12-07), longer when other work shares the core.
usage: test_soak.py CONVNET_BINARY SOURCE_DIR   (exit 77: skipped, no Fashion-MNIST data)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from idx_subset import write_subset  # beside this script

EPOCHS, TRAIN_IMAGES, TEST_IMAGES = 30, 6000, 1000
TOLERANCE_KIB = 1024  # 1 MiB
LEVEL_TOLERANCE_KIB = 128


def status_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    convnet, source_dir = sys.argv[1], sys.argv[2]
    data_source = os.path.join(source_dir, "data", "fashion-mnist")
    if not os.path.exists(os.path.join(data_source, "train-images-idx3-ubyte.gz")):
        print(f"skipped: no Fashion-MNIST in {data_source} (make data)")
        return 77
    if not os.path.exists("/proc/self/status"):
        print("skipped: no /proc/PID/status to read the resident size from")
        return 77
    work = tempfile.mkdtemp(prefix="convnet_soak_")
    try:
        data = os.path.join(work, "data")
        write_subset(data_source, data, TRAIN_IMAGES, TEST_IMAGES)
        began = time.monotonic()
        process = subprocess.Popen(
            [convnet, "train", "--model", os.path.join(source_dir, "models", "lenet5.model"), "--data", data, "--epochs", str(EPOCHS),
             "--threads", "1", "--seed", "1", "--metrics", f"{work}/m.jsonl", "--save", f"{work}/w.safetensors", "--checkpoint",
             f"{work}/run.checkpoint"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072"))

        # The sampler keeps the VmRSS samples since the last epoch line.
        lock = threading.Lock()
        samples = []
        finished = threading.Event()

        def sample():
            while not finished.is_set():
                rss = status_kib(process.pid, "VmRSS")
                if rss is not None:
                    with lock:
                        samples.append(rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # Per epoch: the largest and the median VmRSS sampled, VmHWM as the epoch's line appears.
        peaks, medians, high_water = [], [], []
        for line in process.stdout:
            if re.match(rf"epoch \d+/{EPOCHS} ", line):
                hwm = status_kib(process.pid, "VmHWM")
                with lock:
                    epoch_samples = sorted(samples) or [0]
                    samples.clear()
                peaks.append(epoch_samples[-1])
                medians.append(epoch_samples[len(epoch_samples) // 2])
                high_water.append(hwm)
                print(f"epoch {len(peaks):2d}: RSS sampled {len(epoch_samples):4d} times, median {medians[-1] / 1024:7.2f} MiB, "
                      f"largest {peaks[-1] / 1024:7.2f} MiB; peak (VmHWM) {hwm / 1024:7.2f} MiB", flush=True)
        error = process.stderr.read()
        process.wait()
        finished.set()
        sampler.join()
        seconds = time.monotonic() - began
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if process.returncode != 0 or len(peaks) != EPOCHS or None in high_water:
        print(f"FAIL the run: exit {process.returncode}, {len(peaks)} epoch lines, stderr {error[-400:]!r}")
        return 1
    failures = []
    peak_by_2 = max(high_water[1], *peaks[:2])
    peak_after = max(high_water[-1], *peaks[2:])
    if peak_after - peak_by_2 > TOLERANCE_KIB:
        failures.append(f"the peak grew by {peak_after - peak_by_2} KiB after epoch 2 ({peak_by_2} KiB) through epoch {EPOCHS} "
                        f"({peak_after} KiB; tolerance {TOLERANCE_KIB} KiB)")
    half = EPOCHS // 2
    level_after = max(medians[half:])
    if level_after - medians[half - 1] > LEVEL_TOLERANCE_KIB:
        failures.append(f"epoch {medians.index(level_after) + 1}'s median RSS, {level_after} KiB, is {level_after - medians[half - 1]} "
                        f"KiB above epoch {half}'s ({medians[half - 1]} KiB; tolerance {LEVEL_TOLERANCE_KIB} KiB)")
    for failure in failures:
        print("FAIL", failure)
    if not failures:
        print(f"ok: {EPOCHS} epochs in {seconds:.0f} s; peak RSS {peak_by_2 / 1024:.2f} MiB by the end of epoch 2, "
              f"{peak_after / 1024:.2f} MiB through epoch {EPOCHS} ({peak_after - peak_by_2:+d} KiB, tolerance {TOLERANCE_KIB} KiB); "
              f"median RSS {medians[1] / 1024:.2f} MiB in epoch 2, {medians[half - 1] / 1024:.2f} MiB in epoch {half}, at most "
              f"{level_after / 1024:.2f} MiB in epochs {half + 1} to {EPOCHS} ({level_after - medians[half - 1]:+d} KiB, tolerance "
              f"{LEVEL_TOLERANCE_KIB} KiB)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
