"""Bit-identical to torchvision on all 70,000 real images of MNIST and Fashion-MNIST.

torchvision reads the same files (gunzipped into its ``<root>/<Class>/raw`` layout) and applies
the notebooks' transforms per item through a DataLoader; ``jaxcnn.data`` loads the same root
and preprocesses with the matching named normalization.
"""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import fashion_dir, gunzip_into, mnist_dir, require_idx

from jaxcnn.data import load, normalize, preprocess, to_tensor

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("torchvision.datasets")
T = pytest.importorskip("torchvision.transforms")

NOTEBOOK_TRANSFORMS = {
    "none": T.ToTensor(),
    "mnist": T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]),
    "half": T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))]),
}


class Fanout:
    """Apply several torchvision pipelines to the same item (one PIL decode, all transforms)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image):
        return tuple(t(image) for t in self.transforms)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(np.uint32)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "tv_class", "real"), [
    ("mnist", "MNIST", mnist_dir), ("fashion_mnist", "FashionMNIST", fashion_dir)])
def test_all_images_bit_identical_to_torchvision(tmp_path, name, tv_class, real):
    source = require_idx(real(), name)
    gunzip_into(source, tmp_path / tv_class / "raw")
    total = 0
    for split in ("train", "test"):
        ours = load(name, split, data_dir=tmp_path)
        assert ours.source == str(tmp_path / tv_class / "raw")
        theirs = getattr(datasets, tv_class)(tmp_path, train=split == "train", download=False,
                                             transform=Fanout(NOTEBOOK_TRANSFORMS.values()))
        loader = torch.utils.data.DataLoader(theirs, batch_size=1000, shuffle=False,
                                             num_workers=0)
        start = 0
        for outputs, targets in loader:
            stop = start + len(targets)
            np.testing.assert_array_equal(targets.numpy(), ours.labels[start:stop])
            for key, out in zip(NOTEBOOK_TRANSFORMS, outputs, strict=True):
                got = out.numpy().transpose(0, 2, 3, 1)  # NCHW -> NHWC
                want = preprocess(ours.images[start:stop], key)
                assert want.dtype == np.float32 and got.shape == want.shape
                assert np.array_equal(_bits(got), _bits(want)), (name, split, key, start)
            start = stop
        assert start == len(ours) == len(theirs)
        total += start
    assert total == 70_000


def test_cifar_normalization_bit_identical_to_torchvision():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    tv = T.Compose([T.ToTensor(), T.Normalize((0.4914, 0.4822, 0.4465),
                                              (0.2470, 0.2435, 0.2616))])
    want = np.stack([tv(img).numpy().transpose(1, 2, 0) for img in images])
    got = preprocess(images, "cifar10")
    assert np.array_equal(_bits(got), _bits(want))
    one_mean = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,))])
    want = np.stack([one_mean(img).numpy().transpose(1, 2, 0) for img in images])
    assert np.array_equal(_bits(normalize(to_tensor(images), (0.5,), (0.25,))), _bits(want))


def test_three_means_on_one_channel_is_an_error_as_in_torchvision():
    image = np.zeros((28, 28, 1), np.uint8)
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])(image)
    with pytest.raises(ValueError, match="3 mean values for 1-channel images; give 1 or 1"):
        normalize(to_tensor(image[None]), (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError, match="3 mean values for 1-channel"):
        preprocess(image[None], "cifar10")


def test_transform_argument_errors():
    with pytest.raises(ValueError, match="unknown normalization 'imagenet'; valid: none, half, "
                                         "mnist, cifar10"):
        preprocess(np.zeros((1, 2, 2, 1), np.uint8), "imagenet")
    with pytest.raises(ValueError, match="expects uint8"):
        to_tensor(np.zeros((1, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="std .* is zero"):
        normalize(np.zeros((1, 2, 2, 1), np.float32), (0.0,), (0.0,))
