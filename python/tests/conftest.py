"""Shared by the Python tests: they test this checkout's package (python/ first on sys.path) against
the library found as conjure._lib says ($CONJURE_LIBRARY, which `make test` sets, else the build
tree), and print a table of the largest errors seen against PyTorch at the end of the run."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:  # the oracle's own threads would only fight conjure's over the cores on these small problems
    import torch
    torch.set_num_threads(1)
except ImportError:
    pass

# (algorithm, dtype, pass) -> [configurations compared, largest |got - exact| / s]
ERRORS = {}


def record_error(algorithm, dtype, pass_name, ratio):
    entry = ERRORS.setdefault((algorithm, dtype, pass_name), [0, 0.0])
    entry[0] += 1
    entry[1] = max(entry[1], ratio)


def pytest_terminal_summary(terminalreporter):
    if not ERRORS:
        return
    tr = terminalreporter
    tr.write_sep("-", "conjure vs PyTorch (float64 exact): largest |got - exact| / s per algorithm, dtype, pass")
    tr.write_line(f"{'algorithm':<14}{'dtype':<8}{'pass':<13}{'configs':>8}{'max err/s':>12}")
    for (algo, dtype, pass_name), (count, worst) in sorted(ERRORS.items()):
        tr.write_line(f"{algo:<14}{dtype:<8}{pass_name:<13}{count:>8}{worst:>12.3g}")
