"""jaxcnn: five classic course CNNs in JAX/Flax NNX, cross-checked against PyTorch."""

from jaxcnn import allocator

allocator.configure()  # before XLA allocates; JAXCNN_MALLOC=default opts out


from jaxcnn import convert  # noqa: E402
from jaxcnn.options import ARCHITECTURES, OPTIONS, POOLS  # noqa: E402
from jaxcnn.registry import create_model  # noqa: E402
from jaxcnn.shapes import conv_output_size  # noqa: E402
from jaxcnn.summary import summary  # noqa: E402

__all__ = [
    "ARCHITECTURES", "OPTIONS", "POOLS", "conv_output_size", "convert", "create_model", "summary",
]
