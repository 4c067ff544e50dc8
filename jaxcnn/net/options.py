"""The architecture names and the options each takes, shared by jaxcnn and torch_ref."""

from __future__ import annotations

ARCHITECTURES: tuple[str, ...] = ("padded", "dropout", "classic", "lenet3x3", "lenet")
POOLS: tuple[str, ...] = ("max", "avg", "lp2")  # lp2: LP pooling, p = 2

_COMMON_OPTIONS = ("pool", "in_channels", "image_size", "num_classes")
OPTIONS: dict[str, tuple[str, ...]] = {
    "padded": _COMMON_OPTIONS,
    "dropout": (*_COMMON_OPTIONS, "dropout"),
    "classic": _COMMON_OPTIONS,
    "lenet3x3": _COMMON_OPTIONS,
    "lenet": (*_COMMON_OPTIONS, "dropout", "batchnorm"),
}


def check_options(arch: str, options: dict) -> None:
    """Raise ``ValueError`` naming the valid choices if ``arch`` or an option key is unknown."""
    if arch not in OPTIONS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    unknown = sorted(set(options) - set(OPTIONS[arch]))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for {arch!r}; "
            f"valid options are {', '.join(OPTIONS[arch])}"
        )
