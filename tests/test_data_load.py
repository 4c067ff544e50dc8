"""load(): arguments, search order, the real data sets' facts, and no torch import."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from data_helpers import REPO_ROOT, fashion_dir, mnist_dir, require_idx

from jaxcnn.data import DataError, load


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "mnist2"}, r"unknown data set 'mnist2'; valid names: mnist, fashion_mnist, "
                         r"cifar10"),
    ({"split": "val"}, r"unknown split 'val'; valid splits: train, test"),
    ({"source": "web"}, r"unknown source 'web'; valid sources: auto, idx, cifar, tfds"),
    ({"source": "cifar"}, r"source 'cifar' cannot read mnist; valid sources for it: 'idx', "
                          r"'tfds', 'auto'"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    args = {"name": "mnist", "split": "test", **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        load(args.pop("name"), args.pop("split"), **args)
    assert not isinstance(info.value, DataError)


def test_real_mnist_facts():
    directory = require_idx(mnist_dir(), "MNIST")
    train = load("mnist", "train", data_dir=directory)
    test = load("mnist", "test", data_dir=directory)
    assert train.images.shape == (60_000, 28, 28, 1) and test.images.shape == (10_000, 28, 28, 1)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert list(train.labels[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(np.bincount(train.labels)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                                5851, 5949]
    assert abs(train.images.mean() / 255 - 0.130660) < 1e-6
    assert train.class_names == tuple("0123456789") and train.source == str(directory)
    assert not train.images.flags.writeable and not train.labels.flags.writeable


def test_real_fashion_mnist_found_where_debian_puts_it(monkeypatch, tmp_path):
    require_idx(fashion_dir(), "Fashion-MNIST")
    monkeypatch.delenv("JAXCNN_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    if fashion_dir() != type(fashion_dir())("/usr/share/datasets/fashion-mnist"):
        monkeypatch.setenv("JAXCNN_DATA_DIR", str(fashion_dir()))
    ds = load("fashion_mnist", "test")
    assert ds.source == str(fashion_dir()) and ds.images.shape == (10_000, 28, 28, 1)
    assert np.bincount(ds.labels).tolist() == [1000] * 10
    assert ds.class_names == ("T-Shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                              "Shirt", "Sneaker", "Bag", "Ankle Boot")


def test_search_order_data_dir_then_env_then_cwd(monkeypatch, tmp_path):
    real = require_idx(mnist_dir(), "MNIST")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for folder in ("given/MNIST", "env/mnist", "data"):  # torchvision, by-name, flat
        target = tmp_path / folder / ("raw" if folder.endswith("MNIST") else "")
        target.mkdir(parents=True)
        for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            os.symlink(real / f, target / f)
    monkeypatch.setenv("JAXCNN_DATA_DIR", str(tmp_path / "env"))
    assert load("mnist", "test", data_dir=tmp_path / "given").source == \
        str(tmp_path / "given" / "MNIST" / "raw")
    assert load("mnist", "test").source == str(tmp_path / "env" / "mnist")
    monkeypatch.delenv("JAXCNN_DATA_DIR")
    assert load("mnist", "test").source == str(tmp_path / "data")


def test_data_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; import jaxcnn.data; "
            "assert 'torchvision' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "ok"
