"""What a comparison found: rows of differences, the first divergence and its diagnosis."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Row:
    """One compared tensor: what it is, its shape, max |Δ|, max |Δ| / max |PyTorch|, tolerance."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    tolerance: float
    kind: str = ""

    @property
    def ok(self) -> bool:
        return self.max_rel <= self.tolerance


@dataclasses.dataclass
class PortReport:
    """Layer-by-layer comparison of a PyTorch model and its Flax NNX port on one batch."""

    precision: str
    tolerance_rule: str
    name_map: dict[str, str]
    layers: list[Row]
    output: Row
    first_divergence: Row | None = None
    diagnosis: str | None = None
    batchnorm: list[Row] = dataclasses.field(default_factory=list)
    batchnorm_diagnoses: list[str] = dataclasses.field(default_factory=list)
    losses: tuple[float, float] | None = None
    gradients: list[Row] = dataclasses.field(default_factory=list)
    gradient_note: str | None = None
    samples: int = 0

    @property
    def ok(self) -> bool:
        rows = [*self.layers, self.output, *self.batchnorm, *self.gradients]
        return all(r.ok for r in rows)

    def table(self) -> str:
        """The report as Markdown."""
        lines = [f"Precision {self.precision}: {self.tolerance_rule}; {self.samples} samples.", "",
                 "| layer | kind | shape | max abs Δ | max rel Δ | tolerance | |",
                 "|---|---|---|--:|--:|--:|---|"]
        lines += [_line(r) for r in [*self.layers, self.output]]
        if self.first_divergence is not None:
            lines += ["", f"First divergence: **{self.first_divergence.name}**: "
                      f"{self.diagnosis}"]
        if self.batchnorm:
            lines += ["", "BatchNorm running statistics after one train-mode forward:", "",
                      "| statistic | | shape | max abs Δ | max rel Δ | tolerance | |",
                      "|---|---|---|--:|--:|--:|---|", *map(_line, self.batchnorm)]
            lines += [f"- {d}" for d in self.batchnorm_diagnoses]
        if self.gradients:
            jl, tl = self.losses
            lines += ["", f"Loss: port {jl:.8g}, PyTorch {tl:.8g}. Gradients:", "",
                      "| parameter | | shape | max abs Δ | max rel Δ | tolerance | |",
                      "|---|---|---|--:|--:|--:|---|", *map(_line, self.gradients)]
            if self.gradient_note:
                lines += ["", self.gradient_note]
        return "\n".join(lines)


def _line(r: Row) -> str:
    return (f"| {r.name} | {r.kind} | {tuple(r.shape)} | {r.max_abs:.2e} | {r.max_rel:.2e} "
            f"| {r.tolerance:.1e} | {'ok' if r.ok else '**DIFFERS**'} |")
