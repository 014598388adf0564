"""Named hand-designed baselines as ArchSpecs, each a faithful small version of its paper.

They are trained with the study's protocol and appear as named points on every Pareto plot.
Deviations forced by the shared frame (one InputLayer, towers per portfolio) are noted.
"""
from __future__ import annotations

from unirank.errors import UnirankError
from unirank.space.arch import ArchSpec, EmbeddingSpec, LayerSpec, ModuleSpec, SharingSpec

_EMB = EmbeddingSpec(dim=16)


def _layer(*modules: ModuleSpec, skip: str = "none") -> LayerSpec:
    return LayerSpec(modules=modules, skip=skip)


def _mlp(width: int) -> LayerSpec:
    return _layer(ModuleSpec(kind="mlp", width=width))


def _towers(width: int = 32) -> SharingSpec:
    return SharingSpec(pattern="shared_bottom", tower_width=width)


PRESETS: dict[str, ArchSpec] = {
    # Shared-bottom multi-task MLP (Caruana 1997).
    "shared_bottom_mlp": ArchSpec(embedding=_EMB, layers=(_mlp(256), _mlp(128)), sharing=_towers()),
    # DLRM (Naumov et al. 2019): pairwise dot products of all embeddings (dense row = the bottom
    # projection), concatenated with the input, then the top MLP.
    "dlrm": ArchSpec(embedding=_EMB, layers=(_layer(ModuleSpec(kind="dot"), skip="concat"),
                                            _mlp(256), _mlp(128)), sharing=_towers()),
    # DCNv2 stacked (Wang et al. 2021): two full-rank cross layers, then the deep network.
    "dcnv2": ArchSpec(embedding=_EMB, layers=(_layer(ModuleSpec(kind="cross")), _layer(ModuleSpec(kind="cross")),
                                             _mlp(256), _mlp(128)), sharing=_towers()),
    # DeepFM (Guo et al. 2017): the DNN, then the FM vector of the embeddings concatenated to it.
    "deepfm": ArchSpec(embedding=_EMB, layers=(_mlp(256), _mlp(128),
                                              _layer(ModuleSpec(kind="fm"), skip="concat")), sharing=_towers()),
    # AutoInt (Song et al. 2019): three self-attention layers over the embeddings, 2 heads.
    "autoint": ArchSpec(embedding=_EMB, layers=tuple(_layer(ModuleSpec(kind="attention", heads=2))
                                                    for _ in range(3)), sharing=_towers()),
    # MMoE (Ma et al. 2018): experts read the embedded input, one gate per portfolio.
    "mmoe": ArchSpec(embedding=_EMB, layers=(), sharing=SharingSpec(
        pattern="mmoe", num_experts=4, expert_width=128, tower_width=32)),
    # PLE (Tang et al. 2020): two extraction levels, 2 shared + 1 objective-specific expert.
    "ple": ArchSpec(embedding=_EMB, layers=(), sharing=SharingSpec(
        pattern="ple", num_experts=2, num_specific_experts=1, expert_width=128, levels=2,
        specific_to="objective", tower_width=32)),
    # STAR (Sheng et al. 2021): shared ⊙ domain-specific MLP, domain embedding as input.
    "star": ArchSpec(embedding=EmbeddingSpec(dim=16, domain_embedding=True), layers=(),
                     sharing=SharingSpec(pattern="star", star_widths=(256, 128), tower_width=32)),
}


def get_preset(name: str) -> ArchSpec:
    if name not in PRESETS:
        raise UnirankError(f"unknown preset {name!r}, expected one of: {', '.join(PRESETS)}")
    return PRESETS[name]
