#!/usr/bin/python3
"""`make bench`: convnet1 on Fashion-MNIST, ours (build/bench/convnet_bench) against PyTorch
(bench/torch_bench.py) as a user runs it and tuned (OPENBLAS_NUM_THREADS=1), every measurement in
its own process, the systems alternating, same data, batch 100 and thread count; and the
segmentation U-Net (models/unet-m2nist.model) on data/m2nist's 64x84 images, batch 32; and the
detector (models/detect-digits.model) on data/digit-boxes' 96x96 canvases, batch 32. Prints the
table of issue 5 (metric, ours, PyTorch user, PyTorch tuned, ratio against the better PyTorch,
target, met) and writes it as markdown with --markdown; the raw JSON lines with --json.

    /usr/bin/python3 bench/run_bench.py --build-dir build [--quick] [--markdown FILE] [--json FILE]
"""
import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_BENCH = os.path.join(ROOT, "bench", "torch_bench.py")
AUGMENTATION = "flip,crop:2"  # the example: its cost must stay within 10 % of plain training
ONNX_BENCH = os.path.join(ROOT, "bench", "onnx_bench.py")  # the exported convnet1 in ONNX Runtime and OpenCV DNN
ONNX_SYSTEMS = (("onnxruntime", "ONNX Runtime"), ("opencv", "OpenCV DNN"))
RESNET_MODEL = "models/resnet-fmnist.model"  # the graph row: issue 11's residual network
# The segmentation row: `make segment`'s U-Net on `make m2nist`'s canvases (1x64x84, 11 classes),
# trained per pixel at the recipe's batch of 32 (Adam; the one-cycle schedule costs nothing to time).
SEGMENT_MODEL = "models/unet-m2nist.model"
SEGMENT_BATCH = 32
# The detection row: models/detect-digits.model on `make digit-boxes`' canvases (1x96x96, 10 classes),
# trained with the detection loss (GIoU, objectness BCE, class cross-entropy; PyTorch's side is
# scripts/make_reference.py's detection_loss_torch) at batch 32 with Adam.
DETECT_MODEL = "models/detect-digits.model"
DETECT_BATCH = 32
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS")
# --isa avx2: an AVX2 machine on an AVX-512 one. oneDNN (ours, and the 2.6 inside PyTorch) stops at
# AVX2 kernels, PyTorch's own kernels at its AVX2 build, OpenBLAS at its Haswell kernels, and
# fma_peak measures 8-wide FMAs. The cores' clocks, caches and FMA units stay this CPU's.
AVX2_ENVIRONMENT = {"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                    "OPENBLAS_CORETYPE": "Haswell"}


def log(message):
    print(message, file=sys.stderr, flush=True)


def child_environment(args):
    """The environment every measured child starts from: the caller's, without thread-count
    settings (so that "as a user runs it" means the libraries' own defaults), limited to AVX2
    under --isa avx2."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if args.isa == "avx2":
        env.update(AVX2_ENVIRONMENT)
    return env


class Runner:
    """Runs one measurement per child process and keeps its JSON line and its peak RSS."""

    def __init__(self, args):
        self.args = args
        self.results = []  # every JSON line, with "label", "max_rss_mb" and "wall_seconds" added
        self.base_env = child_environment(args)

    def run(self, label, command, extra_env=None, timeout=None):
        """The child's JSON line with its peak RSS; None when it ran past `timeout` seconds."""
        env = dict(self.base_env, **(extra_env or {}))
        shown = " ".join(f"{k}={v}" for k, v in (extra_env or {}).items())
        log(f"  [{time.strftime('%H:%M:%S')}] {label}: {shown + ' ' if shown else ''}{' '.join(map(shlex.quote, command))}")
        start = time.monotonic()
        with tempfile.TemporaryFile(mode="w+") as stderr:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True, cwd=ROOT)
            timer = threading.Timer(timeout, child.kill) if timeout else None
            if timer:
                timer.start()
            stdout = child.stdout.read()
            if timer:
                timer.cancel()
            # wait4, not wait: it gives this child's own rusage (ru_maxrss, KiB on Linux).
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            stderr.seek(0)
            errors = stderr.read()
        wall = time.monotonic() - start
        if timeout and wall >= timeout and child.returncode != 0:
            log(f"  {label}: stopped after {timeout:.0f} s")
            return None
        lines = [line for line in stdout.splitlines() if line.startswith("{")]
        if child.returncode != 0 or not lines:
            sys.exit(f"run_bench: {label} failed (exit {child.returncode}):\n{errors[-3000:]}{stdout[-2000:]}")
        result = json.loads(lines[-1])
        result.update(label=label, max_rss_mb=usage.ru_maxrss / 1024.0, wall_seconds=round(wall, 2))
        self.results.append(result)
        return result

    def ours(self, label, command, options, threads=None, timeout=None):
        """threads: None for --threads (the run's count), "default" for the tool's own choice."""
        chosen = [] if threads == "default" else ["--threads", str(threads or self.args.threads)]
        return self.run(label, [self.args.convnet_bench, command, "--data", self.args.data, "--model", self.args.model]
                        + chosen + options, timeout=timeout)

    def torch(self, label, command, options, tuned, timeout=None, threads=None, data=None):
        """threads: None for the run's count, "default" for torch's own (set_num_threads never called);
        data: None for --data."""
        env = {"OPENBLAS_NUM_THREADS": "1"} if tuned else {}
        count = 0 if threads == "default" else threads or self.args.threads
        return self.run(label, [self.args.python, TORCH_BENCH, command, "--data", data or self.args.data,
                                "--threads", str(count)] + options, env, timeout)

    def all_three(self, name, command, options, timeout=None):
        """Ours, PyTorch user, PyTorch tuned, one after the other; returns the three results."""
        return (self.ours(f"{name} ours", command, options, timeout=timeout),
                self.torch(f"{name} pytorch-user", command, options, tuned=False, timeout=timeout),
                self.torch(f"{name} pytorch-tuned", command, options, tuned=True, timeout=timeout))


class BusyCore:
    """Another process keeping one core busy for as long as the `with` block lasts, as on a user's
    machine that is doing something else."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)  # running, and seen as load by the next sample of /proc/stat
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def measure_distributed(runner, args, threads):
    """convnet train itself, one process with every thread against 2 MPI ranks of 1 thread each,
    over shared memory and over TCP: the second epoch's images/s and all-reduce time from the
    metrics line (the first epoch builds the plans). Labels start with "distributed"."""
    if shutil.which("mpirun") is None:
        log("  no mpirun: the distributed rows are left out (make bench-deps installs Open MPI)")
        return
    environment = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    metrics = os.path.join(args.build_dir, "bench-distributed.jsonl")
    train = [args.convnet, "train", "--model", args.model, "--data", args.data, "--epochs", "2", "--batch", "100",
             "--metrics", metrics]
    for label, prefix, thread_count in (("distributed one process", [], threads),
                                        ("distributed 2 ranks", ["mpirun", "-np", "2"], 1),
                                        ("distributed 2 ranks tcp", ["mpirun", "-np", "2", "--mca", "btl", "tcp,self"], 1)):
        command = prefix + train + ["--threads", str(thread_count)] + (["--distributed"] if prefix else [])
        script = f"rm -f {shlex.quote(metrics)} && {' '.join(map(shlex.quote, command))} >&2 && tail -n 1 {shlex.quote(metrics)}"
        runner.run(label, ["sh", "-c", script], extra_env=environment)


def measure_busy(runner, options):
    """Training with one core busy: each system at its default thread count, and ours at 1 and at
    every core, for comparison. Labels start with "busy"."""
    with BusyCore():
        runner.ours("busy ours", "train", options, threads="default")
        runner.torch("busy pytorch-user", "train", options, tuned=False, threads="default")
        runner.torch("busy pytorch-tuned", "train", options, tuned=True, threads="default")
        runner.ours("busy ours 1 thread", "train", options, threads=1)
        runner.ours("busy ours all threads", "train", options)
        runner.torch("busy pytorch-tuned 1 thread", "train", options, tuned=True, threads=1)


def measure_onnx(runner, latency_options):
    """The exported model (convnet export) in ONNX Runtime and OpenCV DNN at the run's thread count:
    batch-1 latency as convnet_bench's (same --count and --warmup) and one pass over the test split
    in batches of 100. Labels start with "onnx"."""
    args = runner.args
    folder = os.path.join(args.build_dir, "onnx-bench")
    runner.run("onnx prepare", [args.python, ONNX_BENCH, "prepare", "--build-dir", args.build_dir, "--data", args.data,
                                "--model", args.model, "--out", folder])
    for system, _ in ONNX_SYSTEMS:
        runner.run(f"onnx {system}", [args.python, ONNX_BENCH, system, "--dir", folder, "--threads", str(args.threads),
                                      "--batch", "100"] + latency_options)


def onnx_table(by_label, threads):
    """(headers, rows) of the exported model beside ours, or None when it was not measured."""
    if not all(by_label.get(f"onnx {system}") for system, _ in ONNX_SYSTEMS):
        return None
    ours_latency, ours_eval = by_label.get("latency ours"), by_label.get("eval batch 100 ours")
    runs = [by_label[f"onnx {system}"] for system, _ in ONNX_SYSTEMS]
    rows = [(f"batch-1 latency, median µs ({threads} threads)", fmt_number(ours_latency and ours_latency["median_us"], 1),
             *(fmt_number(run["median_us"], 1) for run in runs)),
            ("batch-1 latency, p99 µs", fmt_number(ours_latency and ours_latency["p99_us"], 1),
             *(fmt_number(run["p99_us"], 1) for run in runs)),
            ("evaluation images/s, batch 100", fmt_number(ours_eval and ours_eval["images_per_second"]),
             *(fmt_number(run["images_per_second"]) for run in runs))]
    headers = ("exported convnet1 (convnet export --onnx)", "ours",
               *(f"{name} {run['version']}" for (_, name), run in zip(ONNX_SYSTEMS, runs)))
    return headers, rows


def print_table(headers, rows):
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def measure_onnx_only(args):
    """--onnx-only: our latency and batch-100 evaluation, and the exported model's, nothing else."""
    args.convnet_bench = os.path.join(args.build_dir, "bench", "convnet_bench")
    runner = Runner(args)
    latency_options = ["--count", "1000", "--warmup", "100"]
    runner.ours("latency ours", "latency", latency_options)
    runner.ours("eval batch 100 ours", "eval", ["--batch", "100", "--repeat", "3"])
    measure_onnx(runner, latency_options)
    return {s["label"]: s for s in runner.results}


def cpu_seconds():
    """(CPU seconds every process has used on this machine, CPU seconds this driver and its waited-for
    children have used): the difference over a run is what other processes took."""
    with open("/proc/stat") as stat:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    machine = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return machine, sum(usage.ru_utime + usage.ru_stime for usage in own)


def machine_summary():
    """One line from lscpu: the CPU, cores and the widest FMA the kernel reports."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (lscpu failed)"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    get = lambda key: fields.get(key, "?").strip()
    flags = get("Flags").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (f"{get('Model name')}, {get('CPU(s)')} CPUs ({get('Core(s) per socket')} cores/socket, "
            f"{get('Thread(s) per core')} thread/core), {isa}, L2 {get('L2 cache')}, L3 {get('L3 cache')}"
            f"{', ' + get('Hypervisor vendor') + ' VM' if 'Hypervisor vendor' in fields else ''}")


def measure_segmentation(runner, settings):
    """The U-Net's training throughput on the segmentation folder, ours and PyTorch (user, tuned),
    the systems alternating each round: a few seconds of steps each after a short warm-up, the same
    first images. Labels start with "unet round"."""
    args = runner.args
    options = ["--epochs", "1", "--warmup-steps", "3", "--images", str(settings["segment_images"]),
               "--batch", str(SEGMENT_BATCH), "--model", SEGMENT_MODEL]
    # Our converted split kept between runs, as `convnet train` keeps it (PyTorch's: build/segment-cache).
    cache = os.path.join(args.build_dir, "segment-cache", "convnet")
    for r in range(settings["rounds"]):
        runner.run(f"unet round {r + 1} ours", [args.convnet_bench, "train", "--data", args.segment_data, "--cache", cache,
                                                "--threads", str(args.threads)] + options)
        for tuned in (False, True):
            runner.torch(f"unet round {r + 1} pytorch-{'tuned' if tuned else 'user'}", "train", options, tuned,
                         data=args.segment_data)


def measure_detection(runner, settings):
    """The detector's training throughput on the detection folder, ours and PyTorch (user, tuned),
    the systems alternating each round, as measure_segmentation. Labels start with "detect round"."""
    args = runner.args
    options = ["--epochs", "1", "--warmup-steps", "3", "--images", str(settings["detect_images"]),
               "--batch", str(DETECT_BATCH), "--model", DETECT_MODEL]
    cache = os.path.join(args.build_dir, "detect-cache", "convnet")
    for r in range(settings["rounds"]):
        runner.run(f"detect round {r + 1} ours", [args.convnet_bench, "train", "--data", args.detect_data, "--cache", cache,
                                                  "--threads", str(args.threads)] + options)
        for tuned in (False, True):
            runner.torch(f"detect round {r + 1} pytorch-{'tuned' if tuned else 'user'}", "train", options, tuned,
                         data=args.detect_data)


def training_multiply_adds(args, model=None):
    """Multiply-adds of one training step per image, from `convnet summary --format json`."""
    output = subprocess.run([args.convnet, "summary", "--format", "json", model or args.model], capture_output=True, text=True,
                            cwd=ROOT)
    if output.returncode != 0:
        sys.exit(f"run_bench: {args.convnet} summary failed:\n{output.stderr}")
    return json.loads(output.stdout)["totals"]["training_multiply_adds"]


def onednn_profile(args, images):
    """Where a training epoch's time goes on the fast path: ONEDNN_VERBOSE=1 over `images`
    training images, oneDNN's own execution times summed per primitive, and what is left
    (outside oneDNN: batch conversion, loss, optimiser, waits, dispatch)."""
    env = dict(child_environment(args), ONEDNN_VERBOSE="1")
    command = [args.convnet_bench, "train", "--data", args.data, "--model", args.model, "--threads", str(args.threads),
               "--images", str(images), "--warmup-steps", "5"]
    log(f"  [{time.strftime('%H:%M:%S')}] profile: ONEDNN_VERBOSE=1 {' '.join(command)}")
    output = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if output.returncode != 0:
        sys.exit(f"run_bench: profile failed:\n{output.stderr[-3000:]}")
    lines = output.stdout.splitlines()
    result = json.loads([line for line in lines if line.startswith("{")][-1])
    warmup_steps = result["warmup_steps"]
    steps = (images + 99) // 100
    # Execution lines of the warm-up come first; skip that many steps' worth of primitive calls.
    exec_lines = [line.split(",") for line in lines if line.startswith("onednn_verbose,exec,")]
    per_step = len(exec_lines) // max(warmup_steps + steps, 1)
    timed = exec_lines[per_step * warmup_steps:]
    totals = defaultdict(lambda: [0.0, 0])
    for fields in timed:
        # onednn_verbose,exec,cpu,KIND,IMPL,PROP,MEMORY DESCRIPTORS,ATTRIBUTES,AUXILIARY,PROBLEM,TIME_MS
        # where a memory descriptor reads "src_f32::blocked:aBcd16b:f0".
        kind, impl, prop, problem, milliseconds = fields[3], fields[4], fields[5], fields[-2], float(fields[-1])
        layouts = [item.split(":")[3] for item in fields[6].split() if item.count(":") >= 3 and "undef" not in item]
        if kind == "reorder":
            problem = f"{problem} {'→'.join(layouts)}"
        key = (kind, prop if prop != "undef" else "", impl, problem, " ".join(layouts))
        totals[key][0] += milliseconds
        totals[key][1] += 1
    onednn_seconds = sum(value[0] for value in totals.values()) / 1000.0
    return {"images": result["images"], "seconds": result["seconds"], "onednn_seconds": onednn_seconds,
            "rows": sorted(((value[0] / 1000.0, value[1]) + key for key, value in totals.items()), reverse=True)}


def fmt_number(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def measure(args):
    """Runs every measurement; returns the record that report() turns into the table."""
    args.convnet_bench = os.path.join(args.build_dir, "bench", "convnet_bench")
    args.convnet = os.path.join(args.build_dir, "convnet")
    args.fma_peak = os.path.join(args.build_dir, "bench", "fma_peak")
    for binary in (args.convnet_bench, args.convnet, args.fma_peak):
        if not os.access(os.path.join(ROOT, binary), os.X_OK):
            sys.exit(f"run_bench: {binary} not found: configure with -DCONVNET_BUILD_BENCH=ON and build "
                     f"(cmake -B {args.build_dir} -DCONVNET_BUILD_BENCH=ON && cmake --build {args.build_dir})")
    if subprocess.run([args.python, "-c", "import torch"], capture_output=True).returncode != 0:
        sys.exit(f"run_bench: {args.python} cannot import torch: `sudo apt-get install python3-torch` (`make deps` does)")
    quick = args.quick
    settings = {
        "command": "/usr/bin/python3 bench/run_bench.py " + " ".join(map(shlex.quote, sys.argv[1:])),
        "threads": args.threads, "quick": quick, "rounds": args.rounds or (1 if quick else 2),
        "train_images": 3000 if quick else 0,  # 0: the whole split
        "reference_images": 500 if quick else 5000,
        "resnet_images": 1000 if quick else 10000,
        "busy_images": 1000 if quick else 2000,
        "segment_images": 192 if quick else 640, "segment_data": args.segment_data,
        "detect_images": 96 if quick else 1024, "detect_data": args.detect_data,
        "time_to_accuracy": not quick or args.with_time_to_accuracy,
        "tta_target": 0.75 if quick else 0.90, "tta_timeout": args.tta_timeout, "isa": args.isa,
    }
    eval_options = ["--images", "2000", "--repeat", "1"] if quick else ["--repeat", "3"]
    latency_options = ["--count", "200", "--warmup", "50"] if quick else ["--count", "1000", "--warmup", "100"]
    runner = Runner(args)
    started = time.monotonic()
    machine_before, own_before = cpu_seconds()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(f"run_bench: load average {load_before[0]:.2f} before starting: if other work shares the cores, "
            f"timings will be low and noisy")

    log("FMA peak")
    runner.run("fma peak", [args.fma_peak, "--threads", str(args.threads), "--isa", "avx2" if args.isa == "avx2" else "auto"] +
               (["--iterations", "10000000", "--trials", "10"] if quick else []))
    macs = training_multiply_adds(args)

    log("training throughput (one epoch after warm-up; rounds alternate the systems)")
    train_options = ["--epochs", "1", "--warmup-steps", "10"]
    if settings["train_images"]:
        train_options += ["--images", str(settings["train_images"])]
    for r in range(settings["rounds"]):
        runner.all_three(f"train round {r + 1}", "train", train_options)
        runner.ours(f"train augmented round {r + 1}", "train", train_options + ["--augment", AUGMENTATION])
    log("our thread scaling (1 thread) and the reference layers")
    for r in range(settings["rounds"]):
        runner.ours(f"train 1 thread round {r + 1}", "train", train_options, threads=1)
    if args.threads >= 2:
        log("training with one core busy (another process in a busy loop), each system at its default threads")
        measure_busy(runner, ["--epochs", "3", "--warmup-steps", "2", "--images", str(settings["busy_images"])])
    if not quick:
        log("data-parallel training: 2 MPI ranks against one process")
        measure_distributed(runner, args, args.threads)
    same_images = ["--epochs", "1", "--warmup-steps", "2", "--images", str(settings["reference_images"])]
    runner.ours("train reference", "train", ["--reference"] + same_images)
    runner.ours("train fast (reference's images)", "train", same_images)

    log(f"training throughput of {RESNET_MODEL} (a graph: residual blocks), one epoch of {settings['resnet_images']} images")
    resnet_options = ["--epochs", "1", "--warmup-steps", "5", "--images", str(settings["resnet_images"])]
    runner.run("resnet ours", [args.convnet_bench, "train", "--data", args.data, "--model", RESNET_MODEL,
                               "--threads", str(args.threads)] + resnet_options)
    for tuned in (False, True):
        runner.torch(f"resnet pytorch-{'tuned' if tuned else 'user'}", "train", resnet_options + ["--model", RESNET_MODEL], tuned)

    if os.path.isdir(os.path.join(ROOT, args.segment_data, "train", "masks")):
        log(f"training throughput of {SEGMENT_MODEL} (U-Net) on {args.segment_data}, {settings['segment_images']} images at "
            f"batch {SEGMENT_BATCH} after 3 warm-up steps")
        measure_segmentation(runner, settings)
        segment_macs = training_multiply_adds(args, SEGMENT_MODEL)
    else:
        log(f"no segmentation folder at {args.segment_data}: the U-Net row is left out (`make m2nist` makes it)")
        segment_macs = None

    if os.path.isdir(os.path.join(ROOT, args.detect_data, "train", "labels")):
        log(f"training throughput of {DETECT_MODEL} (detector) on {args.detect_data}, {settings['detect_images']} images at "
            f"batch {DETECT_BATCH} after 3 warm-up steps")
        measure_detection(runner, settings)
        detect_macs = training_multiply_adds(args, DETECT_MODEL)
    else:
        log(f"no detection folder at {args.detect_data}: the detector row is left out (`make digit-boxes` makes it)")
        detect_macs = None

    log("evaluation throughput")
    for batch in (100, 1000):
        runner.all_three(f"eval batch {batch}", "eval", ["--batch", str(batch)] + eval_options)
    log("batch-1 latency")
    runner.all_three("latency", "latency", latency_options)
    if args.isa == "avx2":
        log("the exported model's rows are left out: ONNX Runtime and OpenCV DNN take no ISA limit from the environment")
    else:
        log("the exported model in ONNX Runtime and OpenCV DNN")
        measure_onnx(runner, latency_options)
    if settings["time_to_accuracy"]:
        target = settings["tta_target"]
        tta_options = ["--target", str(target), "--max-epochs", "3" if quick else "10"] + (["--images", "3000"] if quick else [])
        log(f"time to {target:.0%} test accuracy (each run stopped after {args.tta_timeout:.0f} s)")
        runner.all_three("time-to-accuracy", "time-to-accuracy", tta_options, timeout=args.tta_timeout)
    profile = onednn_profile(args, 1000 if quick else 3000)
    machine_after, own_after = cpu_seconds()
    elapsed = time.monotonic() - started
    # The share of all CPUs' time that processes other than this benchmark took during the run.
    others = max(0.0, (machine_after - machine_before) - (own_after - own_before)) / (elapsed * (os.cpu_count() or 1))
    return {"date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "settings": settings,
            "machine": machine_summary(), "training_multiply_adds": macs, "segment_training_multiply_adds": segment_macs,
            "detect_training_multiply_adds": detect_macs,
            "load_before": load_before[0],
            "other_cpu_share": round(others, 4), "seconds": round(elapsed), "results": runner.results,
            "profile": profile}


def report(record, markdown_path=None):
    """Prints the table from a measure() record and writes it as markdown when asked."""
    settings, profile, macs = record["settings"], record["profile"], record["training_multiply_adds"]
    threads, quick = settings["threads"], settings["quick"]
    by_label = {run["label"]: run for run in record["results"]}
    systems = ("ours", "pytorch-user", "pytorch-tuned")
    three = lambda name: [by_label.get(f"{name} {system}") for system in systems]
    fma = by_label["fma peak"]
    peak_one, peak_all = fma["gflops_one_core"], fma["gflops_threads"]
    rounds = [three(f"train round {r + 1}") for r in range(settings["rounds"])]
    # Best of the rounds per system: interference only ever slows a run down.
    train = [max(runs[i]["images_per_second"] for runs in rounds) for i in range(3)]
    rss = [max(runs[i]["max_rss_mb"] for runs in rounds) for i in range(3)]
    one_thread = max(by_label[f"train 1 thread round {r + 1}"]["images_per_second"] for r in range(settings["rounds"]))
    gflops = [rate * macs * 2 / 1e9 for rate in train]

    rows = []  # (metric, ours, user, tuned, ratio text, target text, met or None)

    def compare(metric, values, higher_better, target, digits=0):
        ours, user, tuned = values
        pytorch = [value for value in (user, tuned) if value is not None]
        best = (max if higher_better else min)(pytorch) if pytorch else None
        ratio = None if ours is None or not best else ours / best
        met = None if target is None or ratio is None else (ratio >= target if higher_better else ratio <= target)
        target_text = "" if target is None else (f"≥ {target:g}×" if higher_better else f"≤ {target:g}×")
        rows.append((metric, fmt_number(ours, digits), fmt_number(user, digits), fmt_number(tuned, digits),
                     "—" if ratio is None else f"{ratio:.2f}×", target_text, met))

    # Issue 17's targets: 3× PyTorch where AVX-512 serves, 2.5× on AVX2.
    avx512 = fma["isa"] == "avx512"
    speed_target = 3 if avx512 else 2.5
    compare(f"training images/s (batch 100, {threads} threads)", train, True, speed_target)
    if by_label.get("resnet ours"):
        compare(f"… {RESNET_MODEL} (residual graph), training images/s", [run["images_per_second"] for run in three("resnet")],
                True, None)
    unet_rounds = [three(f"unet round {r + 1}") for r in range(settings["rounds"])]
    if all(all(runs) for runs in unet_rounds):  # absent from records of older versions and without m2nist
        unet = [max(runs[i]["images_per_second"] for runs in unet_rounds) for i in range(3)]
        compare(f"… {SEGMENT_MODEL} (U-Net, m2nist 64×84), training images/s, batch {SEGMENT_BATCH}", unet, True, None)
        segment_macs = record.get("segment_training_multiply_adds")
        if segment_macs:
            rows.append((f"… … its training GFLOP/s ({segment_macs * 2 / 1e6:.0f} MFLOP per image)",
                         *(f"{rate * segment_macs * 2 / 1e9:.1f}" for rate in unet), "", "", None))
    detect_rounds = [three(f"detect round {r + 1}") for r in range(settings["rounds"])]
    if all(all(runs) for runs in detect_rounds):  # absent from records of older versions and without digit-boxes
        detect = [max(runs[i]["images_per_second"] for runs in detect_rounds) for i in range(3)]
        compare(f"… {DETECT_MODEL} (detector, digit-boxes 96×96), training images/s, batch {DETECT_BATCH}", detect, True, None)
        detect_macs = record.get("detect_training_multiply_adds")
        if detect_macs:
            rows.append((f"… … its training GFLOP/s ({detect_macs * 2 / 1e6:.0f} MFLOP per image)",
                         *(f"{rate * detect_macs * 2 / 1e9:.1f}" for rate in detect), "", "", None))
    for batch in (100, 1000):
        compare(f"evaluation images/s, batch {batch}", [run["images_per_second"] for run in three(f"eval batch {batch}")],
                True, speed_target)
    latency = three("latency")
    compare("batch-1 latency, median µs", [run["median_us"] for run in latency], False, 0.25, 1)
    compare("batch-1 latency, p99 µs", [run["p99_us"] for run in latency], False, None, 1)
    compare("peak RSS of a training run, MB", rss, False, 0.2)
    tta = three("time-to-accuracy") if settings["time_to_accuracy"] else None
    if tta:
        target = settings["tta_target"]
        seconds = [run["seconds"] if run and run["reached"] else None for run in tta]
        compare(f"time to {target:.0%} test accuracy, s (train + eval)", seconds, False, 0.25, 1)
        epochs_text = [f"not in {settings['tta_timeout']:.0f} s" if run is None else f"{run['epochs']}" if run["reached"]
                       else f"not in {run['epochs']}" for run in tta]
        rows.append((f"… epochs to {target:.0%}", *epochs_text, "", "same curve", None))
    augmented = [by_label.get(f"train augmented round {r + 1}") for r in range(settings["rounds"])]
    if all(augmented):  # absent from records of older versions
        rate = max(run["images_per_second"] for run in augmented)
        rows.append((f"… with --augment {AUGMENTATION} (ours, best of the rounds)", fmt_number(rate), "", "",
                     f"{rate / train[0]:.2f}× of plain", "≥ 0.9× of plain", rate >= 0.9 * train[0]))
    train_ours = by_label.get("train round 1 ours")
    if train_ours and "finite_check_us_per_step" in train_ours:  # absent from records of older versions
        share = train_ours["finite_check_us_per_step"] / train_ours["step_us"]
        rows.append(("… NaN/Inf checks of gradients and weights per step (ours), µs", f"{train_ours['finite_check_us_per_step']:.2f}",
                     "", "", f"{share:.3%} of a step", "< 1 % of a step", share < 0.01))
    scaling = train[0] / one_thread
    rows.append((f"our thread scaling, {threads} vs 1 thread (training)", f"{scaling:.2f}×", "", "", "",
                 "≥ 1.8×", scaling >= 1.8 if threads >= 2 else None))
    busy = three("busy")
    if all(busy):
        compare(f"… with one core busy, each at its default threads ({settings.get('busy_images', 2000)} images, 3 epochs)",
                [run["images_per_second"] for run in busy], True, None)
        rows.append(("… … threads chosen by default", *(str(run["threads"]) for run in busy), "", "", None))
        busy_one, busy_all = by_label["busy ours 1 thread"], by_label["busy ours all threads"]
        rows.append((f"… … ours at 1 and {threads} threads; PyTorch (tuned) at 1",
                     f"{busy_one['images_per_second']:,.0f}; {busy_all['images_per_second']:,.0f}", "",
                     f"{by_label['busy pytorch-tuned 1 thread']['images_per_second']:,.0f}", "",
                     "default ≥ 1 thread", busy[0]["images_per_second"] >= 0.95 * busy_one["images_per_second"]))
    fast_gain = by_label["train fast (reference's images)"]["images_per_second"] / by_label["train reference"]["images_per_second"]
    single, ranks, tcp = (by_label.get(f"distributed {name}") for name in ("one process", "2 ranks", "2 ranks tcp"))
    if single and ranks and tcp:
        base = single["images_per_second"]
        rows.append((f"2 MPI ranks × 1 thread against one process × {threads} threads (convnet train, epoch 2), images/s",
                     f"{ranks['images_per_second']:,.0f} vs {base:,.0f}", "", "", f"{ranks['images_per_second'] / base:.2f}×", "≥ 0.9×",
                     ranks["images_per_second"] >= 0.9 * base))
        rows.append(("… over TCP (--mca btl tcp,self)", f"{tcp['images_per_second']:,.0f}", "", "",
                     f"{tcp['images_per_second'] / base:.2f}×", "≥ 0.8×", tcp["images_per_second"] >= 0.8 * base))
        steps = 60000 / 100
        rows.append(("… time in all-reduce per step (shared memory; TCP), ms",
                     f"{ranks['communication_seconds'] / steps * 1e3:.2f}; {tcp['communication_seconds'] / steps * 1e3:.2f}", "", "",
                     "", "", None))
    rows.append((f"fast path vs reference layers (training, {settings['reference_images']} images)", f"{fast_gain:.1f}×",
                 "", "", "", "", None))
    rows.append((f"training GFLOP/s ({macs * 2 / 1e6:.1f} MFLOP per image)", f"{gflops[0]:.1f}", f"{gflops[1]:.1f}",
                 f"{gflops[2]:.1f}", "", "", None))
    share = gflops[0] / peak_all
    rows.append((f"… share of measured FMA peak ({peak_all:.0f} GFLOP/s, {threads} threads)", f"{share:.0%}",
                 f"{gflops[1] / peak_all:.0%}", f"{gflops[2] / peak_all:.0%}", "", "≥ 80 %", share >= 0.8))

    headers = ("metric", "ours", "PyTorch (user)", "PyTorch (tuned)", "ratio vs better PyTorch", "target", "met")
    cells = [tuple(str(c) for c in row[:6]) + ("" if row[6] is None else "met" if row[6] else "NOT MET",) for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]
    others = record.get("other_cpu_share")  # absent from records of older versions
    noise = ("" if others is None else f"other processes took {others:.0%} of the CPUs' time during the run ") + \
        f"(load average {record['load_before']:.2f} before it)" + \
        (": a busy machine, timings are low and noisy" if others is not None and others > 0.05 else "")
    torch_run = next(run for run in record["results"] if run.get("system") == "pytorch")
    torch_line = (f"{torch_run['compute']}, BLAS {torch_run['blas']}, {torch_run['default_threads']} thread(s) by default "
                  f"(set to {threads} here)")
    if "openblas" not in torch_run["blas"].lower():
        torch_line += ("; not OpenBLAS, so OPENBLAS_NUM_THREADS=1 changes nothing and PyTorch (user) and (tuned) "
                       "are one configuration")
    curves = [f"{run['label'].split()[-1]}: " + ", ".join(f"{a:.4f}" for a in run["test_accuracy"])
              for run in filter(None, tta or [])]
    rest = profile["seconds"] - profile["onednn_seconds"]

    print()
    print(f"convnet1 on Fashion-MNIST{' (QUICK: harness check, not a measurement)' if quick else ''}: "
          f"{threads} threads, batch 100, Adam lr 1e-3; {record['date']}")
    limited = settings.get("isa") == "avx2"  # absent from records of older versions
    isa_line = (" — limited to AVX2: " + " ".join(f"{k}={v}" for k, v in AVX2_ENVIRONMENT.items())) if limited else ""
    print(f"machine: {record['machine']}{isa_line}")
    print(f"FMA peak ({fma['isa']}): {peak_one:.0f} GFLOP/s one core, {peak_all:.0f} GFLOP/s {threads} threads; {noise}")
    print(f"PyTorch: {torch_line}")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    exported = onnx_table(by_label, threads)
    if exported:
        print()
        print_table(*exported)
    print()
    for curve in curves:
        print(f"accuracy curve, {curve}")
    print(f"fast-path profile ({profile['images']} training images, ONEDNN_VERBOSE=1): {profile['seconds']:.2f} s, of which "
          f"oneDNN primitives {profile['onednn_seconds']:.2f} s, outside oneDNN {rest:.2f} s; top:")
    for seconds, calls, kind, prop, impl, problem, layouts in profile["rows"][:8]:
        print(f"  {seconds / profile['seconds']:6.1%}  {seconds * 1000:8.1f} ms  {calls:5d}×  {kind} {prop} {impl}  {problem}")
    print(f"total {record['seconds']} s; command: {settings['command']}")

    if markdown_path:
        md = [f"Measured {record['date']} by `{settings['command']}`"
              f"{' — QUICK mode: a harness check, not a measurement' if quick else ''}.", "",
              f"- Machine: {record['machine']}{isa_line}.",
              f"- FMA peak ({fma['isa']}, measured by `fma_peak`): {peak_one:.0f} GFLOP/s on one core, "
              f"{peak_all:.0f} GFLOP/s on {threads} threads.",
              f"- PyTorch: {torch_line}.",
              f"- Every system: {threads} threads, batch 100, Adam lr 1e-3; {noise}; {record['seconds']} s in all.", "",
              "| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        md += ["| " + " | ".join(row) + " |" for row in cells]
        if exported:
            md += ["", "| " + " | ".join(exported[0]) + " |", "|" + "|".join("---" for _ in exported[0]) + "|"]
            md += ["| " + " | ".join(row) + " |" for row in exported[1]]
        if curves:
            md += [""] + [f"- Accuracy curve, {curve}" for curve in curves]
        md += ["", f"Fast-path profile ({profile['images']} training images, `ONEDNN_VERBOSE=1`; oneDNN's own "
               f"execution times summed per primitive): {profile['seconds']:.2f} s, of which oneDNN primitives "
               f"{profile['onednn_seconds']:.2f} s.", "",
               "| share | ms | calls | primitive | implementation | problem |", "|---:|---:|---:|---|---|---|"]
        for seconds, calls, kind, prop, impl, problem, layouts in profile["rows"][:12]:
            md.append(f"| {seconds / profile['seconds']:.1%} | {seconds * 1000:.1f} | {calls} | {kind} {prop} | {impl} | "
                      f"`{problem}` |")
        md.append(f"| {rest / profile['seconds']:.1%} | {rest * 1000:.1f} | | outside oneDNN (our own kernels, conversion, "
                  f"loss, optimiser, synchronisation) | | |")
        with open(markdown_path, "w") as file:
            file.write("\n".join(md) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", default="build", help="CMake build folder configured with -DCONVNET_BUILD_BENCH=ON")
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--model", default="models/convnet1.model")
    parser.add_argument("--segment-data", default="data/m2nist",
                        help=f"segmentation folder for the {SEGMENT_MODEL} row (`make m2nist`); left out when missing")
    parser.add_argument("--detect-data", default="data/digit-boxes",
                        help=f"detection folder for the {DETECT_MODEL} row (`make digit-boxes`); left out when missing")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every system (default: nproc)")
    parser.add_argument("--python", default="/usr/bin/python3", help="a Python with torch (Debian's python3-torch)")
    parser.add_argument("--rounds", type=int, default=None, help="training rounds, best kept (default 2, quick 1)")
    parser.add_argument("--quick", action="store_true", help="few images, no time-to-accuracy: checks the harness")
    parser.add_argument("--with-time-to-accuracy", action="store_true",
                        help="with --quick: also time-to-accuracy (75 %% on 3,000 images), to check that part")
    parser.add_argument("--tta-timeout", type=float, default=300, help="seconds before a time-to-accuracy run is stopped")
    parser.add_argument("--markdown", help="also write the table (and machine, profile) as markdown here")
    parser.add_argument("--json", help="write the raw record (every result, the profile) here")
    parser.add_argument("--from-json", help="measure nothing: print the table from a record written by --json")
    parser.add_argument("--isa", choices=("native", "avx2"), default="native",
                        help="avx2: every system limited to AVX2 through the environment (an AVX2 machine on an AVX-512 one)")
    parser.add_argument("--onnx-only", action="store_true",
                        help="only the exported model's rows (ONNX Runtime, OpenCV DNN) beside our latency and evaluation")
    args = parser.parse_args()
    if args.onnx_only:
        print_table(*onnx_table(measure_onnx_only(args), args.threads))
        return 0
    if args.from_json:
        with open(args.from_json) as file:
            record = json.load(file)
    else:
        record = measure(args)
        if args.json:  # written first, so that nothing measured is lost if the report fails
            with open(args.json, "w") as file:
                json.dump(record, file, indent=1)
    report(record, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
