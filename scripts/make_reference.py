#!/usr/bin/python3
# Generates the PyTorch reference cases that tests/reference/test_reference.cpp compares convnet
# against (docs/REFERENCE_TESTS.md): one folder of .npy files per case plus cases.txt/networks.txt/losses.txt,
# the detection-loss cases (detection_losses.txt) of tests/reference/test_detection_loss_reference.cpp,
# and the NMS cases (nms.txt) of tests/reference/test_detection_reference.cpp when torchvision imports.
#
# Usage: /usr/bin/python3 scripts/make_reference.py OUTPUT_FOLDER
# Needs Debian's python3-torch and python3-numpy. Cases are made only for the layer types that
# src/nn/layer_registry.cpp registers, so a layer gets its cases as soon as it is in the table.
import math
import re
import shutil
import sys
import time
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SOURCE_DIR = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# The model-file line -> torch module translation (docs/MODEL_FORMAT.md): the same option names,
# defaults and automatic layer names (conv1, bn1, fc1, pool1, relu1 ...) as src/nn/network.cpp.

def parse_pair(text):
    if "x" in text:
        height, width = text.split("x")
        return int(height), int(width)
    return int(text), int(text)


def parse_bool(text):
    return text in ("true", "1")


class L2Pool2d(nn.Module):
    """torch.nn.LPPool2d(norm_type=2) after zero padding (zeros add nothing to a window's sum)."""

    def __init__(self, kernel, stride, padding):
        super().__init__()
        self.padding = padding
        self.pool = nn.LPPool2d(2, kernel, stride)

    def forward(self, x):
        pad_h, pad_w = self.padding
        return self.pool(F.pad(x, (pad_w, pad_w, pad_h, pad_h)))


def gaussian_window(kernel, sigma):
    """The distance-weighted average's weights as documented in include/convnet/nn/layers/gausspool2d.h:
    exp(−d²/(2σ²)) for the distance d of each window position from the window centre, normalised
    to sum to 1; padding reads as zero and keeps its weight."""
    kernel_h, kernel_w = kernel
    rows = torch.arange(kernel_h, dtype=torch.float64) - (kernel_h - 1) / 2
    cols = torch.arange(kernel_w, dtype=torch.float64) - (kernel_w - 1) / 2
    squared = rows[:, None] ** 2 + cols[None, :] ** 2
    weights = torch.exp(-squared / (2 * sigma * sigma))
    return weights / weights.sum()


class GaussPool2d(nn.Module):
    """No torch equivalent: a depthwise conv2d (groups = channels) with fixed Gaussian weights."""

    def __init__(self, channels, kernel, stride, padding, sigma):
        super().__init__()
        self.channels, self.stride, self.padding = channels, stride, padding
        self.register_buffer("window", gaussian_window(kernel, sigma), persistent=False)

    def forward(self, x):
        weight = self.window.to(x.dtype).expand(self.channels, 1, *self.window.shape).contiguous()
        return F.conv2d(x, weight, None, self.stride, self.padding, 1, self.channels)


class Add(nn.Module):
    """convnet's add: the sum of its inputs (ResNet's `out += identity`)."""

    def forward(self, *inputs):
        total = inputs[0]
        for more in inputs[1:]:
            total = total + more
        return total


class Concat(nn.Module):
    """convnet's concat: torch.cat along channels."""

    def forward(self, *inputs):
        return torch.cat(inputs, dim=1)


def make_module(layer_type, options, shape):
    """A torch module for one model-file line, for an input of `shape` (with batch; a join's
    first input)."""
    options = dict(options)
    take = options.pop

    def pair(key, default):
        return parse_pair(take(key)) if key in options else default

    if layer_type == "conv2d":
        kernel = pair("kernel", None)
        module = nn.Conv2d(shape[1], int(take("out")), kernel, pair("stride", (1, 1)), pair("pad", (0, 0)),
                           pair("dilation", (1, 1)), int(take("groups", 1)), parse_bool(take("bias", "true")))
        take("in", None)
    elif layer_type == "detect":  # the detection head's convolution (its gains are the loss's, not the layer's)
        kernel = int(take("kernel", 1))
        module = nn.Conv2d(shape[1], 5 + int(take("classes")), kernel, padding=kernel // 2)
        for gain in ("box_weight", "objectness_weight", "class_weight"):
            take(gain, None)
    elif layer_type in ("batchnorm2d", "batchnorm1d"):
        cls = nn.BatchNorm2d if layer_type == "batchnorm2d" else nn.BatchNorm1d
        module = cls(shape[1], eps=float(take("eps", 1e-5)), momentum=float(take("momentum", 0.1)))
        take("channels", None)
    elif layer_type == "relu":
        module = nn.ReLU()
    elif layer_type == "sigmoid":
        module = nn.Sigmoid()
    elif layer_type == "tanh":
        module = nn.Tanh()
    elif layer_type == "leakyrelu":
        module = nn.LeakyReLU(float(take("slope", 0.01)))
    elif layer_type == "softmax":
        module = nn.Softmax(dim=1)
    elif layer_type == "maxpool2d":
        kernel = pair("kernel", None)
        module = nn.MaxPool2d(kernel, pair("stride", kernel), pair("pad", (0, 0)))
    elif layer_type == "avgpool2d":
        kernel = pair("kernel", None)
        module = nn.AvgPool2d(kernel, pair("stride", kernel), pair("pad", (0, 0)),
                              count_include_pad=parse_bool(take("count_pad", "true")))
    elif layer_type == "l2pool2d":
        kernel = pair("kernel", None)
        module = L2Pool2d(kernel, pair("stride", kernel), pair("pad", (0, 0)))
    elif layer_type == "gausspool2d":
        kernel = pair("kernel", None)
        sigma = float(take("sigma", max(kernel) / 2))  # GaussPool2d::default_sigma
        module = GaussPool2d(shape[1], kernel, pair("stride", kernel), pair("pad", (0, 0)), sigma)
    elif layer_type == "globalavgpool2d":
        module = nn.AdaptiveAvgPool2d(1)
    elif layer_type == "dropout":  # for the benchmark's models: no reference case draws masks in torch
        module = nn.Dropout(float(take("p", 0.5)))
    elif layer_type == "flatten":
        module = nn.Flatten()
    elif layer_type == "convtranspose2d":
        module = nn.ConvTranspose2d(shape[1], int(take("out")), pair("kernel", None), pair("stride", (1, 1)),
                                    pair("pad", (0, 0)), pair("output_pad", (0, 0)), int(take("groups", 1)),
                                    parse_bool(take("bias", "true")), pair("dilation", (1, 1)))
        take("in", None)
    elif layer_type == "upsample2d":
        scale, mode = pair("scale", None), take("mode", "nearest")
        extra = {"align_corners": False} if mode == "bilinear" else {}
        module = nn.Upsample(scale_factor=(float(scale[0]), float(scale[1])), mode=mode, **extra)
    elif layer_type == "add":
        module = Add()
    elif layer_type == "concat":
        module = Concat()
    elif layer_type == "linear":
        module = nn.Linear(shape[1], int(take("out")), parse_bool(take("bias", "true")))
        take("in", None)
    else:
        raise SystemExit(f"make_reference.py: no torch translation for layer type '{layer_type}'")
    if options:
        raise SystemExit(f"make_reference.py: {layer_type}: options {sorted(options)} are not translated")
    return module


def parse_line(line):
    words = line.split("#")[0].split()
    options = OrderedDict(word.split("=", 1) for word in words[1:])
    return words[0], options


def name_prefix(layer_type):
    if layer_type == "conv2d":
        return "conv"
    if layer_type.startswith("batchnorm"):
        return "bn"
    if layer_type == "linear":
        return "fc"
    if "pool" in layer_type:
        return "pool"
    if layer_type == "upsample2d":
        return "upsample"
    if layer_type == "convtranspose2d":
        return "deconv"
    return layer_type


class GraphNetwork(nn.Module):
    """A model file's layers as attributes named as convnet names them (so state_dict keys agree:
    conv1.weight), run in file order, each reading the outputs its from= names (else the line
    above; `input` is the network's input). A chain is the nn.Sequential of the same layers."""

    def __init__(self, layers):
        super().__init__()
        self.order = []
        for name, module, sources in layers:
            self.add_module(name, module)
            self.order.append((name, sources))

    def forward(self, x):
        values = {"input": x}
        for name, sources in self.order:
            values[name] = getattr(self, name)(*[values[source] for source in sources])
        return values[self.order[-1][0]]


def build_network(model_path):
    """The GraphNetwork of a model file, and the sample shape (C, H, W) of its input line."""
    layers, counters, sample, shapes, previous = [], {}, None, {}, "input"
    for raw in model_path.read_text().splitlines():
        words = raw.split("#")[0].split()
        if not words:
            continue
        if words[0] == "input":
            sample = tuple(int(size) for size in words[1].split("x"))
            shapes["input"] = (1,) + sample
            continue
        layer_type, options = parse_line(raw)
        name = options.pop("name", None)
        if name is None:
            prefix = name_prefix(layer_type)
            counters[prefix] = counters.get(prefix, 0) + 1
            name = f"{prefix}{counters[prefix]}"
        sources = options.pop("from").split(",") if "from" in options else [previous]
        module = make_module(layer_type, options, shapes[sources[0]])
        layers.append((name, module, sources))
        with torch.no_grad():
            shapes[name] = tuple(module.eval()(*[torch.zeros(shapes[source]) for source in sources]).shape)
        previous = name
    return GraphNetwork(layers), sample


# ---------------------------------------------------------------------------------------------
# Case writing.

def save(folder, name, tensor, dtype=np.float32):
    np.save(folder / f"{name}.npy", np.ascontiguousarray(tensor.detach().cpu().numpy().astype(dtype)))


def make_input(shape, kind, generator):
    if kind == "distinct":  # evenly spaced values in random order: no max-pool window has a near tie
        count = math.prod(shape)
        values = (torch.arange(count, dtype=torch.float32) - count // 2) * (4.0 / count)
        return values[torch.randperm(count, generator=generator)].reshape(shape)
    if kind == "away_from_zero":  # |x| in [0.1, 1]: no value near ReLU's kink
        magnitude = torch.rand(shape, generator=generator) * 0.9 + 0.1
        sign = torch.randint(0, 2, shape, generator=generator) * 2 - 1
        return magnitude * sign
    if kind == "wide":  # for softmax: scores spread over several units
        return torch.randn(shape, generator=generator) * 3
    values = torch.rand(shape, generator=generator) * 2 - 1
    if kind == "non_finite":  # a NaN, a +inf and a -inf among ordinary values, in different images
        flat = values.view(-1)
        count = flat.numel()
        flat[1], flat[count // 2], flat[count - 2] = float("nan"), float("inf"), float("-inf")
    return values


def randomize_parameters(module, generator):
    """Default init for weights, and non-trivial batch-norm affine and running statistics, all
    rounded to float32 so that both sides start from identical values."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if name == "running_var":
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
                elif name == "weight":
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
                else:
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) - 0.5)


def layer_case(folder, name, line, input_shapes, kind, seed):
    """Runs one layer in training mode in float64 on float32 inputs and parameters. A join has
    several inputs (a list of shapes): input.npy is the first, input.1.npy the second, and so on,
    and grad_input likewise."""
    if isinstance(input_shapes[0], int):
        input_shapes = [input_shapes]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the modules' default initialisation
    layer_type, options = parse_line(line)
    module = make_module(layer_type, options, input_shapes[0]).float()
    randomize_parameters(module, generator)
    xs = [make_input(shape, kind, generator) for shape in input_shapes]
    suffixes = [""] + [f".{k}" for k in range(1, len(xs))]
    case = folder / name
    case.mkdir(parents=True)
    for x, suffix in zip(xs, suffixes):
        save(case, "input" + suffix, x)
    for parameter_name, tensor in module.state_dict().items():
        if not parameter_name.endswith("num_batches_tracked"):
            save(case, f"param.{parameter_name}", tensor)

    module = module.double().eval()
    with torch.no_grad():  # evaluation mode first, while the running statistics are the initial ones
        save(case, "output_eval", module(*[x.double() for x in xs]), np.float64)
    module.train()
    x64s = [x.double().requires_grad_() for x in xs]
    y = module(*x64s)
    grad_output = torch.rand(y.shape, generator=generator) * 2 - 1
    y.backward(grad_output.double())
    save(case, "output", y, np.float64)
    save(case, "grad_output", grad_output)
    for x64, suffix in zip(x64s, suffixes):
        save(case, "grad_input" + suffix, x64.grad, np.float64)
    for parameter_name, parameter in module.named_parameters():
        save(case, f"grad.{parameter_name}", parameter.grad, np.float64)
    for buffer_name, buffer in module.named_buffers(recurse=False):
        if buffer_name in ("running_mean", "running_var"):
            save(case, f"after.{buffer_name}", buffer, np.float64)
    return f"{name} {','.join('x'.join(map(str, shape)) for shape in input_shapes)} {line}"


# Several shapes and hyper-parameters per layer type: stride > 1, padding, non-square kernels,
# strides and paddings, dilation, several channels, odd sizes, batch > 1, bias off.
LAYER_CASES = {
    "conv2d": [
        ("conv2d out=6 kernel=5", (2, 3, 32, 32), "smooth"),  # the seed article's RGB example
        ("conv2d out=16 kernel=5 stride=1 pad=2", (3, 1, 28, 28), "smooth"),  # convnet1's first layer
        ("conv2d out=4 kernel=3 stride=2 pad=1", (3, 2, 9, 11), "smooth"),
        ("conv2d out=5 kernel=3x5 stride=2x1 pad=1x2", (2, 3, 10, 13), "smooth"),
        ("conv2d out=3 kernel=3 dilation=2 pad=2", (2, 2, 11, 9), "smooth"),
        ("conv2d out=7 kernel=2x3 stride=3x2 pad=0x1 dilation=2x1 bias=false", (2, 4, 13, 12), "smooth"),
        ("conv2d out=8 kernel=1", (2, 5, 6, 7), "smooth"),
        ("conv2d out=32 kernel=5 pad=2", (2, 16, 14, 14), "smooth"),  # convnet1's second layer
    ],
    "conv2d groups": [  # generated only when conv2d reads groups=
        ("conv2d out=6 kernel=3 pad=1 groups=3", (2, 3, 8, 8), "smooth"),
        ("conv2d out=4 kernel=3 stride=2 groups=4", (2, 4, 9, 9), "smooth"),  # depthwise
        ("conv2d out=8 kernel=3x1 pad=1x0 groups=2 bias=false", (3, 4, 7, 6), "smooth"),
        ("conv2d out=10 kernel=3 dilation=2 stride=2 groups=5", (2, 5, 11, 10), "smooth"),  # depthwise, multiplier 2
    ],
    "batchnorm2d": [
        ("batchnorm2d", (4, 3, 5, 7), "smooth"),
        ("batchnorm2d", (2, 8, 4, 4), "smooth"),
        ("batchnorm2d momentum=0.3 eps=0.001", (5, 1, 6, 6), "smooth"),
        ("batchnorm2d", (2, 16, 7, 7), "smooth"),
    ],
    "batchnorm1d": [
        ("batchnorm1d", (6, 10), "smooth"),
        ("batchnorm1d", (3, 5), "smooth"),  # not 2 samples: see docs/REFERENCE_TESTS.md
        ("batchnorm1d momentum=0.05", (16, 84), "smooth"),
    ],
    "relu": [
        ("relu", (2, 3, 5, 7), "away_from_zero"),
        ("relu", (3, 17), "away_from_zero"),
    ],
    "sigmoid": [
        ("sigmoid", (2, 3, 6, 5), "wide"),
        ("sigmoid", (3, 11), "wide"),
    ],
    "tanh": [
        ("tanh", (2, 3, 6, 5), "wide"),
        ("tanh", (3, 11), "wide"),
    ],
    "leakyrelu": [
        ("leakyrelu", (2, 3, 5, 7), "away_from_zero"),
        ("leakyrelu slope=0.2", (3, 17), "away_from_zero"),
    ],
    "softmax": [
        ("softmax", (4, 10), "wide"),
        ("softmax", (2, 5, 3, 4), "wide"),
        ("softmax", (3, 1), "wide"),
    ],
    "maxpool2d": [
        ("maxpool2d kernel=2", (2, 3, 8, 8), "distinct"),
        ("maxpool2d kernel=3 stride=2", (2, 2, 9, 11), "distinct"),
        ("maxpool2d kernel=3x2 stride=2x1 pad=1", (2, 2, 7, 6), "distinct"),
        ("maxpool2d kernel=2", (3, 1, 7, 9), "distinct"),
    ],
    "avgpool2d": [
        ("avgpool2d kernel=2", (2, 3, 8, 8), "smooth"),
        ("avgpool2d kernel=3 stride=2 pad=1", (2, 2, 9, 11), "smooth"),
        ("avgpool2d kernel=3 stride=2 pad=1 count_pad=false", (2, 2, 9, 11), "smooth"),
        ("avgpool2d kernel=3x2 stride=2x1 pad=1x0", (3, 1, 7, 6), "smooth"),
    ],
    "l2pool2d": [
        ("l2pool2d kernel=2", (2, 3, 8, 8), "smooth"),
        ("l2pool2d kernel=3 stride=2", (2, 2, 9, 11), "smooth"),
        ("l2pool2d kernel=3x2 stride=2x1", (3, 1, 7, 6), "smooth"),
        ("l2pool2d kernel=3 stride=2 pad=1", (2, 2, 9, 8), "smooth"),
    ],
    "gausspool2d": [
        ("gausspool2d kernel=3", (2, 3, 9, 9), "smooth"),
        ("gausspool2d kernel=3 stride=2 pad=1", (2, 2, 9, 11), "smooth"),
        ("gausspool2d kernel=5x3 stride=2x1 sigma=2", (3, 1, 11, 7), "smooth"),
    ],
    "globalavgpool2d": [
        ("globalavgpool2d", (2, 3, 5, 7), "smooth"),
        ("globalavgpool2d", (3, 8, 1, 1), "smooth"),
    ],
    "flatten": [
        ("flatten", (2, 3, 4, 5), "smooth"),
    ],
    "detect": [
        ("detect classes=3", (2, 6, 5, 4), "smooth"),
        ("detect classes=10 kernel=3 box_weight=2", (2, 8, 6, 6), "smooth"),
    ],
    "convtranspose2d": [
        ("convtranspose2d out=4 kernel=2 stride=2", (2, 3, 7, 7), "smooth"),  # U-Net's up step, 7 -> 14
        ("convtranspose2d out=3 kernel=3 stride=2 pad=1 output_pad=1", (2, 4, 5, 6), "smooth"),
        ("convtranspose2d out=2 kernel=3x5 stride=2x1 pad=1x2 dilation=1x2", (2, 3, 4, 5), "smooth"),
        ("convtranspose2d out=6 kernel=3 stride=3 pad=1 output_pad=2 groups=3 bias=false", (2, 3, 3, 4), "smooth"),
        ("convtranspose2d out=5 kernel=1", (3, 2, 4, 4), "smooth"),
    ],
    "upsample2d": [
        ("upsample2d scale=2", (2, 3, 4, 5), "smooth"),
        ("upsample2d scale=3x2", (2, 2, 3, 4), "smooth"),
        ("upsample2d scale=2 mode=bilinear", (2, 3, 4, 5), "smooth"),
        ("upsample2d scale=3x2 mode=bilinear", (2, 2, 3, 4), "smooth"),
        ("upsample2d scale=4 mode=bilinear", (1, 2, 1, 3), "smooth"),
    ],
    "add": [  # a join: several input shapes
        ("add", [(2, 3, 4, 5), (2, 3, 4, 5)], "smooth"),
        ("add", [(3, 7), (3, 7), (3, 7)], "smooth"),
    ],
    "concat": [
        ("concat", [(2, 3, 4, 5), (2, 2, 4, 5)], "smooth"),
        ("concat", [(3, 4), (3, 1), (3, 6)], "smooth"),
    ],
    "linear": [
        ("linear out=7", (3, 20), "smooth"),
        ("linear out=10", (2, 1568), "smooth"),  # convnet1's classifier
        ("linear out=3 bias=false", (4, 5), "smooth"),
    ],
}

# Whole networks: identical initial weights and batches, a few optimiser steps in training mode.
NETWORK_CASES = [
    # name, model file, optimiser, options, steps, batch size
    ("convnet1_adam", "models/convnet1.model", "adam", {"lr": 1e-3}, 5, 8),
    ("convnet1_sgd", "models/convnet1.model", "sgd", {"lr": 0.01, "momentum": 0.9}, 5, 8),
    ("convnet1_adamw", "models/convnet1.model", "adamw", {"lr": 1e-3, "weight_decay": 0.01}, 5, 8),
    ("lenet5_adam", "models/lenet5.model", "adam", {"lr": 1e-3}, 5, 8),
    ("lenet5_sgd", "models/lenet5.model", "sgd", {"lr": 0.01, "momentum": 0.9}, 5, 8),
    ("lenet5_sgd_nesterov", "models/lenet5.model", "sgd",
     {"lr": 0.01, "momentum": 0.9, "nesterov": 1, "weight_decay": 5e-4}, 5, 8),
    # graphs: residual blocks (identity and strided 1x1 shortcuts), and a U-Net scoring every pixel
    ("resnet_basic_sgd", "tests/reference/resnet-basic.model", "sgd", {"lr": 0.05, "momentum": 0.9}, 5, 8),
    ("resnet_basic_adam", "tests/reference/resnet-basic.model", "adam", {"lr": 1e-3}, 5, 8),
    ("unet_small_adam", "models/unet-small.model", "adam", {"lr": 1e-3}, 5, 4),
    # the loss's label smoothing (train --label-smoothing), as torch.nn.CrossEntropyLoss(label_smoothing=...)
    ("convnet1_adam_label_smoothing", "models/convnet1.model", "adam", {"lr": 1e-3, "label_smoothing": 0.2}, 5, 8),
]


def make_optimizer(name, parameters, options):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=options["lr"], weight_decay=options.get("weight_decay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=options["lr"], weight_decay=options.get("weight_decay", 0.01))
    return torch.optim.SGD(parameters, lr=options["lr"], momentum=options.get("momentum", 0.0),
                           nesterov=bool(options.get("nesterov", 0)), weight_decay=options.get("weight_decay", 0.0))


def network_case(folder, name, model_file, optimizer_name, options, steps, batch_size, seed):
    torch.manual_seed(seed)
    network, sample = build_network(SOURCE_DIR / model_file)
    network = network.float()
    case = folder / name
    case.mkdir(parents=True)
    for parameter_name, tensor in network.state_dict().items():
        if not parameter_name.endswith("num_batches_tracked"):
            save(case, f"initial.{parameter_name}", tensor)

    network = network.double().train()
    with torch.no_grad():  # (N, classes) for a classifier, (N, classes, H, W) for scores per pixel
        output_shape = tuple(network.eval()(torch.zeros((2,) + sample, dtype=torch.float64)).shape)
    network.train()
    optimizer = make_optimizer(optimizer_name, network.parameters(), options)
    generator = torch.Generator().manual_seed(seed + 1)
    losses, largest_gradient = [], {}
    for step in range(steps):
        images = torch.rand((batch_size,) + sample, generator=generator)  # pixels in [0, 1]
        labels = torch.randint(0, output_shape[1], (batch_size,) + output_shape[2:], generator=generator)
        save(case, f"batch{step}.images", images)
        save(case, f"batch{step}.labels", labels, np.uint8)
        optimizer.zero_grad()
        loss = F.cross_entropy(network(images.double()), labels, label_smoothing=options.get("label_smoothing", 0.0))
        loss.backward()
        for parameter_name, parameter in network.named_parameters():
            largest = parameter.grad.abs().max().item()
            largest_gradient[parameter_name] = max(largest_gradient.get(parameter_name, 0.0), largest)
        optimizer.step()
        losses.append(loss.item())
    np.save(case / "losses.npy", np.array(losses, dtype=np.float64))
    with torch.no_grad():  # evaluation mode after training: the running statistics at work
        first_images = torch.from_numpy(np.load(case / "batch0.images.npy"))
        save(case, "final_eval_logits", network.eval()(first_images.double()), np.float64)
    for parameter_name, tensor in network.state_dict().items():
        if not parameter_name.endswith("num_batches_tracked"):
            save(case, f"final.{parameter_name}", tensor, np.float64)
    # Parameters whose true gradient is zero (a conv bias right before batch norm): Adam turns
    # rounding noise there into steps of up to lr, so the test bounds them instead (see the doc).
    overall = max(largest_gradient.values())
    zero = [n for n, g in largest_gradient.items() if g <= 1e-9 * overall]
    (case / "zero_gradient.txt").write_text("".join(n + "\n" for n in zero))
    option_text = " ".join(f"{key}={value}" for key, value in options.items())
    return f"{name} {model_file} {optimizer_name} steps={steps} batch={batch_size} {option_text}"


# The loss: torch.nn.CrossEntropyLoss(weight, ignore_index, label_smoothing, reduction="mean") on
# rows (N, K) and on pixels (N, K, H, W), for convnet's softmax_cross_entropy (include/convnet/nn/loss.h).
LOSS_CASES = [
    # name, logits shape, logit scale, class weights (None, "random" or "zero": random with one class
    # at 0), ignore_index (-1: none), label smoothing
    ("rows", (6, 10), 3.0, None, -1, 0.0),
    ("rows_weighted", (9, 5), 3.0, "random", -1, 0.0),
    ("rows_weighted_ignore_class", (12, 6), 3.0, "random", 2, 0.0),  # ignore_index is one of the classes
    ("rows_smoothing_zero_weight_ignore", (10, 7), 3.0, "zero", 255, 0.1),
    ("pixels_ignore", (2, 11, 8, 10), 3.0, None, 255, 0.0),
    ("pixels_weighted_ignore", (2, 11, 8, 10), 3.0, "random", 255, 0.0),
    ("pixels_smoothing_weighted_ignore", (2, 11, 8, 10), 3.0, "random", 255, 0.1),
    ("pixels_zero_weight_ignore", (2, 11, 8, 10), 3.0, "zero", 255, 0.0),
    ("pixels_smoothing_ignore", (3, 4, 5, 6), 3.0, None, 255, 0.2),
    ("rows_large_logits", (8, 11), 1e3, "random", 255, 0.1),  # exp(1e3) overflows without log-sum-exp
    ("pixels_large_logits", (2, 11, 8, 10), 1e3, "random", 255, 0.1),
]
ZERO_WEIGHT_CLASS = 1


def loss_case(folder, name, shape, scale, weights, ignore_index, label_smoothing, seed):
    """F.cross_entropy in float64 on float32 logits and weights (what convnet is given). About a
    fifth of the targets are ignore_index (when it is not a class, which the labels hit by chance);
    with a zero weight, the first target is that class and the second one is ignored."""
    generator = torch.Generator().manual_seed(seed)
    classes, target_shape = shape[1], (shape[0],) + tuple(shape[2:])
    if scale > 100:  # uniform in [-scale, scale]: most rows hold logits ~1e3 apart
        logits = (torch.rand(shape, generator=generator) * 2 - 1) * scale
    else:
        logits = torch.randn(shape, generator=generator) * scale
    labels = torch.randint(0, classes, target_shape, generator=generator)
    if ignore_index >= classes:
        labels[torch.rand(target_shape, generator=generator) < 0.2] = ignore_index
    weight = None
    if weights is not None:
        weight = torch.rand(classes, generator=generator) * 1.75 + 0.25  # float32, in [0.25, 2)
        if weights == "zero":
            weight[ZERO_WEIGHT_CLASS] = 0.0
            labels.view(-1)[0] = ZERO_WEIGHT_CLASS
            labels.view(-1)[1] = ignore_index
    counted = labels != ignore_index
    if counted.all() != (ignore_index < 0) or not counted.any():
        raise SystemExit(f"make_reference.py: loss case {name}: pick a seed with some targets ignored and some counted")
    case = folder / name
    case.mkdir(parents=True)
    save(case, "logits", logits)
    save(case, "labels", labels, np.uint8)
    if weight is not None:
        save(case, "weight", weight)
    logits64 = logits.double().requires_grad_()
    weight64 = None if weight is None else weight.double()
    loss = F.cross_entropy(logits64, labels, weight=weight64, ignore_index=ignore_index if ignore_index >= 0 else -100,
                           label_smoothing=label_smoothing, reduction="mean")
    loss.backward()
    save(case, "loss", loss, np.float64)
    save(case, "grad_logits", logits64.grad, np.float64)
    # What LossResult also reports: targets counted, those whose largest logit is the label, Σ weight[label].
    correct = ((logits64.detach().argmax(1) == labels) & counted).sum()
    denominator = (weight64[labels[counted]].sum() if weight64 is not None else counted.sum().double())
    save(case, "counts", torch.stack([counted.sum().double(), correct.double(), denominator.detach()]), np.float64)
    return (f"{name} {'x'.join(map(str, shape))} weight={int(weight is not None)} ignore_index={ignore_index} "
            f"label_smoothing={label_smoothing}")


# ---------------------------------------------------------------------------------------------
# Detection: torchvision.ops.nms and batched_nms (Debian's python3-torchvision 0.14, which
# recommends but does not need python3-av) on seeded random boxes, for src/nn/boxes.cpp
# (tests/reference/test_detection_reference.cpp, docs/DETECTION.md). A section of its own: torch
# alone makes every other case; without torchvision, nms.txt holds one line "unavailable: …" and
# the C++ test is skipped with the install hint.
#
# Boxes are in pixels on a 640×480 image with random sizes, their corners on sixteenths of a pixel:
# then batched_nms's coordinate trick (each class's boxes shifted by class·(max coordinate + 1),
# then one nms) is exact in float32, and its result is that of nms per class, which is what
# convnet computes; off that grid the shift can round an IoU across the threshold.
NMS_CASES = [
    # name, boxes, classes, iou_threshold, scores ("uniform": all distinct; "tenths": k/10, many ties), layout
    ("empty", 0, 1, 0.5, "uniform", "spread"),
    ("one", 1, 1, 0.5, "uniform", "spread"),
    ("spread", 300, 1, 0.5, "uniform", "spread"),
    ("equal_scores", 200, 1, 0.5, "tenths", "crowded"),
    ("classes", 400, 5, 0.7, "tenths", "crowded"),
    ("classes_low_threshold", 300, 3, 0.3, "uniform", "crowded"),
    # Whole pixels, small boxes: some IoUs fall exactly on the threshold. At 0.5 such a box stays
    # (suppressed only above it); at 0.3 an IoU of exactly 3/10 is 0.30000001 in float32 and goes.
    ("integer_corners", 250, 2, 0.3, "tenths", "integer"),
    ("integer_corners_half", 250, 1, 0.5, "tenths", "integer"),
    # > 1000 boxes (boxes.numel() > 4000): batched_nms runs nms per class and sorts the kept boxes
    # with an unstable sort, so its scores here are distinct.
    ("over_1000", 1200, 4, 0.5, "uniform", "crowded"),
]
NMS_MISSING_HINT = ("torchvision is not importable by this Python, so the NMS reference cases were not made: "
                    "sudo apt-get install python3-torchvision (`make test` does), then delete BUILD/reference.stamp "
                    "and build again")


def nms_boxes(count, layout, generator):
    """(count, 4) float32 x1 y1 x2 y2: corners on 1/16 pixel ("integer": whole pixels, small boxes)."""
    if layout == "integer":
        corner = torch.randint(0, 40, (count, 2), generator=generator)
        size = torch.randint(1, 12, (count, 2), generator=generator)
        return torch.cat([corner, corner + size], 1).float()
    extent = torch.tensor([640.0, 480.0]) if layout == "spread" else torch.tensor([160.0, 120.0])
    corner = torch.floor(torch.rand(count, 2, generator=generator) * extent * 16) / 16
    size = torch.floor((torch.rand(count, 2, generator=generator) * 196 + 4) * 16) / 16  # 4 to 200 pixels
    return torch.cat([corner, corner + size], 1).float()


def nms_case(folder, name, count, classes, iou_threshold, score_kind, layout, seed, ops):
    generator = torch.Generator().manual_seed(seed)
    boxes = nms_boxes(count, layout, generator)
    if score_kind == "tenths":
        scores = torch.randint(0, 11, (count,), generator=generator).float() / 10
    else:
        scores = torch.randperm(max(count, 1), generator=generator)[:count].float() / max(count, 1) + 0.5 / max(count, 1)
    labels = torch.randint(0, classes, (count,), generator=generator)
    case = folder / name
    case.mkdir(parents=True)
    save(case, "boxes", boxes)
    save(case, "scores", scores)
    save(case, "labels", labels, np.uint8)
    save(case, "nms_keep", ops.nms(boxes, scores, iou_threshold), np.float64)
    save(case, "batched_nms_keep", ops.batched_nms(boxes, scores, labels, iou_threshold), np.float64)
    # box_iou and generalized_box_iou of the first boxes, in float64 (as convnet's return them).
    first = boxes[:24].double()
    save(case, "box_iou", ops.box_iou(first, first), np.float64)
    save(case, "generalized_box_iou", ops.generalized_box_iou(first, first), np.float64)
    return f"{name} boxes={count} classes={classes} iou_threshold={iou_threshold}"


def write_nms_cases(output):
    """The NMS cases under OUTPUT/nms and their list OUTPUT/nms.txt; returns what it made, for the summary."""
    header = "# convnet NMS reference cases (torchvision.ops): name, boxes, classes, iou_threshold\n"
    try:
        import torchvision
        import torchvision.ops as ops
    except ImportError as error:
        (output / "nms.txt").write_text(header + f"unavailable: {NMS_MISSING_HINT} ({error})\n")
        return "no NMS cases (torchvision missing)"
    (output / "nms").mkdir(parents=True)
    lines = [nms_case(output / "nms", name, count, classes, iou_threshold, score_kind, layout, case_seed(name), ops)
             for name, count, classes, iou_threshold, score_kind, layout in NMS_CASES]
    (output / "nms.txt").write_text(header + "".join(line + "\n" for line in lines))
    return f"{len(lines)} NMS cases (torchvision {torchvision.__version__})"


# ---------------------------------------------------------------------------------------------
# The detection loss (include/convnet/nn/detection_loss.h, docs/DETECTION.md "The loss") written again
# in torch alone, for tests/reference/test_detection_loss_reference.cpp: the assignment in plain
# Python, then GIoU by hand (as torchvision.ops.generalized_box_iou computes it, without needing
# torchvision), F.binary_cross_entropy_with_logits and F.cross_entropy in float64 on the float32
# head, and the gradient by autograd.
DETECTION_LOSS_CASES = [
    # name, head (N, 5 + K, GH, GW), objects ("random", OBJECTS-PER-IMAGE) or the name of a hand-made
    # layout, head scale (randn · scale), gains (box, objectness, class)
    ("one_object", (1, 8, 4, 4), ("random", [1]), 1.0, (5.0, 1.0, 1.0)),
    ("batch_with_empty_image", (4, 10, 6, 6), ("random", [3, 0, 1, 4]), 1.0, (5.0, 1.0, 1.0)),
    ("shared_cells", (2, 9, 4, 4), "shared_cells", 1.0, (5.0, 1.0, 1.0)),
    ("edges", (2, 8, 4, 4), "edges", 1.0, (5.0, 1.0, 1.0)),
    ("gains", (3, 11, 5, 5), ("random", [2, 5, 1]), 1.0, (2.5, 0.7, 1.3)),
    ("large_logits_3x5", (2, 9, 3, 5), ("random", [4, 6]), 4.0, (5.0, 1.0, 1.0)),
    ("no_objects", (2, 8, 4, 4), ("random", [0, 0]), 1.0, (5.0, 1.0, 1.0)),  # D = max(0, 1) = 1: objectness alone
]

# Hand-made layouts: per image, (x1, y1, x2, y2, class) in the image's unit, on binary fractions so
# that areas, centres and cells are exact in float32 and in double on both sides.
DETECTION_LAYOUTS = {
    # 4x4 grid (cells 0.25 wide). Image 0: in cell (1, 1) a small box then a larger one (the larger,
    # second, wins); in cell (2, 2) a larger then a smaller (the first wins); in cell (0, 3) two boxes
    # of equal area, 0.25x0.125 and 0.125x0.25 (the first wins). Image 1: three in cell (2, 1), the
    # middle one largest, and one alone in cell (3, 0).
    "shared_cells": [
        [(0.3125, 0.3125, 0.4375, 0.4375, 0), (0.125, 0.1875, 0.625, 0.5625, 1),
         (0.375, 0.375, 0.875, 0.875, 2), (0.5625, 0.5625, 0.6875, 0.6875, 3),
         (0.75, 0.0625, 1.0, 0.1875, 1), (0.8125, 0.0, 0.9375, 0.25, 2)],
        [(0.3125, 0.5625, 0.4375, 0.6875, 3), (0.0625, 0.375, 0.6875, 0.875, 0),
         (0.25, 0.5, 0.5, 0.75, 2), (0.0, 0.8125, 0.125, 0.9375, 1)],
    ],
    # 4x4 grid. Image 0: centre x exactly 1.0 (the last column), centre y exactly 1.0 (the last row),
    # both (the last cell), and a box touching the right edge with its centre inside. Image 1: a
    # centre x exactly on the inner boundary 0.5 (column 2, as ⌊0.5·4⌋), a centre at exactly (0, 0)
    # (cell 0), and a box filling the image (centre (0.5, 0.5): cell (2, 2)).
    "edges": [
        [(0.875, 0.3125, 1.125, 0.4375, 0), (0.125, 0.9375, 0.375, 1.0625, 1),
         (0.75, 0.75, 1.25, 1.25, 2), (0.625, 0.5625, 1.0, 0.6875, 1)],
        [(0.375, 0.0625, 0.625, 0.4375, 2), (-0.0625, -0.125, 0.0625, 0.125, 0), (0.0, 0.0, 1.0, 1.0, 1)],
    ],
}


def detection_objects(layout, images, classes, generator):
    """Objects as (x1, y1, x2, y2) float32 corners, int labels and per-image offsets: a hand-made
    layout, or random boxes (centre in [0.05, 0.95], sides in [0.05, 0.6], clipped to the image)."""
    if isinstance(layout, str):
        per_image = DETECTION_LAYOUTS[layout]
        if len(per_image) != images:
            raise SystemExit(f"make_reference.py: detection layout {layout} has {len(per_image)} images, the case {images}")
        rows = [row for image in per_image for row in image]
        boxes = torch.tensor([row[:4] for row in rows], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([row[4] for row in rows], dtype=torch.int64)
        counts = [len(image) for image in per_image]
    else:
        counts = layout[1]
        total = sum(counts)
        centre = torch.rand(total, 2, generator=generator, dtype=torch.float64) * 0.9 + 0.05
        size = torch.rand(total, 2, generator=generator, dtype=torch.float64) * 0.55 + 0.05
        boxes = torch.cat([centre - size / 2, centre + size / 2], 1).clamp(0.0, 1.0).float().reshape(-1, 4)
        labels = torch.randint(0, classes, (total,), generator=generator)
    if labels.numel() and int(labels.max()) >= classes:
        raise SystemExit("make_reference.py: a detection case's object class is not below its classes")
    offsets = [0]
    for count in counts:
        offsets.append(offsets[-1] + count)
    return boxes, labels, offsets


def assign_detection_cells(boxes, first, end, grid_height, grid_width):
    """detection_loss.h's rule: an object belongs to the cell (⌊cy·GH⌋, ⌊cx·GW⌋) of its centre (a centre
    on the right or bottom edge to the last cell); of several in one cell the larger area has it, the
    first on equal areas. Returns {cell index (row·GW + column): object index} for image objects
    [first, end). Computed in double from the float32 corners, as the corners are given."""
    owner = {}
    for index in range(first, end):
        x1, y1, x2, y2 = (float(value) for value in boxes[index])
        row = min(max(math.floor(0.5 * (y1 + y2) * grid_height), 0), grid_height - 1)
        column = min(max(math.floor(0.5 * (x1 + x2) * grid_width), 0), grid_width - 1)
        cell = row * grid_width + column
        area = (x2 - x1) * (y2 - y1)
        if cell in owner:
            held = [float(value) for value in boxes[owner[cell]]]
            if (held[2] - held[0]) * (held[3] - held[1]) >= area:
                continue
        owner[cell] = index
    return owner


def generalized_iou_pairs(predicted, target):
    """GIoU of predicted[i] with target[i], (P, 4) x1 y1 x2 y2 each: torchvision.ops.generalized_box_iou's
    diagonal, written out (IoU − (hull − union) / hull, overlaps clamped at 0)."""
    predicted_area = (predicted[:, 2] - predicted[:, 0]) * (predicted[:, 3] - predicted[:, 1])
    target_area = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    overlap = (torch.minimum(predicted[:, 2:], target[:, 2:]) - torch.maximum(predicted[:, :2], target[:, :2])).clamp(min=0)
    intersection = overlap[:, 0] * overlap[:, 1]
    union = predicted_area + target_area - intersection
    hull_sides = (torch.maximum(predicted[:, 2:], target[:, 2:]) - torch.minimum(predicted[:, :2], target[:, :2])).clamp(min=0)
    hull = hull_sides[:, 0] * hull_sides[:, 1]
    return intersection / union - (hull - union) / hull


def detection_loss_torch(head, boxes, labels, offsets, gains):
    """The loss of head (N, 5 + K, GH, GW), float64 with requires_grad, and what LossResult counts
    (assigned, correct, D)."""
    batch, _, grid_height, grid_width = head.shape
    box_gain, objectness_gain, class_gain = gains
    images, rows, columns, owners = [], [], [], []
    for n in range(batch):
        for cell, index in sorted(assign_detection_cells(boxes, offsets[n], offsets[n + 1], grid_height, grid_width).items()):
            images.append(n)
            rows.append(cell // grid_width)
            columns.append(cell % grid_width)
            owners.append(index)
    assigned = len(owners)
    denominator = float(max(assigned, 1))
    objectness_target = torch.zeros(batch, grid_height, grid_width, dtype=torch.float64)
    objectness_target[images, rows, columns] = 1.0
    loss = objectness_gain * F.binary_cross_entropy_with_logits(head[:, 4], objectness_target, reduction="sum")
    correct = 0
    if assigned:
        scores = head[images, :, rows, columns]  # (P, 5 + K)
        column_index = torch.tensor(columns, dtype=torch.float64)
        row_index = torch.tensor(rows, dtype=torch.float64)
        centre_x = (column_index + torch.sigmoid(scores[:, 0])) / grid_width
        centre_y = (row_index + torch.sigmoid(scores[:, 1])) / grid_height
        width, height = torch.sigmoid(scores[:, 2]), torch.sigmoid(scores[:, 3])
        predicted = torch.stack([centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2], 1)
        target = boxes[owners].double()
        loss = loss + box_gain * (1.0 - generalized_iou_pairs(predicted, target)).sum()
        object_labels = labels[owners]
        loss = loss + class_gain * F.cross_entropy(scores[:, 5:], object_labels, reduction="sum")
        correct = int((scores[:, 5:].detach().argmax(1) == object_labels).sum())
    return loss / denominator, (assigned, correct, denominator)


def detection_loss_case(folder, name, shape, layout, scale, gains, seed):
    generator = torch.Generator().manual_seed(seed)
    head = torch.randn(shape, generator=generator) * scale  # float32: what convnet is given
    boxes, labels, offsets = detection_objects(layout, shape[0], shape[1] - 5, generator)
    head64 = head.double().requires_grad_()
    loss, (assigned, correct, denominator) = detection_loss_torch(head64, boxes, labels, offsets, gains)
    loss.backward()
    case = folder / name
    case.mkdir(parents=True)
    save(case, "head", head)
    save(case, "objects", boxes)
    save(case, "labels", labels, np.uint8)
    save(case, "offsets", torch.tensor(offsets), np.float64)
    save(case, "loss", loss, np.float64)
    save(case, "grad_head", head64.grad, np.float64)
    save(case, "counts", torch.tensor([assigned, correct, denominator], dtype=torch.float64), np.float64)
    box_gain, objectness_gain, class_gain = gains
    return (f"{name} {'x'.join(map(str, shape))} objects={len(boxes)} assigned={assigned} box_weight={box_gain} "
            f"objectness_weight={objectness_gain} class_weight={class_gain}")


def write_detection_loss_cases(output):
    """The detection-loss cases under OUTPUT/detection_losses and their list OUTPUT/detection_losses.txt."""
    (output / "detection_losses").mkdir(parents=True)
    lines = [detection_loss_case(output / "detection_losses", name, shape, layout, scale, gains, case_seed(name))
             for name, shape, layout, scale, gains in DETECTION_LOSS_CASES]
    (output / "detection_losses.txt").write_text(
        "# convnet detection-loss reference cases: name, head shape (N x 5+K x GH x GW), objects, cells assigned, gains\n"
        + "".join(line + "\n" for line in lines))
    return len(lines)


def case_seed(name):
    """A fixed seed per case name: adding or removing a case leaves the others' data unchanged."""
    return zlib.crc32(name.encode())


def registered_layer_types():
    registry = (SOURCE_DIR / "src/nn/layer_registry.cpp").read_text()
    return re.findall(r'LayerType\s*\{\s*"(\w+)"', registry)


def main():
    torch.set_num_threads(1)  # the build shares its cores; every case is small
    if len(sys.argv) != 2:
        raise SystemExit("usage: /usr/bin/python3 scripts/make_reference.py OUTPUT_FOLDER")
    start = time.time()
    output = Path(sys.argv[1])
    if output.exists():
        shutil.rmtree(output)
    (output / "layers").mkdir(parents=True)
    (output / "networks").mkdir(parents=True)

    registered = registered_layer_types()
    registry_source = (SOURCE_DIR / "src/nn/layer_registry.cpp").read_text()
    lines, covered = [], []
    for group, cases in LAYER_CASES.items():
        layer_type = group.split()[0]
        if layer_type not in registered:
            continue
        if group == "conv2d groups" and '"groups"' not in registry_source:
            continue
        covered.append(group)
        for index, (line, shape, kind) in enumerate(cases):
            name = f"{group.replace(' ', '_')}_{index}"
            lines.append(layer_case(output / "layers", name, line, shape, kind, case_seed(name)))
        # NaN and infinities must come out where PyTorch's do (docs/REFERENCE_TESTS.md).
        line, shape, _ = cases[0]
        name = f"{group.replace(' ', '_')}_nonfinite"
        lines.append(layer_case(output / "layers", name, line, shape, "non_finite", case_seed(name)))
    (output / "cases.txt").write_text(
        "# convnet reference cases (scripts/make_reference.py): name, input shape, model-file line\n"
        + "".join(line + "\n" for line in lines))

    networks = []
    for name, model_file, optimizer_name, options, steps, batch_size in NETWORK_CASES:
        model_path = SOURCE_DIR / model_file
        if not model_path.exists():
            continue
        types = [parse_line(raw)[0] for raw in model_path.read_text().splitlines()
                 if raw.split("#")[0].split() and raw.split()[0] != "input"]
        if any(t not in registered for t in types):
            continue
        networks.append(network_case(output / "networks", name, model_file, optimizer_name, options, steps, batch_size,
                                     case_seed(name)))
    (output / "networks.txt").write_text(
        "# convnet whole-network reference cases: name, model file, optimiser, steps, batch size, options\n"
        + "".join(line + "\n" for line in networks))
    (output / "losses").mkdir(parents=True)
    losses = [loss_case(output / "losses", name, shape, scale, weights, ignore_index, label_smoothing, case_seed(name))
              for name, shape, scale, weights, ignore_index, label_smoothing in LOSS_CASES]
    (output / "losses.txt").write_text(
        "# convnet loss reference cases: name, logits shape, weight=0|1, ignore_index (-1: none), label_smoothing\n"
        + "".join(line + "\n" for line in losses))
    detection_losses = write_detection_loss_cases(output)
    nms_summary = write_nms_cases(output)
    missing = [group for group in LAYER_CASES if group not in covered]
    print(f"make_reference.py: {len(lines)} layer cases ({', '.join(covered)}), {len(networks)} network cases, "
          f"{len(losses)} loss cases, {detection_losses} detection-loss cases, {nms_summary} "
          f"in {time.time() - start:.1f} s" + (f"; not registered yet: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
