"""Parity kit: check any Flax NNX port against its PyTorch original, layer by layer.

Needs torch (it compares against PyTorch); the rest of jaxcnn does not import it.
``compare_ports`` pairs the layers (a name map given or inferred by call order and shape),
moves the weights across, compares every paired layer's output, the model output, BatchNorm
statistics after a train-mode step and optionally a loss's gradients, and names the first layer
above tolerance with a diagnosis. ``compare_steps`` runs N optimizer steps side by side;
``assert_ports_match`` is the pytest helper; ``python -m jaxcnn.cli.parity_check`` the command line.
See docs/parity-kit.md.
"""

from jaxcnn.parity.kit.compare import compare_ports, gradient_arrays, pair_models, port_input
from jaxcnn.parity.kit.kinks import kink_mask
from jaxcnn.parity.kit.report import PortReport, Row
from jaxcnn.parity.kit.steps import compare_steps
from jaxcnn.parity.kit.testing import assert_ports_match

__all__ = ["PortReport", "Row", "assert_ports_match", "compare_ports", "compare_steps",
           "gradient_arrays", "kink_mask", "pair_models", "port_input"]
