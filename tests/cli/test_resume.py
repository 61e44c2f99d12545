#!/usr/bin/env python3
"""Kill-and-resume: `convnet train --checkpoint` killed with SIGKILL 20 times, every other time at
a random moment and in between as soon as a checkpoint write has begun, and resumed each time,
ends with the bytes of an unbroken run (weights and metrics). After every kill the checkpoint is
the old one byte for byte or a whole new one further on (never torn): its safetensors layout
covers the file exactly and its position agrees with itself (steps, images, epochs, the
optimiser's step count, the metrics lines), and the next run loads it. A temporary file a kill
leaves is removed by the next write of that file. Ctrl-C and SIGTERM write a checkpoint, exit with
128 + the signal and say how to resume. Takes about 50 s on two busy cores.

usage: test_resume.py CONVNET_BINARY SOURCE_DIR   (exit 77: skipped, no Fashion-MNIST data)
Only the standard library: the data subset is written as IDX here from data/fashion-mnist.
"""
import json
import os
import random
import shlex
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
KILLS = 20  # SIGKILLs before the run may finish
STEPS_PER_EPOCH = TRAIN_IMAGES // 50  # --batch 50


def checkpoint_position(path):
    """The checkpoint's position {"steps_done", "images_done", "epochs_done", ...} when `path` is a
    whole checkpoint (its header parses, its tensors lie end to end and the last one ends exactly
    at the end of the file, and its position agrees with itself), else a string saying what is wrong."""
    with open(path, "rb") as file:
        data = file.read()
    if len(data) < 8:
        return f"{len(data)} bytes"
    length = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8 : 8 + length])
        run = json.loads(header["__metadata__"]["checkpoint"])
    except (ValueError, KeyError) as error:
        return f"header: {error}"
    spans = sorted(entry["data_offsets"] for name, entry in header.items() if name != "__metadata__")
    if spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:])) or 8 + length + spans[-1][1] != len(data):
        return f"tensors do not cover the file's {len(data)} bytes"
    position = run["position"]
    steps, epochs, images = position["steps_done"], position["epochs_done"], position["images_done"]
    metrics_lines = run["metrics"].count("\n")
    if (run["optimizer"]["step"] != steps or images != (steps - epochs * STEPS_PER_EPOCH) * 50 or not 0 <= images < TRAIN_IMAGES
            or metrics_lines != epochs):
        return f"inconsistent position {position}, optimiser step {run['optimizer']['step']}, {metrics_lines} metrics lines"
    return position


def temporaries(folder, pid=None):
    """The temporary files (NAME.tmpPID) in `folder`, of process `pid` or of any."""
    return [name for name in os.listdir(folder)
            if ".tmp" in name and name.rsplit(".tmp", 1)[1].isdigit() and (pid is None or name.endswith(f".tmp{pid}"))]


def wait_for_a_write(folder, name, process, deadline):
    """Returns as soon as `process`'s temporary file for `name` appears in `folder` (or the process
    ends, or the deadline passes): a kill then lands inside the write, between open and rename."""
    temporary = os.path.join(folder, f"{name}.tmp{process.pid}")
    while time.monotonic() < deadline and process.poll() is None:
        if os.path.exists(temporary):
            return
        time.sleep(0.0002)


def wait_for_step(checkpoint, step, process, deadline):
    """Returns once the checkpoint is at `step` or further on (or the process ends, or the deadline
    passes)."""
    while time.monotonic() < deadline and process.poll() is None:
        if os.path.exists(checkpoint):
            position = checkpoint_position(checkpoint)
            if isinstance(position, dict) and position["steps_done"] >= step:
                return
        time.sleep(0.001)


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
        common = ["--data", data, "--threads", "1"]
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
        # The kills: in turn at a random moment of a random step (the steps spread over the whole
        # run, the first epoch's end among them) and as soon as a write has begun: the
        # checkpoint's, or once the --save file's at the end of the first epoch, between the
        # metrics write and the checkpoint's.
        steps = sorted(chance.sample(range(2, 2 * STEPS_PER_EPOCH - 1), KILLS // 2 - 1) + [STEPS_PER_EPOCH])
        plans = []
        for step in steps:
            plans += [("write", "run.safetensors" if step == STEPS_PER_EPOCH else "run.checkpoint.safetensors"), ("step", step)]
        step_seconds = unbroken_seconds / (2 * STEPS_PER_EPOCH)
        kills = inside_writes = attempts = restarts = 0
        kill_began = time.monotonic()
        while (kills < KILLS or inside_writes == 0) and attempts < 3 * KILLS and not failures:
            attempts += 1
            old = open(checkpoint, "rb").read() if os.path.exists(checkpoint) else None
            old_position = checkpoint_position(checkpoint) if old is not None else None
            command = again if old is not None else first
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            kind, target = plans[kills % len(plans)]
            deadline = time.monotonic() + unbroken_seconds * 2 + 5
            if kind == "step":
                wait_for_step(checkpoint, target, process, deadline)
                time.sleep(chance.uniform(0, 1.5 * step_seconds))
            else:
                wait_for_a_write(work, target, process, deadline)
            if process.poll() is not None:  # finished before the kill: start over for more kills
                if process.returncode != 0:
                    failures.append(f"a resumed run failed: {process.stderr.read().decode()[-400:]}")
                    break
                restarts += 1
                for name in ("run.safetensors", "run.jsonl", "run.checkpoint.safetensors"):
                    if os.path.exists(f"{work}/{name}"):
                        os.remove(f"{work}/{name}")
                continue
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            inside_writes += bool(temporaries(work, process.pid))
            position = checkpoint_position(checkpoint) if os.path.exists(checkpoint) else None
            where = "no checkpoint yet" if position is None else (
                f"the checkpoint at step {position['steps_done']}" if isinstance(position, dict) else f"the checkpoint: {position}")
            print(f"kill {kills}: {'inside a write' if temporaries(work, process.pid) else 'between writes'}, {where}")
            if position is None:
                if old is not None:
                    failures.append(f"after kill {kills} the checkpoint is gone")
                continue
            if isinstance(position, str):
                failures.append(f"after kill {kills} the checkpoint is torn: {position}")
            elif old is not None and open(checkpoint, "rb").read() != old and position["steps_done"] <= old_position["steps_done"]:
                failures.append(f"after kill {kills} the checkpoint changed but did not move on: {old_position} -> {position}")
            elif position != old_position:
                # This process wrote a checkpoint, so its first write removed the temporary
                # checkpoint files of the processes killed before it.
                stale = [name for name in temporaries(work) if name.startswith("run.checkpoint.") and not name.endswith(f".tmp{process.pid}")]
                if stale:
                    failures.append(f"after kill {kills}: temporary files of dead processes left: {stale}")
        kill_seconds = time.monotonic() - kill_began
        if not failures and (kills < KILLS or inside_writes == 0):
            failures.append(f"{kills} kills in {attempts} attempts, {inside_writes} inside a checkpoint write")
        if not failures:
            # The rest of the run with checkpoints at epoch ends only (quicker).
            finish = subprocess.run([convnet, "train", "--resume", checkpoint, "--checkpoint-every", "0"] + common + outputs,
                                    capture_output=True, text=True)
            if finish.returncode != 0:
                failures.append(f"the last resume failed: {finish.stderr[-400:]}")
            elif open(f"{work}/run.safetensors", "rb").read() != open(f"{work}/unbroken.safetensors", "rb").read():
                failures.append(f"after {kills} kills ({inside_writes} inside a write) the weights differ from the unbroken run's")
            elif metrics_without_times(f"{work}/run.jsonl") != metrics_without_times(f"{work}/unbroken.jsonl"):
                failures.append("the metrics lines differ from the unbroken run's")
            elif temporaries(work):
                failures.append(f"temporary files left after the last resume: {temporaries(work)}")
            else:
                print(f"ok: {kills} SIGKILLs ({inside_writes} inside a write, {restarts} runs finished before a kill and begun "
                      f"again) in {kill_seconds:.0f} s, the checkpoint the old one or a whole new one after each; resumed each "
                      f"time: weights and metrics equal the unbroken run's ({unbroken_seconds:.1f} s)")

        # Ctrl-C, and SIGTERM (what a batch scheduler, `timeout` or `docker stop` send first): a
        # checkpoint beside --save, exit code 128 + the signal, the command to resume, run as
        # printed (the program as it was started, a file name with a space and a quote); the
        # resumed run ends with the unbroken bytes too.
        for name, number in (("Ctrl-C", signal.SIGINT), ("SIGTERM", signal.SIGTERM)):
            interrupted_save = f"{work}/{name}'s run.safetensors"
            interrupted = subprocess.Popen(start + ["--save", interrupted_save], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
            out = ""
            for line in interrupted.stdout:  # into the second epoch
                out += line
                if line.startswith("epoch 1/2"):
                    break
            time.sleep(0.05)
            interrupted.send_signal(number)
            rest, err = interrupted.communicate()
            out += rest
            saved = f"{work}/{name}'s run.checkpoint.safetensors"
            printed = [shlex.split(line[len("resume with: "):]) for line in out.splitlines() if line.startswith("resume with: ")]
            expected = [convnet, "train", "--resume", saved, "--data", data, "--save", interrupted_save, "--threads", "1"]
            if interrupted.returncode != 128 + number or printed[:1] != [expected]:
                failures.append(f"{name}: exit {interrupted.returncode}, stdout {out[-300:]!r}, stderr {err[-300:]!r}")
                continue
            subprocess.run(printed[0], check=True, stdout=subprocess.DEVNULL)
            if open(interrupted_save, "rb").read() != open(f"{work}/unbroken.safetensors", "rb").read():
                failures.append(f"after {name} and a resume the weights differ from the unbroken run's")
            else:
                print(f"ok: {name} wrote a checkpoint, exited {128 + number}, and the resumed run ended with the unbroken bytes")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
