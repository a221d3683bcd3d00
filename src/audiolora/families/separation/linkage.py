"""Source linkage: rebuild a demucs model for a new stem list, reusing the base's per-source outputs.

`source_linkage: {other: other, kick: drums, vocals: vocals, bass: bass, hihat: new}` maps each new
stem to a stem of the base (its output slices are copied, so its output equals the base's output for
that stem exactly at step 0) or to `new` (`new`, `new:zeros`, `new:fresh` or `new:copy:<base stem>`;
its slices are trained in full). The base's own source order is read from the model, never assumed.
Base stems nobody links to are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ...errors import ConfigError

NEW_INITS = ("zeros", "fresh", "copy")


@dataclass(frozen=True)
class Link:
    """How one output stem of the linked model starts."""

    stem: str
    base: str | None  # the base stem it is linked to; None for a new stem
    init: str = "linked"  # linked | zeros | fresh | copy
    copy_from: str | None = None  # base stem whose slices a `new:copy:<stem>` starts from

    @property
    def is_new(self) -> bool:
        return self.base is None


def parse_linkage(
    linkage: dict[str, str] | None,
    base_sources: list[str],
    target_sources: list[str] | None,
    default_new_init: str = "fresh",
) -> list[Link]:
    """Validate a linkage against the base's and the dataset's stems; one Link per output stem."""
    base_sources = list(base_sources)
    targets = list(target_sources or [])
    if not linkage:
        targets = targets or base_sources
        unknown = [s for s in targets if s not in base_sources]
        if unknown:
            raise ConfigError(
                f"data.sources: {', '.join(unknown)} not among the base's stems ({', '.join(base_sources)}); "
                f"map them with separation.source_linkage, e.g. {{{unknown[0]}: new}}"
            )
        return [Link(s, s) for s in targets]
    if not targets:
        targets = list(linkage)
    unmapped = [s for s in targets if s not in linkage]
    if unmapped:
        raise ConfigError(
            f"separation.source_linkage: dataset stem {unmapped[0]!r} is not mapped; add {unmapped[0]}: "
            f"<one of {', '.join(base_sources)}> or {unmapped[0]}: new"
        )
    extra = [s for s in linkage if s not in targets]
    if extra:
        raise ConfigError(
            f"separation.source_linkage: {extra[0]!r} is not a dataset stem (data.sources: {', '.join(targets)}); "
            "remove it or add it to data.sources"
        )
    links = []
    for stem in targets:
        value = str(linkage[stem]).strip()
        if value == "new" or value.startswith("new:"):
            init = value[4:] if value.startswith("new:") else default_new_init
            copy_from = None
            if init.startswith("copy:"):
                init, copy_from = "copy", init[5:]
                if copy_from not in base_sources:
                    raise ConfigError(
                        f"separation.source_linkage.{stem}: copy source {copy_from!r} is not a base stem "
                        f"(base stems: {', '.join(base_sources)})"
                    )
            if init not in NEW_INITS:
                raise ConfigError(
                    f"separation.source_linkage.{stem}: {value!r}: new stems start from new:zeros, "
                    "new:fresh or new:copy:<base stem>"
                )
            links.append(Link(stem, None, init, copy_from))
        elif value in base_sources:
            links.append(Link(stem, value))
        else:
            raise ConfigError(
                f"separation.source_linkage.{stem}: {value!r} is not a stem of the base "
                f"(base stems, in its order: {', '.join(base_sources)}; or `new`)"
            )
    return links


def init_args(model: nn.Module) -> tuple[type, list, dict]:
    """(class, args, kwargs) a demucs model was built with (demucs's capture_init records them)."""
    try:
        args, kwargs = model._init_args_kwargs
    except AttributeError:
        raise ConfigError(
            f"{type(model).__name__}: not a demucs model (no recorded init arguments); cannot relink sources"
        ) from None
    return type(model), list(args), dict(kwargs)


def source_dependent_keys(model: nn.Module) -> dict[str, int]:
    """State keys whose shape depends on the number of sources, with the dimension that does.

    Found by building the same architecture with one more source on the meta device and comparing
    shapes, so HTDemucs, HDemucs and Demucs are all handled without a hand-kept list.
    """
    klass, args, kwargs = init_args(model)
    kwargs = {**kwargs, "sources": [*model.sources, "__extra__"]}
    with torch.device("meta"):
        probe = klass(*args, **kwargs)
    mine = model.state_dict()
    keys: dict[str, int] = {}
    for key, tensor in probe.state_dict().items():
        old = mine[key].shape
        if tensor.shape != old:
            dims = [d for d, (a, b) in enumerate(zip(tensor.shape, old, strict=True)) if a != b]
            keys[key] = dims[0]
    return keys


def source_slices(width: int, index: int) -> list[int]:
    return list(range(index * width, (index + 1) * width))


def relink(
    base: nn.Module, links: list[Link]
) -> tuple[nn.Module, dict[str, tuple[int, list[int]]]]:
    """A new model whose stems follow `links`, and the per-key slices of its new stems.

    Unchanged tensors are copied from the base; source-dependent tensors are assembled per stem from
    the base's slices (linked and copy:) or left at zeros / the fresh init (new stems).
    """
    base_sources = list(base.sources)
    if (
        [link.stem for link in links] == base_sources
        and not any(link.is_new for link in links)
        and all(link.base == link.stem for link in links)
    ):
        return base, {}
    klass, args, kwargs = init_args(base)
    dep = source_dependent_keys(base)
    new = klass(*args, **{**kwargs, "sources": [link.stem for link in links]})
    new.segment = getattr(base, "segment", getattr(new, "segment", None))
    old_state = base.state_dict()
    state = new.state_dict()
    n_old = len(base_sources)
    slices: dict[str, tuple[int, list[int]]] = {}
    with torch.no_grad():
        for key, target in state.items():
            if key not in dep:
                target.copy_(old_state[key])
                continue
            dim = dep[key]
            width = old_state[key].shape[dim] // n_old
            for i, link in enumerate(links):
                dst = target.narrow(dim, i * width, width)
                src_stem = link.base if not link.is_new else link.copy_from
                if src_stem is not None:
                    dst.copy_(
                        old_state[key].narrow(dim, base_sources.index(src_stem) * width, width)
                    )
                elif link.init == "zeros":
                    dst.zero_()
                if link.is_new:
                    slices.setdefault(key, (dim, []))[1].extend(source_slices(width, i))
    new.load_state_dict(state)
    new.train(base.training)
    return new, slices
