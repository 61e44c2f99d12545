"""The first images of each split of an IDX dataset folder written as a smaller one, for the CLI
tests that train (standard library only)."""
import gzip
import os
import shutil
import struct


def write_subset(source, target, train_images, test_images):
    """The first `train_images` and `test_images` of `source`'s splits (gzipped IDX files) as raw
    IDX files in `target`, with its classes.txt when there is one."""
    os.makedirs(target, exist_ok=True)
    for prefix, count in (("train", train_images), ("t10k", test_images)):
        for kind, header, item in (("images-idx3-ubyte", 16, 784), ("labels-idx1-ubyte", 8, 1)):
            with gzip.open(os.path.join(source, f"{prefix}-{kind}.gz"), "rb") as file:
                data = bytearray(file.read(header + count * item))
            data[4:8] = struct.pack(">I", count)
            with open(os.path.join(target, f"{prefix}-{kind}"), "wb") as out:
                out.write(data)
    if os.path.exists(os.path.join(source, "classes.txt")):
        shutil.copy(os.path.join(source, "classes.txt"), target)
