"""jaxcnn: five classic course CNNs in JAX/Flax NNX, cross-checked against PyTorch.

The public names below load on first use, so that ``import jaxcnn.data`` (or any other
framework-neutral module) imports neither flax nor JAX.
"""

import importlib

from jaxcnn.runtime import allocator

allocator.configure()  # before XLA allocates; JAXCNN_MALLOC=default opts out

_PUBLIC = {  # name: (module, attribute or None for the module itself)
    "ARCHITECTURES": ("jaxcnn.net.options", "ARCHITECTURES"),
    "OPTIONS": ("jaxcnn.net.options", "OPTIONS"),
    "POOLS": ("jaxcnn.net.options", "POOLS"),
    "conv_output_size": ("jaxcnn.net.shapes", "conv_output_size"),
    "convert": ("jaxcnn.net.convert", None),
    "create_model": ("jaxcnn.net.registry", "create_model"),
    "summary": ("jaxcnn.net.summary", "summary"),
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'jaxcnn' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    value = importlib.import_module(module)
    return value if attribute is None else getattr(value, attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
