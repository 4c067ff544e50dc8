"""NumPy versions of torchvision's ``ToTensor`` and ``Normalize``, bit for bit, kept NHWC.

Same arithmetic as torchvision in float32: ``ToTensor`` is ``uint8 -> float32`` then a true
division by 255; ``Normalize`` is ``(x - mean) / std`` with mean and std cast to float32 first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Stats = tuple[tuple[float, ...], tuple[float, ...]]

NORMALIZATIONS: dict[str, Stats | None] = {
    "none": None,
    "half": ((0.5,), (0.5,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def to_tensor(images: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W, C) -> float32 in [0, 1], as ``ToTensor`` (``img.float().div(255)``)."""
    if images.dtype != np.uint8:
        raise ValueError(f"to_tensor expects uint8 images, got {images.dtype}")
    return images.astype(np.float32) / np.float32(255)


def normalize(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Per-channel ``(x - mean) / std`` over the last axis (C), as ``Normalize`` in float32.

    ``mean``/``std`` have one entry per channel, or one entry for all channels. More entries
    than channels is an error, as in torchvision: ``Normalize((0.5,)*3, (0.5,)*3)`` on a
    1-channel image raises "output with shape [1, 28, 28] doesn't match the broadcast shape
    [3, 28, 28]" (torchvision before 0.3 zipped over channels and silently used only the first
    entry, i.e. what ``"half"`` = ``((0.5,), (0.5,))`` does).
    """
    if x.dtype != np.float32:
        raise ValueError(f"normalize expects float32 input (from to_tensor), got {x.dtype}")
    mean32 = np.asarray(mean, dtype=np.float32).reshape(-1)
    std32 = np.asarray(std, dtype=np.float32).reshape(-1)
    channels = x.shape[-1]
    for label, stats in (("mean", mean32), ("std", std32)):
        if stats.size not in (1, channels):
            raise ValueError(f"normalize: {stats.size} {label} values for {channels}-channel "
                             f"images; give 1 or {channels} (torchvision raises here too)")
    if (std32 == 0).any():
        raise ValueError(f"normalize: std {tuple(std)} is zero in float32 (division by zero)")
    return (x - mean32) / std32


def preprocess(images: np.ndarray, normalization: str) -> np.ndarray:
    """uint8 NHWC images -> float32 NHWC network inputs, with a named normalization."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; valid: "
                         f"{', '.join(NORMALIZATIONS)}")
    x = to_tensor(images)
    stats = NORMALIZATIONS[normalization]
    return x if stats is None else normalize(x, *stats)
