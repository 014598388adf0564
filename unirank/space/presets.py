"""Named hand-designed baselines as ArchSpecs, each a faithful small version of its paper.

They are trained with the study's protocol and appear as named points on every Pareto plot.
Deviations forced by the shared frame (one InputLayer, towers per portfolio) are noted.
"""
from __future__ import annotations

from unirank.errors import UnirankError
from unirank.space.arch import ArchSpec, EmbeddingSpec, LayerSpec, ModuleSpec, SequenceSpec, SharingSpec

_EMB = EmbeddingSpec(dim=16)


def _layer(*modules: ModuleSpec, skip: str = "none") -> LayerSpec:
    return LayerSpec(modules=modules, skip=skip)


def _mlp(width: int) -> LayerSpec:
    return _layer(ModuleSpec(kind="mlp", width=width))


def _towers(width: int = 32) -> SharingSpec:
    return SharingSpec(pattern="shared_bottom", tower_width=width)


PRESETS: dict[str, ArchSpec] = {
    # Shared-bottom multi-task MLP (Caruana 1997): a shared MLP, one tower per portfolio.
    "shared_bottom_mlp": ArchSpec(embedding=_EMB, layers=(_mlp(256), _mlp(128)), sharing=_towers()),
    # DLRM (Naumov et al. 2019): a bottom MLP (ReLU layers) turns the dense features into a
    # d-vector; the interaction outputs that vector and the pairwise dot products of
    # [bottom output, embeddings]; the top MLP sees those only (not the raw embeddings).
    # Deviation: the top MLP's last layer is our per-portfolio tower.
    "dlrm": ArchSpec(embedding=EmbeddingSpec(dim=16, dense_bottom=(64, 32)),
                     layers=(_layer(ModuleSpec(kind="dot", with_dense=True)), _mlp(256), _mlp(128)),
                     sharing=_towers()),
    # DCNv2 stacked (Wang et al. 2021): two full-rank cross layers, then the deep network.
    "dcnv2": ArchSpec(embedding=_EMB, layers=(_layer(ModuleSpec(kind="cross")), _layer(ModuleSpec(kind="cross")),
                                             _mlp(256), _mlp(128)), sharing=_towers()),
    # DeepFM (Guo et al. 2017): logit = first-order (linear) term + the scalar FM second-order
    # term + the DNN's logit, FM and DNN sharing the embeddings. Deviations: one logit per
    # objective (first-order weights per objective, the FM scalar added to each); dense features
    # enter the FM as one projected row (DeepFM's inputs are all categorical fields).
    "deepfm": ArchSpec(embedding=_EMB, layers=(_mlp(256), _mlp(128)), sharing=_towers(),
                       wide=("linear", "fm")),
    # AutoInt (Song et al. 2019): three multi-head self-attention layers over the embeddings (2
    # heads, residual connections through W_res, ReLU), the last layer's rows flattened into the
    # output. Deviation: the output layer is our per-portfolio tower instead of one logistic unit.
    "autoint": ArchSpec(embedding=_EMB, layers=tuple(_layer(ModuleSpec(kind="attention", heads=2))
                                                    for _ in range(3)), sharing=_towers()),
    # MMoE (Ma et al. 2018): experts (MLPs, here 256-128) read the embedded input, one softmax
    # gate per task (per portfolio here), a tower per task.
    "mmoe": ArchSpec(embedding=_EMB, layers=(), sharing=SharingSpec(
        pattern="mmoe", num_experts=4, expert_hidden=(256,), expert_width=128, tower_width=32)),
    # PLE (Tang et al. 2020): two extraction levels, 2 shared + 1 objective-specific expert per
    # level, per-task gates and a shared gate between levels. Deviation: each expert is one ReLU
    # layer of 128 (the paper's experts are MLPs).
    "ple": ArchSpec(embedding=_EMB, layers=(), sharing=SharingSpec(
        pattern="ple", num_experts=2, num_specific_experts=1, expert_width=128, levels=2,
        specific_to="objective", tower_width=32)),
    # STAR (Sheng et al. 2021): partitioned normalisation of the embedded input, the star-topology
    # network (shared ⊙ domain-specific weights, 256-128), and the auxiliary network fed the
    # domain indicator whose logit is added. Deviation: one tower per portfolio on top.
    "star": ArchSpec(embedding=_EMB, layers=(), sharing=SharingSpec(
        pattern="star", star_widths=(256, 128), star_norm=True, star_auxiliary=32, tower_width=32)),
    # The sequence presets need data with a behaviour sequence (e.g. MovieLens with history_length);
    # they use its 50 most recent events (fewer if the data keeps fewer).
    # DIN (Zhou et al. 2018): target attention over the history — an activation unit (hidden 36)
    # scores each event against the candidate from [e, q, e − q, e ⊙ q], weights not normalised —
    # beside the other features' embeddings, then an MLP of 200-80. Deviations: PReLU for Dice; the
    # MLP's output layer is our per-portfolio tower.
    "din": ArchSpec(embedding=_EMB, sequence=SequenceSpec(encoder="target_attention", max_len=50, attention_width=36),
                    layers=(_mlp(200), _mlp(80)), sharing=_towers()),
    # BST (Chen et al. 2019): one transformer layer (8 heads, post-norm, LeakyReLU feed-forward)
    # over the history with the candidate as its last token and learned position embeddings;
    # every output token, concatenated with the other features' embeddings, feeds the MLP.
    # Deviations: the MLP is 256-128 (the paper's 1024-512-256 scaled like our other presets);
    # positions are the distance to the candidate in events, not in time.
    "bst": ArchSpec(embedding=_EMB, sequence=SequenceSpec(encoder="transformer", max_len=50, layers=1, heads=8,
                                                         ffn=64, readout="tokens"),
                    layers=(_mlp(256), _mlp(128)), sharing=_towers()),
    # InterFormer (Zeng et al. 2025): two interleaving layers in which the sequence and the other
    # features exchange information both ways, the sequence summarised by attention-pooling seeds
    # (4 here) before the interaction stack; the summary and the updated features feed the MLP.
    # Deviations: see ``unirank.models.sequence.InterFormer``; the interaction arch is an MLP.
    "interformer": ArchSpec(embedding=_EMB, sequence=SequenceSpec(encoder="interformer", max_len=50, layers=2, heads=2,
                                                                  ffn=64, summary_tokens=4),
                            layers=(_mlp(256), _mlp(128)), sharing=_towers()),
}
SEQUENCE_PRESETS = ("din", "bst", "interformer")


def get_preset(name: str) -> ArchSpec:
    if name not in PRESETS:
        raise UnirankError(f"unknown preset {name!r}, expected one of: {', '.join(PRESETS)}")
    return PRESETS[name]
