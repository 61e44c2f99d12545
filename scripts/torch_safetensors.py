#!/usr/bin/python3
# PyTorch <-> convnet weights through safetensors, with torch and numpy alone (Debian packages no
# safetensors module): read a safetensors file into a state dict, write a state dict as one.
# The network in torch.nn is built from the same model file (make_reference.build_network: the
# modules under convnet's names, so the state-dict keys agree).
#
#   /usr/bin/python3 scripts/torch_safetensors.py check MODEL WEIGHTS IMAGES LOGITS
#       loads WEIGHTS (written by `convnet train --save X.safetensors`) with load_state_dict(strict=True)
#       and compares torch's evaluation logits on IMAGES with convnet's LOGITS (raw float32 files,
#       N x C x H x W and N x classes); exit 1 when they differ by more than 1e-5
#   /usr/bin/python3 scripts/torch_safetensors.py export MODEL OUT IMAGES LOGITS [--seed S]
#       initialises the network in torch (PyTorch's defaults), trains it 20 SGD steps on IMAGES with
#       random labels (so batch norm's running statistics move), saves its state dict as OUT, and
#       writes its evaluation logits on IMAGES to LOGITS, for convnet to reproduce
import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_reference  # noqa: E402

DTYPES = {"F32": np.float32, "I64": np.int64}


def load_safetensors(path):
    """The state dict and metadata of a safetensors file (F32 and I64 entries)."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = data[8 + length:]
    state = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<"))
        state[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return state, metadata


def save_safetensors(state, path, metadata):
    """A state dict as safetensors: float tensors as F32, integer ones as I64, header padded to 8."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name, tensor in state.items():
        integer = not tensor.is_floating_point()
        array = tensor.detach().cpu().numpy().astype("<i8" if integer else "<f4")
        header[name] = {"dtype": "I64" if integer else "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        chunks.append(array.tobytes())
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text.encode() + b"".join(chunks))


def images_from(path, model_path):
    _, sample = make_reference.build_network(Path(model_path))
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape((-1,) + sample))


def check(args):
    network, _ = make_reference.build_network(Path(args.model))
    state, metadata = load_safetensors(args.weights)
    print(network.load_state_dict(state, strict=True), "| metadata:", sorted(metadata))
    images = images_from(args.images, args.model)
    with torch.no_grad():
        ours = torch.from_numpy(np.fromfile(args.logits, dtype="<f4")).reshape(images.shape[0], -1)
        theirs = network.eval()(images).reshape(images.shape[0], -1)
    difference = (ours - theirs).abs().max().item()
    print(f"{images.shape[0]} images: max |convnet - torch| logit difference {difference:.3g}")
    return 0 if difference <= 1e-5 else 1


def export(args):
    torch.manual_seed(args.seed)
    network, _ = make_reference.build_network(Path(args.model))
    images = images_from(args.images, args.model)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(args.seed)
    network.train()
    for step in range(20):
        batch = images[torch.randint(0, images.shape[0], (32,), generator=generator)]
        optimizer.zero_grad()
        F.cross_entropy(network(batch), torch.randint(0, 10, (32,), generator=generator)).backward()
        optimizer.step()
    save_safetensors(network.state_dict(), args.out, {"format": "pt"})
    with torch.no_grad():
        network.eval()(images).numpy().astype("<f4").tofile(args.logits)
    print(f"wrote {args.out} and the logits of {images.shape[0]} images")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("check")
    for name in ("model", "weights", "images", "logits"):
        one.add_argument(name)
    two = commands.add_parser("export")
    for name in ("model", "out", "images", "logits"):
        two.add_argument(name)
    two.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    return check(args) if args.command == "check" else export(args)


if __name__ == "__main__":
    sys.exit(main())
