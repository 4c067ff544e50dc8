"""The pytest helper: compare two ports and fail with the report when they differ."""

from __future__ import annotations

from flax import nnx
from torch import nn

from jaxcnn.parity.kit.compare import compare_ports
from jaxcnn.parity.kit.report import PortReport


def assert_ports_match(torch_model: nn.Module, flax_model: nnx.Module, x, **options
                       ) -> PortReport:
    """:func:`compare_ports` (same options), raising ``AssertionError`` with the report's table
    when any layer, the output, a BatchNorm statistic or a gradient is above tolerance."""
    report = compare_ports(torch_model, flax_model, x, **options)
    if not report.ok:
        raise AssertionError("the port does not match its PyTorch original:\n" + report.table())
    return report
