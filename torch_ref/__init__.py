"""The PyTorch originals of jaxcnn's five architectures, faithful to the course notebooks."""

from jaxcnn.net.options import ARCHITECTURES, OPTIONS
from torch_ref.registry import create_model

__all__ = ["ARCHITECTURES", "OPTIONS", "create_model"]
