"""convnet train --distributed under mpirun -np 2 on this machine (docs/DISTRIBUTED.md): the
weights equal one process's, over shared memory and over TCP; a checkpoint written by 2 ranks
resumes on 1 and on 2; a killed rank ends the run within 10 s; ranks that disagree are refused.
Skipped (77) without mpirun, an MPI build or Fashion-MNIST. Standard library only, besides the
weights comparison, which reads safetensors by hand.

usage: test_distributed.py CONVNET SOURCE_DIR WORK_DIR"""
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idx_subset  # noqa: E402

CONVNET, SOURCE, WORK = (os.path.abspath(argument) for argument in sys.argv[1:4])
MODEL = os.path.join(SOURCE, "models", "convnet1.model")
# mpirun refuses to run as root unless told; the CI container runs as root.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
FAILURES = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        FAILURES.append(message)


def skip(reason):
    print(f"skipped: {reason}")
    sys.exit(77)


def weights(path):
    """The float tensors of a safetensors file, by name, as lists."""
    with open(path, "rb") as file:
        blob = file.read()
    size = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + size])
    data = blob[8 + size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = struct.unpack(f"<{(end - begin) // 4}f", data[begin:end])
    return tensors


def relative_difference(a_path, b_path):
    """‖a − b‖ / ‖a‖ over every float tensor of two weights files."""
    a, b = weights(a_path), weights(b_path)
    assert a.keys() == b.keys(), (a.keys(), b.keys())
    difference = sum((x - y) ** 2 for name in a for x, y in zip(a[name], b[name]))
    norm = sum(x * x for name in a for x in a[name])
    return (difference / norm) ** 0.5


def train(data, save, ranks=None, extra=(), mpi_options=(), check_ok=True):
    command = [CONVNET, "train", "--model", MODEL, "--data", data, "--threads", "1", "--optimizer", "sgd", "--save", save,
               *extra]
    if ranks:
        command = ["mpirun", "-np", str(ranks), *mpi_options, *command, "--distributed"]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    if check_ok and result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def main():
    if shutil.which("mpirun") is None:
        skip("no mpirun: install Open MPI (sudo apt-get install libopenmpi-dev, which `make test` does)")
    source = os.path.join(SOURCE, "data", "fashion-mnist")
    if not os.path.exists(os.path.join(source, "train-images-idx3-ubyte.gz")):
        skip("no Fashion-MNIST in data/: run `make data`")
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    os.chdir(WORK)
    probe = subprocess.run(["mpirun", "-np", "1", CONVNET, "train", "--model", MODEL, "--data", "nowhere", "--distributed"],
                           env=ENV, capture_output=True, text=True, timeout=120)
    if "built without MPI" in probe.stderr:
        skip("this convnet was built without MPI")
    idx_subset.write_subset(source, "one-batch", 100, 100)
    idx_subset.write_subset(source, "small", 2000, 500)

    # One step of the reference layers (batch statistics in double): rounding apart, the same.
    single = "reference-1.safetensors"
    train("one-batch", single, extra=["--reference"])
    for label, mpi_options in (("shared memory", []), ("TCP", ["--mca", "btl", "tcp,self"])):
        two = f"reference-2-{label.replace(' ', '-')}.safetensors"
        train("one-batch", two, ranks=2, extra=["--reference"], mpi_options=mpi_options)
        difference = relative_difference(single, two)
        check(difference <= 1e-6, f"one step on 2 ranks over {label} = one process within 1e-6 relative ({difference:.2e})")
    train("small", "fast-1-epoch.safetensors", extra=["--epochs", "1"])
    train("small", "fast-1-rank.safetensors", ranks=1, extra=["--epochs", "1"])
    check(open("fast-1-epoch.safetensors", "rb").read() == open("fast-1-rank.safetensors", "rb").read(),
          "an epoch on 1 rank under mpirun = one process, byte for byte")
    alone = subprocess.run(["mpirun", "-np", "2", CONVNET, "train", "--model", MODEL, "--data", "one-batch", "--threads", "1"],
                           env=ENV, capture_output=True, text=True, timeout=300)
    check(alone.returncode == 2 and "without --distributed: each would train alone" in alone.stderr,
          "mpirun without --distributed refused (exit 2)")

    # An epoch of 20 steps on the oneDNN path: as close as one process is to itself on another thread count.
    train("small", "fast-1.safetensors")
    train("small", "fast-1-2threads.safetensors", extra=["--threads", "2"])
    train("small", "fast-2.safetensors", ranks=2)
    threads_difference = relative_difference("fast-1.safetensors", "fast-1-2threads.safetensors")
    ranks_difference = relative_difference("fast-1.safetensors", "fast-2.safetensors")
    check(ranks_difference <= max(3 * threads_difference, 1e-5),
          f"an epoch on 2 ranks: {ranks_difference:.2e} from one process; 1 against 2 threads: {threads_difference:.2e}")

    # A checkpoint written by 2 ranks resumes on 2 (the unbroken run's bytes) and on 1.
    train("small", "unbroken.safetensors", ranks=2, extra=["--epochs", "2", "--reference"])
    train("small", "first.safetensors", ranks=2, extra=["--epochs", "1", "--reference", "--checkpoint", "two-ranks.ckpt"])
    shutil.copy("two-ranks.ckpt", "two-ranks-copy.ckpt")
    resume = lambda checkpoint, save, ranks: subprocess.run(  # noqa: E731
        (["mpirun", "-np", str(ranks)] if ranks else []) + [CONVNET, "train", "--resume", checkpoint, "--data", "small", "--epochs", "2",
                                                            "--threads", "1", "--reference", "--save", save] + (["--distributed"] if ranks else []),
        env=ENV, capture_output=True, text=True, timeout=600)
    on_two, on_one = resume("two-ranks.ckpt", "resumed-2.safetensors", 2), resume("two-ranks-copy.ckpt", "resumed-1.safetensors", None)
    check(on_two.returncode == 0 and on_one.returncode == 0, f"resumed on 2 ranks and on 1 ({on_two.stderr[-300:]}{on_one.stderr[-300:]})")
    if on_two.returncode == 0 and on_one.returncode == 0:
        check(open("resumed-2.safetensors", "rb").read() == open("unbroken.safetensors", "rb").read(),
              "resumed on 2 ranks: the unbroken 2-rank run's bytes")
        difference = relative_difference("unbroken.safetensors", "resumed-1.safetensors")
        check(difference <= 1e-5, f"resumed on 1 process: {difference:.2e} from the unbroken 2-rank run")

    # SIGUSR1 to mpirun (which ends the ranks on Ctrl-C but passes SIGUSR1 on): every rank stops
    # at the same step, rank 0 writes the checkpoint and prints a resume command that ends the
    # run with the unbroken run's bytes.
    runner = subprocess.Popen(["mpirun", "-np", "2", CONVNET, "train", "--model", MODEL, "--data", "small", "--threads", "1",
                               "--optimizer", "sgd", "--reference", "--epochs", "2", "--distributed", "--checkpoint", "stopped.ckpt",
                               "--save", "stopped.safetensors"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in runner.stdout:  # the first epoch's line, then the signal: in the second epoch
        seen.append(line.rstrip("\n"))
        if line.startswith("epoch 1/2"):
            runner.send_signal(signal.SIGUSR1)
            break
    output, errors = runner.communicate(timeout=300)
    output = "\n".join(seen) + "\n" + output
    resume_line = [line for line in output.splitlines() if line.startswith("resume with: ")]
    words = shlex.split(resume_line[0][len("resume with: "):]) if resume_line else []
    check(runner.returncode != 0 and words[:6] == ["mpirun", "-np", "2", CONVNET, "train", "--resume"] and words[-1] == "--distributed",
          f"SIGUSR1 to mpirun: stopped ({runner.returncode}), {resume_line[:1]}")
    if resume_line:
        resumed = subprocess.run(words, env=ENV, capture_output=True, text=True, timeout=600)  # as printed
        check(resumed.returncode == 0 and open("stopped.safetensors", "rb").read() == open("unbroken.safetensors", "rb").read(),
              f"resumed as printed: the unbroken run's bytes ({resumed.stderr[-300:]})")

    # Ranks that disagree are refused at start, before any training.
    other = subprocess.run(["mpirun", "-np", "1", CONVNET, "train", "--model", MODEL, "--data", "small", "--threads", "1", "--distributed",
                            ":", "-np", "1", CONVNET, "train", "--model", os.path.join(SOURCE, "models", "lenet5.model"), "--data",
                            "small", "--threads", "1", "--distributed"], env=ENV, capture_output=True, text=True, timeout=300)
    check(other.returncode != 0 and "rank 1 of 2 differs from rank 0 in its model" in other.stderr,
          f"different models on the ranks refused ({other.returncode}: {other.stderr.strip().splitlines()[:1]})")
    other = subprocess.run(["mpirun", "-np", "1", CONVNET, "train", "--model", MODEL, "--data", "small", "--threads", "1", "--distributed",
                            ":", "-np", "1", CONVNET, "train", "--model", MODEL, "--data", "one-batch", "--threads", "1", "--distributed"],
                           env=ENV, capture_output=True, text=True, timeout=300)
    check(other.returncode != 0 and "differs from rank 0 in its data" in other.stderr, "different data on the ranks refused")

    # A rank killed mid-epoch: the run ends, non-zero, within 10 s, saying so.
    runner = subprocess.Popen(["mpirun", "-np", "2", CONVNET, "train", "--model", MODEL, "--data", "small", "--threads", "1",
                               "--epochs", "50", "--distributed"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ranks = []
    deadline = time.monotonic() + 60
    while len(ranks) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        found = subprocess.run(["pgrep", "-P", str(runner.pid)], capture_output=True, text=True).stdout.split()
        ranks = [int(pid) for pid in found]
    time.sleep(3)  # into training
    check(len(ranks) == 2 and runner.poll() is None, f"2 ranks training ({ranks})")
    if len(ranks) == 2:
        os.kill(ranks[1], signal.SIGKILL)
        killed = time.monotonic()
        try:
            _, errors = runner.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()
            _, errors = runner.communicate()
        seconds = time.monotonic() - killed
        check(runner.returncode != 0 and seconds <= 10,
              f"a rank killed with SIGKILL: the run ended with exit {runner.returncode} after {seconds:.1f} s")
        said = [line for line in errors.splitlines() if "signal 9" in line or "killed" in line.lower()]
        check(bool(said), f"and said so: {said[:1]}")

    if FAILURES:
        sys.exit(f"{len(FAILURES)} failed")


if __name__ == "__main__":
    main()
