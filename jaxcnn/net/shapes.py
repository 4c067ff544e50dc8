"""Output-size arithmetic of convolution and pooling layers."""

from __future__ import annotations


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """PyTorch's ``Conv2d``/``MaxPool2d`` output size along one spatial axis (notebook 004).

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride + 1)``; raises
    ``ValueError`` when the layer would produce no output at all.
    """
    out = (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"input size {size} is too small for kernel_size={kernel_size}, stride={stride}, "
            f"padding={padding}, dilation={dilation} (output size would be {out})"
        )
    return out
