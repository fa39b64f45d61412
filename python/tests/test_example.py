"""The Fashion-MNIST example's pieces, without training: its IDX reader on good, truncated and corrupt
files, and its network on conjure's Conv2d (one step on a tiny batch)."""
import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (apt-get install python3-torch)")
import torch  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_fashion_mnist.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_fashion_mnist", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # main() only runs as a script
    return module


def write_idx(path, array, magic=None, cut=0):
    raw = (magic or bytes([0, 0, 8, array.ndim])) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with gzip.open(path, "wb") as f:
        f.write(raw[:len(raw) - cut])
    return path


def test_idx_reader(example, tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.testing.assert_array_equal(example.read_idx(write_idx(tmp_path / "good.gz", images), 3), images)
    bad = {
        "short.gz": (write_idx(tmp_path / "short.gz", images, cut=5), "bytes of data for shape"),
        "magic.gz": (write_idx(tmp_path / "magic.gz", images, magic=bytes([0, 0, 9, 3])), "not an IDX file"),
        "missing.gz": (tmp_path / "missing.gz", "no such file"),
    }
    (tmp_path / "notgzip.gz").write_bytes(b"plain bytes")
    bad["notgzip.gz"] = (tmp_path / "notgzip.gz", "not a readable gzip file")
    full = gzip.compress(b"\0\0\x08\x03" + b"\0" * 100)
    (tmp_path / "cutgzip.gz").write_bytes(full[:len(full) // 2])
    bad["cutgzip.gz"] = (tmp_path / "cutgzip.gz", "not a readable gzip file")
    for name, (path, words) in bad.items():
        with pytest.raises(SystemExit, match=words) as e:
            example.read_idx(path, 3)
        assert name in str(e.value)


def test_network_trains_a_step_on_conjure(example):
    import conjure.torch

    model = example.network(conjure.torch.Conv2d)
    assert sum(isinstance(m, conjure.torch.Conv2d) for m in model.modules()) == 2
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
