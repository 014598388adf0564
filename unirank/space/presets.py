"""Named hand-designed baselines, as ArchSpecs. They are marked points on every Pareto plot."""
from __future__ import annotations

from unirank.errors import UnirankError
from unirank.space.arch import ArchSpec, LayerSpec, SharingSpec


def _mlp(*widths: int) -> tuple[LayerSpec, ...]:
    return tuple(LayerSpec(block="mlp", width=w) for w in widths)


PRESETS: dict[str, ArchSpec] = {
    # The shared-bottom multi-task baseline (Caruana 1997): one MLP, a tower per portfolio.
    "shared_bottom_mlp": ArchSpec(
        embedding_dim=16, layers=_mlp(256, 128),
        sharing=SharingSpec(pattern="shared_bottom", tower_width=32),
    ),
    # MMoE (Ma et al., KDD 2018): shared experts, a softmax gate per portfolio.
    "mmoe": ArchSpec(
        embedding_dim=16, layers=_mlp(128),
        sharing=SharingSpec(pattern="mmoe", num_experts=4, expert_width=64, tower_width=32),
    ),
    # DCNv2-style stacked cross network (Wang et al., WWW 2021) on a shared bottom.
    "dcnv2": ArchSpec(
        embedding_dim=16,
        layers=(LayerSpec(block="cross"), LayerSpec(block="cross"), *_mlp(256, 128)),
        sharing=SharingSpec(pattern="shared_bottom", tower_width=32),
    ),
}


def get_preset(name: str) -> ArchSpec:
    if name not in PRESETS:
        raise UnirankError(f"unknown preset {name!r}, expected one of: {', '.join(PRESETS)}")
    return PRESETS[name]
