#!/usr/bin/python3
"""The exported convnet1 in other runtimes, for `make bench` (bench/run_bench.py): batch-1 latency
and batch-100 throughput in ONNX Runtime (onnxruntime-node, tests/onnx/ort.js) and OpenCV's DNN
module, at the thread count convnet runs with. One JSON line per measurement, as convnet_bench.

    onnx_bench.py prepare --build-dir B --data D --model M --out DIR
        weights (convnet_onnx_helper init), DIR/model.onnx (convnet export), DIR/input.f32 (the
        test split as float32 NCHW) and DIR/input.json (its shape)
    onnx_bench.py opencv --dir DIR --threads T [--count C --warmup W --batch B]
    onnx_bench.py onnxruntime --dir DIR --threads T [--count C --warmup W --batch B]
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import check_onnx  # noqa: E402  (its IDX reader and image fitting)


def prepare(args):
    os.makedirs(args.out, exist_ok=True)
    weights, exported = os.path.join(args.out, "model.weights"), os.path.join(args.out, "model.onnx")
    subprocess.run([os.path.join(args.build_dir, "tests", "convnet_onnx_helper"), "init", args.model, "1", weights], check=True)
    subprocess.run([os.path.join(args.build_dir, "convnet"), "export", "--model", args.model, "--weights", weights, "--onnx",
                    exported, "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
    import onnx
    dims = [d.dim_value for d in onnx.load(exported).graph.input[0].type.tensor_type.shape.dim[1:]]
    images = check_onnx.fit_images(check_onnx.read_idx_images(args.data, 10000), *dims)
    images.tofile(os.path.join(args.out, "input.f32"))
    with open(os.path.join(args.out, "input.json"), "w") as file:
        json.dump({"shape": list(images.shape)}, file)
    print(json.dumps({"prepared": exported, "images": len(images)}))


def opencv(args, images):
    import cv2
    import numpy as np
    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNetFromONNX(os.path.join(args.dir, "model.onnx"))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    times = []
    for i in range(args.warmup + args.count):
        image = images[i % len(images)][None]
        start = time.perf_counter()
        net.setInput(image)
        net.forward()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    net.setInput(images[:args.batch])
    net.forward()
    batches = len(images) // args.batch
    start = time.perf_counter()
    for b in range(batches):
        net.setInput(images[b * args.batch:(b + 1) * args.batch])
        net.forward()
    seconds = time.perf_counter() - start
    print(json.dumps({"system": "opencv", "version": cv2.__version__, "threads": cv2.getNumThreads(), "count": args.count,
                      "median_us": times[(len(times) - 1) // 2], "p99_us": times[int(0.99 * (len(times) - 1))],
                      "batch": args.batch, "images": batches * args.batch,
                      "images_per_second": batches * args.batch / seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("prepare", "opencv", "onnxruntime"))
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "fashion-mnist"))
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "convnet1.model"))
    parser.add_argument("--out", help="prepare: the folder to write")
    parser.add_argument("--dir", help="the folder prepare wrote")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args)
        return 0
    import numpy as np
    with open(os.path.join(args.dir, "input.json")) as file:
        shape = json.load(file)["shape"]
    if args.command == "onnxruntime":
        return subprocess.run(["node", os.path.join(ROOT, "tests", "onnx", "ort.js"), "bench", os.path.join(args.dir, "model.onnx"),
                               os.path.join(args.dir, "input.f32"), ",".join(map(str, shape)), str(args.threads),
                               str(args.count), str(args.warmup), str(args.batch)]).returncode
    opencv(args, np.fromfile(os.path.join(args.dir, "input.f32"), np.float32).reshape(shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
