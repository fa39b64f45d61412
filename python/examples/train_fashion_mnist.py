#!/usr/bin/env python3
"""Trains the `conjure train` network on Fashion-MNIST in PyTorch, with conjure's Conv2d swapped in.

    conv 1->32 5x5 pad 2, ReLU, max-pool 2, conv 32->64 5x5 pad 2, ReLU, max-pool 2, flatten (3136),
    linear 3136->128, ReLU, linear 128->10, softmax cross-entropy; SGD, momentum 0.9, lr 0.01,
    batch 64, shuffled each epoch from a seed; inputs scaled to [0, 1] and normalised by the training
    set's mean and standard deviation; PyTorch's default initialisation.

The only change from a plain PyTorch script is the convolution class: `--conv torch` runs the same
script on torch.nn.Conv2d, for comparison. Data: Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist), or --data DIR holding the four gzip IDX files.

    PYTHONPATH=python python3 python/examples/train_fashion_mnist.py --epochs 3 --threads 2
"""
import argparse
import gzip
import os
import struct
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # else its threads and PyTorch's fight over the cores

import numpy as np  # noqa: E402
import torch  # noqa: E402

import conjure  # noqa: E402
import conjure.torch  # noqa: E402

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path, ndim):
    """A gzip IDX file (magic 0x0000 0x08 ndim, big-endian extents, unsigned bytes) as a uint8 array."""
    if not path.is_file():
        hint = " (apt-get install dataset-fashion-mnist)" if path.parent == DEFAULT_DATA else ""
        sys.exit(f"train_fashion_mnist: {path}: no such file{hint}")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        sys.exit(f"train_fashion_mnist: {path}: not a readable gzip file: {e}")
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, 8, ndim]):
        sys.exit(f"train_fashion_mnist: {path}: not an IDX file of unsigned bytes with {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(shape)):
        sys.exit(f"train_fashion_mnist: {path}: {len(raw) - header} bytes of data for shape {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def load(data_dir, split):
    images, labels = (read_idx(data_dir / name, ndim) for name, ndim in zip(FILES[split], (3, 1)))
    if len(images) != len(labels):
        sys.exit(f"train_fashion_mnist: {split}: {len(images)} images but {len(labels)} labels")
    return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def network(conv):
    return torch.nn.Sequential(
        conv(1, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        conv(32, 64, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def accuracy(model, images, labels, batch=1000):
    model.eval()
    with torch.no_grad():
        right = sum((model(images[i:i + batch]).argmax(1) == labels[i:i + batch]).sum().item()
                    for i in range(0, len(images), batch))
    model.train()
    return 100.0 * right / len(images)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: every core")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--algo", default="auto", choices=conjure.ALGORITHMS)
    ap.add_argument("--conv", default="conjure", choices=("conjure", "torch"), help="which Conv2d to train with")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (a quick try)")
    args = ap.parse_args()

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    ctx = conjure.Context(threads=threads)
    if args.conv == "conjure":
        def conv(*a, **kw):
            return conjure.torch.Conv2d(*a, algorithm=args.algo, context=ctx, **kw)
    else:
        conv = torch.nn.Conv2d

    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "test")
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std

    model = network(conv)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    shuffle = torch.Generator().manual_seed(args.seed)
    print(f"{args.conv} Conv2d ({args.algo if args.conv == 'conjure' else 'PyTorch'}), {threads} thread(s), "
          f"{len(train_x)} training images, batch {args.batch}")
    start = time.perf_counter()
    reached = None
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(train_x), generator=shuffle)
        total, batches = 0.0, 0
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
            if batches % 50 == 0:
                done = min(i + args.batch, len(order))
                rate = done / (time.perf_counter() - t0)
                print(f"\r  {done}/{len(order)} images, {rate:.0f} images/s, loss {total / batches:.4f}", end="",
                      file=sys.stderr, flush=True)
        seconds = time.perf_counter() - t0
        acc = accuracy(model, test_x, test_y)
        print(f"\repoch {epoch}: train loss {total / batches:.4f}, test accuracy {acc:.2f}%, {seconds:.1f} s",
              " " * 20)
        if reached is None and acc >= 90.0:
            reached = time.perf_counter() - start
    if reached is not None:
        print(f"90% test accuracy reached after {reached:.1f} s")
    ctx.close()


if __name__ == "__main__":
    main()
