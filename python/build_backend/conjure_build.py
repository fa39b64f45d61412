"""A PEP 517 build backend for the conjure Python package, in the standard library only.

Why not setuptools: pip builds in an isolated environment whose build requirements it downloads from
a package index; a backend that requires nothing works on a machine without one. The package itself
is pure Python (ctypes); what makes a wheel of it useful is the library, so build_wheel builds
libconjure.so from the checkout around python/ with CMake and bundles it (conjure/libconjure.so.0,
found first at import). Choices, by `--config-settings bundle=...` or $CONJURE_BUNDLE:
  auto (default)  bundle if the C sources and cmake are there, else a pure wheel that finds the
                  library at run time ($CONJURE_LIBRARY, the build tree, the system);
  yes             bundle or fail;   no   never bundle.
$CONJURE_LIBRARY at build time bundles that file instead of building one.
build_editable (pip install -e ./python) puts python/ on sys.path; the library is then found at run
time, e.g. in <repo>/build.
"""
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parent.parent  # python/
REPO = PKG_DIR.parent
NAME = "conjure"


def _project():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(PKG_DIR / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _version():
    text = (PKG_DIR / NAME / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def _metadata():
    project = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {_version()}",
             f"Summary: {project.get('description', '')}",
             f"Requires-Python: {project.get('requires-python', '>=3')}"]
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    return "\n".join(lines) + "\n"


def _library(config_settings):
    """The bytes of the libconjure.so to bundle, or None for a wheel without one."""
    mode = (config_settings or {}).get("bundle", os.environ.get("CONJURE_BUNDLE", "auto"))
    if mode not in ("auto", "yes", "no"):
        raise ValueError(f"conjure_build: bundle must be auto, yes or no, not {mode!r}")
    if mode == "no":
        return None
    if os.environ.get("CONJURE_LIBRARY"):
        return Path(os.environ["CONJURE_LIBRARY"]).read_bytes()
    cmake = shutil.which("cmake")
    if not (REPO / "CMakeLists.txt").is_file() or not cmake:
        why = "cmake is not installed" if not cmake else f"no C sources at {REPO}"
        if mode == "yes":
            raise RuntimeError(f"conjure_build: cannot build libconjure.so: {why}")
        print(f"conjure_build: not bundling libconjure.so ({why}); it is looked up at run time", file=sys.stderr)
        return None
    run = dict(check=True, stdout=sys.stderr)  # pip shows a backend's stderr with -v, and on failure
    with tempfile.TemporaryDirectory(prefix="conjure-wheel-") as build:
        subprocess.run([cmake, "-S", str(REPO), "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                        "-DCONJURE_BUILD_TESTS=OFF", "-DCONJURE_BUILD_TOOLS=OFF"], **run)
        subprocess.run([cmake, "--build", build, "--target", "conjure", "-j", str(os.cpu_count() or 2)], **run)
        return (Path(build) / "libconjure.so").read_bytes()


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(directory, files, tag):
    """files: {archive name: bytes}; adds the .dist-info and returns the wheel's file name."""
    version = _version()
    info = f"{NAME}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: conjure_build\n"
                              f"Root-Is-Purelib: {'true' if tag.endswith('-any') else 'false'}\nTag: {tag}\n").encode()
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{NAME}-{version}-{tag}.whl"
    with zipfile.ZipFile(Path(directory) / wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            entry.external_attr = (0o755 if name.endswith(".so.0") else 0o644) << 16
            z.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return wheel


def _package_files():
    return {f"{NAME}/{p.name}": p.read_bytes() for p in sorted((PKG_DIR / NAME).glob("*.py"))}


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = _package_files()
    library = _library(config_settings)
    if library is None:
        return _write_wheel(wheel_directory, files, "py3-none-any")
    files[f"{NAME}/libconjure.so.0"] = library
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return _write_wheel(wheel_directory, files, f"py3-none-{platform}")


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, {f"_{NAME}_editable.pth": f"{PKG_DIR}\n".encode()}, "py3-none-any")


def build_sdist(sdist_directory, config_settings=None):
    """The Python package alone (no C sources): a wheel built from it finds the library at run time."""
    base = f"{NAME}-{_version()}"
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as tar:
        for path in sorted(PKG_DIR.rglob("*")):
            rel = path.relative_to(PKG_DIR)
            if path.is_file() and "__pycache__" not in rel.parts and not rel.parts[0].startswith("."):
                tar.add(path, f"{base}/{rel}")
        info = ("Metadata-Version: 2.1\n" + _metadata().split("\n", 1)[1]).encode()
        entry = tarfile.TarInfo(f"{base}/PKG-INFO")
        entry.size = len(info)
        tar.addfile(entry, io.BytesIO(info))
    return name
