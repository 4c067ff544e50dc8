"""jaxcnn: five classic course CNNs in JAX/Flax NNX, cross-checked against PyTorch."""

from jaxcnn import convert
from jaxcnn.options import ARCHITECTURES, OPTIONS, POOLS
from jaxcnn.registry import create_model
from jaxcnn.shapes import conv_output_size
from jaxcnn.summary import summary

__all__ = [
    "ARCHITECTURES", "OPTIONS", "POOLS", "conv_output_size", "convert", "create_model", "summary",
]
