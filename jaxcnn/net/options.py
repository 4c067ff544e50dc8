"""The architecture names and the options each takes, shared by jaxcnn and torch_ref.

:data:`OPTIONS` is the one list of architectures; each framework's model classes register under
those names in a :class:`ModelRegistry` (``jaxcnn.net.models.MODELS``, ``torch_ref.models.MODELS``).
This module imports neither JAX nor torch.
"""

from __future__ import annotations

from collections.abc import Callable

POOLS: tuple[str, ...] = ("max", "avg", "lp2")  # lp2: LP pooling, p = 2

_COMMON_OPTIONS = ("pool", "in_channels", "image_size", "num_classes")
OPTIONS: dict[str, tuple[str, ...]] = {
    "padded": _COMMON_OPTIONS,
    "dropout": (*_COMMON_OPTIONS, "dropout"),
    "classic": _COMMON_OPTIONS,
    "lenet3x3": _COMMON_OPTIONS,
    "lenet": (*_COMMON_OPTIONS, "dropout", "batchnorm"),
}
ARCHITECTURES: tuple[str, ...] = tuple(OPTIONS)


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


class ModelRegistry:
    """One framework's model classes by architecture name, filled by :meth:`register`."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}

    def register(self, arch: str) -> Callable[[type], type]:
        """Class decorator: the class builds architecture ``arch`` (a key of :data:`OPTIONS`)."""
        if arch not in OPTIONS:
            raise ValueError(f"cannot register {arch!r}: not one of {', '.join(ARCHITECTURES)}")

        def decorate(cls: type) -> type:
            if arch in self._classes:
                raise ValueError(f"{arch!r} is registered twice")
            self._classes[arch] = cls
            return cls
        return decorate

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._classes)

    def model_class(self, arch: str, options: dict) -> type:
        """The class registered for ``arch``, after :func:`check_options`."""
        check_options(arch, options)
        if arch not in self._classes:
            raise ValueError(f"no model registered for {arch!r}")
        return self._classes[arch]
