"""Download on first use, against a real HTTP server on 127.0.0.1 serving the real files.

The server (``http.server`` in a thread) serves ``<root>/<data set>/<file>`` as ``$JAXCNN_MIRROR``
expects; it records every request, so a test can assert that a download happened (or did not).
Every call points the loader at a fresh cache (``data_dir`` or ``$JAXCNN_DATA_DIR``), with a
fresh working directory, ``HOME`` and no system folders (``$JAXCNN_SYSTEM_DATASETS`` empty), so
no local copy (``./data``, ``~/.cache/jaxcnn``, Debian's ``/usr/share/datasets``) can stand in
for the download. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from data_helpers import IDX_FILES, REPO_ROOT, fashion_dir, mnist_dir, require_idx

from jaxcnn import data
from jaxcnn.data import download

TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"


class Mirror:
    """A static file server on 127.0.0.1 that records the paths it was asked for."""

    def __init__(self, root: Path) -> None:
        self.root, self.requests = root, []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self):  # noqa: N802 (http.server's name)
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_idx(root: Path, name: str, source: Path) -> None:
    """Copy the real .gz files of ``source`` to ``root/name`` (what the mirror serves)."""
    (root / name).mkdir(parents=True, exist_ok=True)
    for f in IDX_FILES:
        shutil.copyfile(source / f"{f}.gz", root / name / f"{f}.gz")


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    server = Mirror(tmp_path / "mirror")
    serve_idx(server.root, "mnist", require_idx(mnist_dir(), "MNIST"))
    serve_idx(server.root, "fashion_mnist", require_idx(fashion_dir(), "Fashion-MNIST"))
    yield server
    server.close()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache, working directory and HOME, no system folders, downloading allowed."""
    for folder in ("cache", "cwd", "home"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("JAXCNN_SYSTEM_DATASETS", "")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(data.OFFLINE_VAR, raising=False)
    return tmp_path / "cache"


def gz_paths(name: str) -> list[str]:
    return sorted(f"/{name}/{f}.gz" for f in IDX_FILES)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_cache_downloads_fashion_mnist_once(mirror, isolated, monkeypatch):
    """Debian's re-compressed .gz pass: the check is on the decompressed content."""
    monkeypatch.setenv(data.MIRROR_VAR, mirror.url)
    test = data.load("fashion_mnist", "test", progress=False)
    assert sorted(mirror.requests) == gz_paths("fashion_mnist")
    assert test.source == str(isolated / "fashion_mnist")
    assert files_under(isolated) == ["fashion_mnist"] + [f"fashion_mnist/{f}.gz"
                                                         for f in sorted(IDX_FILES)]
    reference = data.load("fashion_mnist", "test", data_dir=fashion_dir(), download=False)
    np.testing.assert_array_equal(test.images, reference.images)
    np.testing.assert_array_equal(test.labels, reference.labels)
    # Both splits came with the first download: a second load fetches nothing.
    train = data.load("fashion_mnist", "train", progress=False)
    assert len(train) == 60_000 and len(mirror.requests) == 4


def test_fresh_cache_downloads_and_trains_then_runs_offline(mirror, isolated, tmp_path):
    """The README's quick start on a machine without MNIST: train.py downloads, then trains;
    a second run with the server gone downloads nothing and succeeds."""
    env = {**os.environ, data.MIRROR_VAR: mirror.url, "PYTHONPATH": str(REPO_ROOT)}

    def train(out: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(TRAIN_SCRIPT), "--arch", "classic", "--epochs", "1",
             "--subset", "600", "--no-progress", "--out", str(tmp_path / out)],
            capture_output=True, text=True, env=env, cwd=tmp_path / "cwd", timeout=300)

    first = train("run1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(mirror.requests) == gz_paths("mnist")
    assert f"Downloading {mirror.url}/mnist/train-images-idx3-ubyte.gz" in first.stdout
    config = json.loads((tmp_path / "run1" / "config.json").read_text())
    assert config["data"]["source"] == str(isolated / "mnist")
    mirror.close()
    second = train("run2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Downloading" not in second.stdout and len(mirror.requests) == 4


def test_corrupt_file_is_refused_and_nothing_is_written(mirror, isolated, monkeypatch):
    """A valid gzip of wrong content: the error names the URL and both checksums."""
    labels = mirror.root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[100] = (content[100] + 1) % 10  # one label changed, still a well-formed file
    labels.write_bytes(gzip.compress(bytes(content)))
    monkeypatch.setenv(data.MIRROR_VAR, mirror.url)
    with pytest.raises(data.DataError) as err:
        data.load("mnist", "train", progress=False)
    message = str(err.value)
    assert f"{mirror.url}/mnist/t10k-labels-idx1-ubyte.gz: checksum mismatch" in message
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in message
    assert "place the files by hand" in message
    assert files_under(isolated) == []  # the three good files were not kept half a set


def test_truncated_file_is_refused(mirror, isolated, monkeypatch):
    images = mirror.root / "mnist" / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: 1 << 20])
    monkeypatch.setenv(data.MIRROR_VAR, mirror.url)
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz: the downloaded "
                                             "train-images-idx3-ubyte.gz is not a valid gzip"):
        data.load("mnist", "test", progress=False)
    assert files_under(isolated) == []


def test_cifar_archive_checked_against_published_md5(isolated, tmp_path, monkeypatch):
    """No CIFAR-10 copy on this machine: a wrong archive shows the MD5 check and its error."""
    server = Mirror(tmp_path / "mirror")
    (server.root / "cifar10").mkdir(parents=True)
    (server.root / "cifar10" / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    monkeypatch.setenv(data.MIRROR_VAR, server.url)
    try:
        with pytest.raises(data.DataError) as err:
            data.load("cifar10", "test", progress=False)
    finally:
        server.close()
    message = str(err.value)
    assert f"{server.url}/cifar10/cifar-10-python.tar.gz: checksum mismatch" in message
    assert "c58f30108f718f92721af3b95e74349a" in message
    assert server.requests == ["/cifar10/cifar-10-python.tar.gz"] * (1 + download.RETRIES)
    assert files_under(isolated) == []


def test_dead_server_exits_2_naming_the_url(isolated, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, data.MIRROR_VAR: url, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(TRAIN_SCRIPT), "--arch", "classic", "--epochs", "1", "--subset",
         "600", "--no-progress", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, cwd=tmp_path / "cwd", timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{url}/mnist/train-images-idx3-ubyte.gz: download failed" in result.stderr
    assert "--no-download" in result.stderr
    assert files_under(isolated) == []


@pytest.mark.parametrize("how", ["env", "argument"])
def test_offline_downloads_nothing(mirror, isolated, monkeypatch, how):
    monkeypatch.setenv(data.MIRROR_VAR, mirror.url)
    if how == "env":
        monkeypatch.setenv(data.OFFLINE_VAR, "1")
    with pytest.raises(data.DataError, match="download: off"):
        data.load("mnist", "test", source="idx",
                  **({"download": False} if how == "argument" else {}))
    assert mirror.requests == [] and files_under(isolated) == []


def test_public_mirrors_and_mirror_layout(monkeypatch):
    monkeypatch.delenv(data.MIRROR_VAR, raising=False)
    assert download.urls("mnist", "t10k-labels-idx1-ubyte.gz") == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz"]
    monkeypatch.setenv(data.MIRROR_VAR, "http://example.invalid/data/")
    assert download.urls("cifar10", "cifar-10-python.tar.gz") == [
        "http://example.invalid/data/cifar10/cifar-10-python.tar.gz"]
