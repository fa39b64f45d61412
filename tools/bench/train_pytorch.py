#!/usr/bin/env python3
"""The network and training of `conjure train` in PyTorch, for a side-by-side comparison of epoch
times on the same machine (Debian: apt-get install python3-torch python3-numpy).

    OPENBLAS_NUM_THREADS=1 python3 tools/bench/train_pytorch.py --threads 2

Same data (the gzip IDX files of Debian's dataset-fashion-mnist, read with numpy), same network
(conv 1->32 5x5 pad 2, ReLU, max-pool 2, conv 32->64 5x5 pad 2, ReLU, max-pool 2, linear 3136->128,
ReLU, linear 128->10, cross-entropy), same hyperparameters (SGD, momentum 0.9, lr 0.01, batch 64,
shuffled each epoch), inputs scaled to [0, 1] and normalised by the training set's mean and standard
deviation, PyTorch's default initialisation. Prints the same per-epoch lines as conjure train:
the epoch time is the training loop's (the test pass is timed apart). --limit N trains on the first
N images only, for a short timed run."""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: {data.size} data bytes, the header announces {int(np.prod(dims))}")
    return data.reshape([int(d) for d in dims])


def load(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(3136, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--limit", type=int, default=0, help="train on the first N training images only")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train_x, train_y = load(a.data, "train")
    test_x, test_y = load(a.data, "t10k")
    scaled = train_x.astype(np.float64) / 255.0
    mean, std = scaled.mean(), scaled.std()  # of the whole training set, as conjure train
    if a.limit:
        train_x, train_y = train_x[: a.limit], train_y[: a.limit]

    def tensor(images):
        x = (images.astype(np.float32) / np.float32(255.0) - np.float32(mean)) / np.float32(std)
        return torch.from_numpy(x).reshape(-1, 1, 28, 28)

    xs, ys = tensor(train_x), torch.from_numpy(train_y.astype(np.int64))
    xt, yt = tensor(test_x), torch.from_numpy(test_y.astype(np.int64))
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9)
    print(f"pytorch {torch.__version__}: {len(xs)} training and {len(xt)} test images, {torch.get_num_threads()} "
          f"threads, batch {a.batch}, lr {a.lr}, momentum 0.9, seed {a.seed}; mean {mean:.4f}, std {std:.4f}",
          flush=True)
    gen = torch.Generator().manual_seed(a.seed)
    train_total = 0.0
    for epoch in range(1, a.epochs + 1):
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(xs), generator=gen)
        loss_sum, batches = 0.0, 0
        for b0 in range(0, len(xs), a.batch):
            idx = order[b0:b0 + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            batches += 1
        t1 = time.perf_counter()
        net.eval()
        correct = 0
        with torch.no_grad():
            for b0 in range(0, len(xt), a.batch):
                correct += (net(xt[b0:b0 + a.batch]).argmax(1) == yt[b0:b0 + a.batch]).sum().item()
        t2 = time.perf_counter()
        train_total += t1 - t0
        print(f"epoch {epoch}: train loss {loss_sum / batches:.4f}, test accuracy {100.0 * correct / len(xt):.2f}%, "
              f"{t1 - t0:.1f} s (test {t2 - t1:.1f} s)", flush=True)
    print(f"training {train_total / a.epochs:.2f} s per epoch, {train_total / a.epochs / batches * 1e3:.2f} ms per batch")


if __name__ == "__main__":
    main()
