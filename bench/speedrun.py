#!/usr/bin/python3
"""`make speedrun`: the Fashion-MNIST speedrun (docs/PERFORMANCE.md, "Speedrun"). Each recipe is
one `convnet train` command; it runs from a cold start once per seed (a new process: reading the
data, training and the final evaluation all count) and the wall clock of the whole process is
its time. Prints, per recipe, the command, the mean ± standard deviation of the time and of the
final test accuracy over the seeds, and how many seeds reached the target.

    /usr/bin/python3 bench/speedrun.py --build-dir build [--seeds 10] [--first-seed 1] [--recipe NAME]
                                       [--ablation] [--markdown FILE]

--ablation runs each recipe again with each of its tricks removed in turn, on the same seeds,
for the table in docs/PERFORMANCE.md.
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

from run_bench import cpu_seconds  # beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: the target accuracy, the time it must be reached in (s), the parameter budget, the model,
# the options every run has, and the tricks: each a name and the options it adds (removed in
# turn by --ablation; a trick's "instead" options replace it, e.g. cosine decay for one-cycle).
# Tricks that each add an --augment have them joined into one list.
RECIPES = {
    "91-in-6s": {
        "target": 0.91, "seconds": 6.0, "max_parameters": None,
        "model": "models/speedrun-91.model",
        "base": ["--epochs", "2", "--batch", "100", "--optimizer", "adam", "--lr", "0.006", "--eval-every", "2"],
        "tricks": [
            ("one-cycle schedule", ["--schedule", "onecycle:0.25"], []),
            ("label smoothing 0.1", ["--label-smoothing", "0.1"], []),
            ("normalised inputs", ["--normalize", "auto"], []),
        ],
    },
    "93-in-30s": {
        "target": 0.93, "seconds": 30.0, "max_parameters": 100_000,
        "model": "models/speedrun-93.model",
        "base": ["--epochs", "7", "--batch", "100", "--optimizer", "adam", "--lr", "0.004", "--eval-every", "7"],
        "tricks": [
            ("one-cycle schedule", ["--schedule", "onecycle:0.25"], []),
            ("label smoothing 0.1", ["--label-smoothing", "0.1"], []),
            ("normalised inputs", ["--normalize", "auto"], []),
            ("flip augmentation and test-time flip", ["--augment", "flip", "--tta", "flip"], []),
        ],
    },
    "94-in-5min": {
        "target": 0.94, "seconds": 300.0, "max_parameters": 1_000_000,
        "model": "models/speedrun-94.model",
        "base": ["--epochs", "20", "--batch", "100", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--nesterov",
                 "--weight-decay", "5e-4", "--eval-every", "20"],
        "tricks": [
            # Without it: torch's usual cosine decay from the same rate (a constant 0.1 is no schedule anyone uses).
            ("one-cycle schedule", ["--schedule", "onecycle:0.2"], ["--schedule", "cosine:20"]),
            ("label smoothing 0.1", ["--label-smoothing", "0.1"], []),
            ("normalised inputs", ["--normalize", "auto"], []),
            ("crop augmentation", ["--augment", "crop:2"], []),
            ("alternating flip and test-time flip", ["--augment", "alternating-flip", "--tta", "flip"], []),
        ],
    },
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def joined_augmentations(options):
    """One --augment with every trick's augmentations (flip,crop:2), where the tricks added several."""
    augmentations, rest = [], []
    i = 0
    while i < len(options):
        if options[i] == "--augment":
            augmentations.append(options[i + 1])
            i += 2
        else:
            rest.append(options[i])
            i += 1
    return rest + (["--augment", ",".join(augmentations)] if augmentations else [])


def command_of(args, recipe, seed, removed=None):
    options = list(recipe["base"])
    for name, added, instead in recipe["tricks"]:
        options += instead if name == removed else added
    options = joined_augmentations(options)
    return [os.path.join(args.build_dir, "convnet"), "train", "--model", os.path.join(ROOT, recipe["model"]), "--data", args.data,
            "--threads", str(args.threads), "--seed", str(seed)] + options


def run_once(command):
    """The whole process's wall clock, its final test accuracy, its parameter count, and the share
    of the CPUs' time other processes took meanwhile (a busy machine makes the time long)."""
    machine_before, own_before = cpu_seconds()
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    machine_after, own_after = cpu_seconds()
    others = max(0.0, (machine_after - machine_before) - (own_after - own_before)) / (seconds * (os.cpu_count() or 1))
    if finished.returncode != 0:
        raise SystemExit(f"speedrun: {shlex.join(command)} failed ({finished.returncode}):\n{finished.stderr[-2000:]}")
    accuracy = re.search(r"final test accuracy: ([0-9.]+)", finished.stdout)
    parameters = re.search(r": (\d+) parameters;", finished.stdout)
    if not accuracy or not parameters:
        raise SystemExit(f"speedrun: no final accuracy or parameter count in the output of {shlex.join(command)}:\n{finished.stdout}")
    return seconds, float(accuracy.group(1)), int(parameters.group(1)), others


def measure(args, recipe, removed=None):
    times, accuracies, parameters, others = [], [], 0, []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        seconds, accuracy, parameters, busy = run_once(command_of(args, recipe, seed, removed))
        log(f"  seed {seed}: {accuracy:.4f} in {seconds:.2f} s, other processes {busy:.0%} of the CPUs"
            + (f" (without {removed})" if removed else ""))
        times.append(seconds)
        accuracies.append(accuracy)
        others.append(busy)
    return {"times": times, "accuracies": accuracies, "parameters": parameters, "others": others}


def load_note(results):
    """How busy the machine was during a recipe's runs: the largest share of the CPUs' time other
    processes took during one run, and a warning past 5 % (as make bench's)."""
    largest = max(share for result in results for share in result["others"])
    return (f"other processes took at most {largest:.0%} of the CPUs' time during a run"
            + (": a busy machine, the times are long and noisy" if largest > 0.05 else ""))


def spread(values, digits):
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {deviation:.{digits}f}"


def summary_row(label, recipe, result):
    reached = sum(accuracy >= recipe["target"] for accuracy in result["accuracies"])
    return [label, spread(result["accuracies"], 4), f"{min(result['accuracies']):.4f}", spread(result["times"], 2),
            f"{reached}/{len(result['accuracies'])}"]


def table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = ["| " + " | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in [header] + rows]
    lines.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--data", default="data/fashion-mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seeds", type=int, default=10, help="runs per recipe, seeds 1 to N (default 10; see --first-seed)")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="start the seeds here instead (e.g. 11 with --seeds 10: seeds the recipes were not chosen on)")
    parser.add_argument("--recipe", action="append", choices=sorted(RECIPES), help="only this recipe (repeatable)")
    parser.add_argument("--ablation", action="store_true", help="also each recipe with each trick removed in turn")
    parser.add_argument("--markdown", help="also write the tables here")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds: expected at least 1")
    if args.first_seed < 0:
        parser.error("--first-seed: expected 0 or more")
    if not os.path.isfile(os.path.join(args.build_dir, "convnet")):
        raise SystemExit(f"speedrun: {args.build_dir}/convnet not found; build first (make speedrun does)")

    seeds = f"seeds {args.first_seed} to {args.first_seed + args.seeds - 1}" if args.first_seed != 1 else f"{args.seeds} seeds"
    output = [f"Fashion-MNIST speedrun: {seeds} per recipe, {args.threads} threads, wall clock of the whole "
              "process (start, data, training, final test evaluation)"]
    header = ["recipe", "test accuracy (mean ± std)", "lowest", "seconds (mean ± std)", "seeds at the accuracy"]
    for name in args.recipe or list(RECIPES):
        recipe = RECIPES[name]
        log(f"{name}: {shlex.join(command_of(args, recipe, args.first_seed))}")
        result = measure(args, recipe)
        within_budget = recipe["max_parameters"] is None or result["parameters"] <= recipe["max_parameters"]
        accurate = all(accuracy >= recipe["target"] for accuracy in result["accuracies"])
        in_time = statistics.mean(result["times"]) <= recipe["seconds"]
        met = accurate and in_time and within_budget
        # Which part failed: a busy machine misses the time, never the accuracy (same seed, same bits).
        missed = [part for part, ok in (("accuracy", accurate), ("time", in_time), ("parameter budget", within_budget)) if not ok]
        output += ["", f"## {name}: {recipe['target']:.0%} test accuracy within {recipe['seconds']:g} s"
                   + (f", at most {recipe['max_parameters']:,} parameters" if recipe["max_parameters"] else ""),
                   "", f"recipe (seed {args.first_seed}): " + shlex.join(command_of(args, recipe, args.first_seed)).replace(ROOT + "/", ""),
                   f"parameters: {result['parameters']:,}", "",
                   table(header, [summary_row(name, recipe, result)]), "",
                   "target " + ("met" if met else "NOT MET (" + ", ".join(missed) + ")")
                   + f": every seed at ≥ {recipe['target']:.2%} and a mean time ≤ {recipe['seconds']:g} s"
                   + ("" if within_budget else " (over the parameter budget)"), load_note([result])]
        if args.ablation:
            rows, results = [summary_row("the whole recipe", recipe, result)], [result]
            for trick, _, _ in recipe["tricks"]:
                results.append(measure(args, recipe, removed=trick))
                rows.append(summary_row(f"without {trick}", recipe, results[-1]))
            output += ["", f"ablation of {name} (each trick removed in turn, same seeds):", "", table(header, rows), "",
                       load_note(results)]
    text = "\n".join(output)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
