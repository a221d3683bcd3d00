"""Parameter report: adapted modules with type, rank, alpha and trainable parameters; totals."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn
from rich.table import Table

from .modules import adapter_parameters, adapters_of, base_state_dict, tuner_layers
from .slices import SLICE_PREFIX, slice_parameters


@dataclass
class ReportRow:
    module: str
    type: str
    rank: int
    alpha: float
    params: int


@dataclass
class Report:
    """Rows per adapted module (and per trainable slice), with totals against the base model."""

    rows: list[ReportRow] = field(default_factory=list)
    base_params: int = 0

    @property
    def trainable(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.base_params, 1)

    def summary(self) -> str:
        return (
            f"{len(self.rows)} adapted, {self.trainable:,} trainable parameters "
            f"= {self.percent:.3f} % of the base's {self.base_params:,}"
        )

    def table(self, title: str = "adapter parameters") -> Table:
        """A rich table of the rows with a totals caption."""
        table = Table(title=title, caption=self.summary())
        table.add_column("module", overflow="fold")
        table.add_column("type", overflow="fold")
        for col in ("rank", "alpha", "params"):
            table.add_column(col, justify="right", no_wrap=True)
        for r in self.rows:
            table.add_row(r.module, r.type, str(r.rank), f"{r.alpha:g}", f"{r.params:,}")
        return table


def parameter_report(model: nn.Module, adapter_name: str = "default") -> Report:
    """Report for one adapter of `model` (what the seeds' print_parameter_info printed)."""
    record = adapters_of(model).get(adapter_name)
    params = adapter_parameters(model, adapter_name)
    buffers = {id(b) for b in model.buffers()}  # fixed constants (e.g. CQT kernels) are not weights
    report = Report(
        base_params=sum(
            t.numel()
            for t in base_state_dict(model).values()
            if t.is_floating_point() and id(t) not in buffers
        )
    )
    kind = record.spec["kind"] if record else "lora"
    for name, layer in tuner_layers(model):
        own = sum(p.numel() for k, p in params.items() if k.startswith(name + "."))
        if not own:
            continue
        base = layer.get_base_layer()
        label = type(base).__name__
        if record and name in record.mha_parts:
            label += "[" + ",".join(record.mha_parts[name]) + "]"
        alpha = (
            layer.lora_alpha[adapter_name]
            if hasattr(layer, "lora_alpha")
            else layer.alpha[adapter_name]
        )
        report.rows.append(
            ReportRow(name, f"{kind} {label}", layer.r[adapter_name], float(alpha), own)
        )
    if record:
        for key, p in slice_parameters(model, record.slices).items():
            report.rows.append(
                ReportRow(key[len(SLICE_PREFIX) :], "trainable slice", 0, 0.0, p.numel())
            )
    return report
