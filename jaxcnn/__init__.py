"""jaxcnn: five classic course CNNs in JAX/Flax NNX, cross-checked against PyTorch."""

from jaxcnn.runtime import allocator

allocator.configure()  # before XLA allocates; JAXCNN_MALLOC=default opts out


from jaxcnn.net import convert  # noqa: E402
from jaxcnn.net.options import ARCHITECTURES, OPTIONS, POOLS  # noqa: E402
from jaxcnn.net.registry import create_model  # noqa: E402
from jaxcnn.net.shapes import conv_output_size  # noqa: E402
from jaxcnn.net.summary import summary  # noqa: E402

__all__ = [
    "ARCHITECTURES", "OPTIONS", "POOLS", "conv_output_size", "convert", "create_model", "summary",
]
