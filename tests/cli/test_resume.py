#!/usr/bin/env python3
"""Kill-and-resume: `convnet train --checkpoint` killed with SIGKILL at random moments (some of
them inside a checkpoint write) and resumed each time ends with the bytes of an unbroken run;
after every kill the checkpoint is whole (the old one or the new one, never torn); Ctrl-C writes
a checkpoint, exits with 130 and says how to resume.

usage: test_resume.py CONVNET_BINARY SOURCE_DIR   (exit 77: skipped, no Fashion-MNIST data)
Only the standard library: the data subset is written as IDX here from data/fashion-mnist.
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from idx_subset import write_subset  # beside this script

# Dropout: the random generators are part of what must resume exactly.
MODEL = """input 1x28x28
conv2d out=8 kernel=5 pad=2
batchnorm2d
relu
maxpool2d kernel=2
conv2d out=16 kernel=3 pad=1
relu
maxpool2d kernel=2
flatten
dropout p=0.25
linear out=10
"""
TRAIN_IMAGES, TEST_IMAGES = 4000, 500
KILLS = 8  # SIGKILLs before the run may finish


def whole_safetensors(path):
    """Whether `path` is a complete safetensors file: its header parses and its last tensor ends
    exactly at the end of the file."""
    with open(path, "rb") as file:
        data = file.read()
    if len(data) < 8:
        return False
    length = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError:
        return False
    end = max(entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__")
    return 8 + length + end == len(data) and "checkpoint" in header["__metadata__"]


def wait_for_a_write(folder, process, deadline):
    """Returns as soon as a checkpoint's temporary file appears in `folder` (or the process ends,
    or the deadline passes): a kill then lands inside the write, between open and rename."""
    while time.monotonic() < deadline and process.poll() is None:
        if any(name.startswith("run.checkpoint.safetensors.tmp") for name in os.listdir(folder)):
            return
        time.sleep(0.0002)


def metrics_without_times(path):
    with open(path) as file:
        lines = [json.loads(line) for line in file]
    for line in lines:
        del line["epoch_seconds"], line["images_per_second"]
    return lines


def main():
    convnet, source_dir = sys.argv[1], sys.argv[2]
    data_source = os.path.join(source_dir, "data", "fashion-mnist")
    if not os.path.exists(os.path.join(data_source, "train-images-idx3-ubyte.gz")):
        print(f"skipped: no Fashion-MNIST in {data_source} (make data)")
        return 77
    work = tempfile.mkdtemp(prefix="convnet_resume_")
    failures = []
    try:
        data = os.path.join(work, "data")
        write_subset(data_source, data, TRAIN_IMAGES, TEST_IMAGES)
        model = os.path.join(work, "dropout.model")
        with open(model, "w") as file:
            file.write(MODEL)
        common = ["--data", data, "--threads", "2"]
        start = [convnet, "train", "--model", model, "--epochs", "2", "--batch", "50", "--seed", "5", "--optimizer", "sgd", "--nesterov",
                 "--schedule", "cosine:2"] + common
        began = time.monotonic()
        subprocess.run(start + ["--save", f"{work}/unbroken.safetensors", "--metrics", f"{work}/unbroken.jsonl"], check=True,
                       stdout=subprocess.DEVNULL)
        unbroken_seconds = time.monotonic() - began

        # Checkpoints after every step: a good share of the run is spent writing them, so some
        # kills land inside a write.
        checkpoint = f"{work}/run.checkpoint.safetensors"
        outputs = ["--save", f"{work}/run.safetensors", "--metrics", f"{work}/run.jsonl"]
        first = start + ["--checkpoint", checkpoint, "--checkpoint-every", "1"] + outputs
        again = [convnet, "train", "--resume", checkpoint, "--checkpoint-every", "1"] + common + outputs
        chance = random.Random(os.getpid())
        kills = torn_writes_seen = attempts = 0
        while (kills < KILLS or torn_writes_seen == 0) and attempts < 40:
            attempts += 1
            command = again if os.path.exists(checkpoint) else first
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if attempts % 2:  # at a random moment
                time.sleep(chance.uniform(0.3, max(0.4, unbroken_seconds * 0.8)))
            else:  # as soon as a checkpoint write has begun (its temporary file exists)
                wait_for_a_write(work, process, deadline=time.monotonic() + unbroken_seconds * 2)
            if process.poll() is not None:  # finished before the kill: start over for more kills
                if process.returncode != 0:
                    failures.append(f"a resumed run failed: {process.stderr.read().decode()[-400:]}")
                    break
                for name in ("run.safetensors", "run.jsonl", "run.checkpoint.safetensors"):
                    if os.path.exists(f"{work}/{name}"):
                        os.remove(f"{work}/{name}")
                continue
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            leftovers = [name for name in os.listdir(work) if name.startswith("run.checkpoint.safetensors.tmp")]
            torn_writes_seen += bool(leftovers)
            for name in leftovers:  # a write cut short: the temporary file is all it touched
                os.remove(os.path.join(work, name))
            if os.path.exists(checkpoint) and not whole_safetensors(checkpoint):
                failures.append(f"after kill {kills} the checkpoint is torn")
                break
        if kills < KILLS or torn_writes_seen == 0:
            failures.append(f"{kills} kills in {attempts} attempts, {torn_writes_seen} inside a checkpoint write")
        if not failures:
            # The rest of the run with checkpoints at epoch ends only (quicker).
            finish = subprocess.run([convnet, "train", "--resume", checkpoint, "--checkpoint-every", "0"] + common + outputs,
                                    capture_output=True, text=True)
            if finish.returncode != 0:
                failures.append(f"the last resume failed: {finish.stderr[-400:]}")
            elif open(f"{work}/run.safetensors", "rb").read() != open(f"{work}/unbroken.safetensors", "rb").read():
                failures.append(f"after {kills} kills ({torn_writes_seen} inside a checkpoint write) the weights differ from "
                                "the unbroken run's")
            elif metrics_without_times(f"{work}/run.jsonl") != metrics_without_times(f"{work}/unbroken.jsonl"):
                failures.append("the metrics lines differ from the unbroken run's")
            else:
                print(f"ok: {kills} SIGKILLs ({torn_writes_seen} inside a checkpoint write), resumed each time: "
                      "weights and metrics equal the unbroken run's")

        # Ctrl-C: a checkpoint beside --save, exit code 130, the command to resume; the resumed
        # run ends with the unbroken bytes too.
        interrupted = subprocess.Popen(start + ["--save", f"{work}/int.safetensors"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
        out = ""
        for line in interrupted.stdout:  # into the second epoch
            out += line
            if line.startswith("epoch 1/2"):
                break
        time.sleep(0.05)
        interrupted.send_signal(signal.SIGINT)
        rest, err = interrupted.communicate()
        out += rest
        saved = f"{work}/int.checkpoint.safetensors"
        if interrupted.returncode != 130 or f"resume with: convnet train --resume {saved}" not in out:
            failures.append(f"Ctrl-C: exit {interrupted.returncode}, stdout {out[-300:]!r}, stderr {err[-300:]!r}")
        else:
            subprocess.run([convnet, "train", "--resume", saved, "--data", data, "--save", f"{work}/int.safetensors"], check=True,
                           stdout=subprocess.DEVNULL)
            if open(f"{work}/int.safetensors", "rb").read() != open(f"{work}/unbroken.safetensors", "rb").read():
                failures.append("after Ctrl-C and a resume the weights differ from the unbroken run's")
            else:
                print("ok: Ctrl-C wrote a checkpoint, exited 130, and the resumed run ended with the unbroken bytes")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
