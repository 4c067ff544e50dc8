"""Convolution engine: formulations of a stride-1 2-D convolution, the layouts they run in, and
the measured choice between them (:mod:`jaxcnn.conv.choice`).

Formulations (one module each, same signature, each tested against XLA's convolution): XLA's own
(:mod:`~jaxcnn.conv.xla`), GEMMs over a patch matrix with a hand-written VJP
(:mod:`~jaxcnn.conv.gemm`), shifted scaled copies for one input channel
(:mod:`~jaxcnn.conv.shift`), shifted slices and one matmul in NHWC (:mod:`~jaxcnn.conv.slices`).
"""

from jaxcnn.conv.choice import (
    AUTO,
    choices,
    describe,
    planned,
    prepare,
    requested,
    set_override,
)
from jaxcnn.conv.plans import PLANS, Plan, active

__all__ = ["AUTO", "PLANS", "Plan", "active", "choices", "describe", "planned", "prepare",
           "requested", "set_override"]
