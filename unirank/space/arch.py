"""ArchSpec: the one serialisable description of a unified ranking model.

Search, proxies, models, dashboard and export all speak ArchSpec. It is frozen (hashable), JSON
round-trips losslessly (``ArchSpec.from_json(a.to_json()) == a``), carries ``schema_version`` and
validates itself with errors that name the field. A model is built in three stages::

    inputs      embedding: per-group dims, hashing of large vocabularies, dropped features
                (Lattice "Filter"), optional domain embedding      → E0 [B, N, d], h0 [B, W0]
    stack       layers; each runs one or more modules in parallel on (h, E) (DHEN-style),
                concatenates their outputs and applies a skip        → h [B, W]
    sharing     shared_bottom | mmoe | ple | star, then towers per portfolio/domain/objective

Example (DCNv2 with a low-rank mixture cross layer, then an MLP, on MMoE)::

    {"schema_version": 2,
     "embedding": {"dim": 16},
     "layers": [{"modules": [{"kind": "cross", "rank": 32, "experts": 4}]},
                {"modules": [{"kind": "mlp", "width": 256}]}],
     "sharing": {"pattern": "mmoe", "num_experts": 4, "expert_width": 64, "tower_width": 32}}
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from unirank.errors import UnirankError, describe_validation_error

SCHEMA_VERSION = 2
MODULE_KINDS = ("mlp", "cross", "dot", "fm", "attention", "wukong")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddingSpec(_Spec):
    """How features enter the model.

    ``dim``: the common embedding dimension d (every row of E has it).
    ``group_dims``: per feature group (see ``FeatureSpec``) a table dimension; a group whose dim
    differs from ``dim`` is projected to ``dim`` (one Linear per group) so that mixed dims compose.
    ``hash_buckets``: tables are capped at this many rows; larger vocabularies share rows
    (id → 1 + (id-1) mod (buckets-1), ids sorted by frequency so frequent ids keep their own row).
    ``domain_embedding``: add a learned row for the example's domain to E.
    ``dropped``: feature names left out entirely (Lattice "Filter"); the cost reflects it.
    ``dense_bottom``: hidden widths of DLRM's bottom MLP, which turns the dense features into
    their row of E (ReLU after every layer, the last of width ``dim``); absent = one Linear.
    ``dense_encoding``: ``linear`` (None) — all dense features in one row (one Linear, or the bottom MLP);
    ``each`` — one row per dense feature, x_i·v_i + b_i; ``periodic`` — one row per dense feature
    from learned sine/cosine frequencies (``unirank.models.numeric``); the last two need no
    ``dense_bottom``.
    """

    dim: int = Field(ge=1, le=1024)
    group_dims: dict[str, int] = Field(default_factory=dict)
    hash_buckets: int | None = Field(None, ge=2)
    domain_embedding: bool = False
    dropped: tuple[str, ...] = ()
    dense_bottom: tuple[int, ...] | None = None
    dense_encoding: Literal["each", "periodic"] | None = None  # None: linear (stays out of the JSON)

    @field_validator("dense_encoding", mode="before")
    @classmethod
    def _linear_is_default(cls, value):
        return None if value == "linear" else value

    @model_validator(mode="after")
    def _positive_dims(self) -> "EmbeddingSpec":
        for group, dim in self.group_dims.items():
            if dim < 1:
                raise ValueError(f"group_dims.{group}: got {dim}, expected an integer >= 1")
        if self.dense_bottom is not None and any(w < 1 for w in self.dense_bottom):
            raise ValueError("dense_bottom: expected widths >= 1")
        if self.dense_bottom is not None and self.dense_encoding is not None:
            raise ValueError(f"dense_bottom: the bottom MLP makes one dense row; dense_encoding "
                             f"{self.dense_encoding!r} makes one per feature (use one of them)")
        return self

    def __hash__(self) -> int:  # dict fields are not hashable by default
        return hash((self.dim, tuple(sorted(self.group_dims.items())), self.hash_buckets,
                     self.domain_embedding, self.dropped, self.dense_bottom,
                     self.dense_encoding))


class ModuleSpec(_Spec):
    """One interaction module. Parameters by kind (others must be absent):

    - ``mlp``: ``width`` — ReLU(W h + b)
    - ``cross``: ``rank`` (None = full rank), ``experts`` (mixture of low-rank experts, needs rank)
    - ``dot``: ``with_dense`` — pairwise dot products of the rows of E; with ``with_dense`` the
      dense row (the bottom MLP's output) is output before them, as DLRM's interaction does (no
      such row when ``dense_encoding`` gives the dense features a row each)
    - ``fm``: — second-order factorization-machine vector of E
    - ``attention``: ``heads`` — multi-head self-attention over the rows of E (AutoInt)
    - ``wukong``: ``rank``, ``width`` — Wukong's FM block (E Eᵀ Y, rank k, then an MLP of width)
      beside a linear compress block, residual and layer norm (a new E)
    """

    kind: str  # a kind of the block registry (unirank/models/blocks.py)
    width: int | None = Field(None, ge=1)
    rank: int | None = Field(None, ge=1)
    experts: int | None = Field(None, ge=1)
    heads: int | None = Field(None, ge=1)
    with_dense: bool | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from unirank.models.blocks import block

        block(kind)  # unknown kinds: ValueError naming the known ones
        return kind

    @model_validator(mode="after")
    def _params_match_kind(self) -> "ModuleSpec":
        from unirank.models.blocks import block

        entry = block(self.kind)
        for name in ("width", "rank", "experts", "heads", "with_dense"):
            if getattr(self, name) is not None and name not in entry.params:
                raise ValueError(f"a {self.kind} module takes no {name}")
        problem = entry.check(self)
        if problem:
            raise ValueError(problem)
        return self


class SequenceSpec(_Spec):
    """How every sequence feature (a behaviour history) becomes rows of E; absent = sequences unused.

    ``encoder``:
    - ``sum`` / ``mean``: pooling of the event embeddings → 1 row;
    - ``target_attention`` (DIN, Zhou et al. 2018): each event weighted by an MLP (``attention_width``)
      of [event, candidate, event − candidate, event ⊙ candidate], weights not normalised → 1 row;
    - ``transformer`` (BST, Chen et al. 2019): ``layers`` post-norm encoder layers (``heads``,
      feed-forward ``ffn``) over the events and the candidate as the last token, learned positions
      (or ``rope``), optional ``qk_norm``; ``readout`` ``tokens`` = every output token (BST), ``pooled``
      = the candidate's output and the events' mean → 2 rows, ``target`` = the candidate's output and
      the events' outputs weighted by DIN's unit (``attention_width``) against it → 2 rows;
    - ``interformer`` (InterFormer, Zeng et al. 2025): ``layers`` of bidirectional exchange between the
      sequence and the non-sequence rows (each side attends to the other, then a self-attention
      layer on the sequence), the sequence summarised by ``summary_tokens`` learned queries (pooling
      by attention) → that many rows.
    ``max_len``: the most recent events used (≤ the data's); the events' embeddings are the sum of
    their fields' (ids and side ids). "The candidate" is the sum of the example's sparse rows that
    the events' fields share a table with (e.g. ``item_id`` for a history of items).
    """

    encoder: Literal["sum", "mean", "target_attention", "transformer", "interformer"]
    max_len: int = Field(ge=1, le=4096)
    layers: int | None = Field(None, ge=1, le=8)
    heads: int | None = Field(None, ge=1)
    ffn: int | None = Field(None, ge=1)
    rope: bool | None = None
    qk_norm: bool | None = None
    readout: Literal["tokens", "pooled", "target"] | None = None
    attention_width: int | None = Field(None, ge=1)
    summary_tokens: int | None = Field(None, ge=1, le=16)

    @model_validator(mode="after")
    def _fields_match_encoder(self) -> "SequenceSpec":
        needs = {"sum": set(), "mean": set(), "target_attention": {"attention_width"},
                 "transformer": {"layers", "heads", "ffn", "readout"},
                 "interformer": {"layers", "heads", "ffn", "summary_tokens"}}[self.encoder]
        optional = {"transformer": {"rope", "qk_norm"}, "interformer": {"rope", "qk_norm"}}.get(self.encoder, set())
        if self.encoder == "transformer" and self.readout == "target":
            needs = needs | {"attention_width"}  # the readout's DIN unit
        for name in ("layers", "heads", "ffn", "rope", "qk_norm", "readout", "attention_width", "summary_tokens"):
            given = getattr(self, name) is not None
            if name in needs and not given:
                raise ValueError(f"a {self.encoder} sequence encoder needs {name}")
            if given and name not in needs | optional:
                raise ValueError(f"a {self.encoder} sequence encoder takes no {name}")
        return self


class LayerSpec(_Spec):
    """One layer of the stack: its modules run in parallel on the same input; outputs are
    concatenated. ``skip``: ``none``; ``concat`` (append the layer's input, DenseNet-style);
    ``residual`` (add the input, through a Linear when widths differ)."""

    modules: tuple[ModuleSpec, ...] = Field(min_length=1)
    skip: Literal["none", "concat", "residual"] = "none"


class SharingSpec(_Spec):
    """How portfolios (domain × objective) share the representation.

    - ``shared_bottom``: all towers read the stack output.
    - ``mmoe``: ``num_experts`` shared experts (width ``expert_width``), one softmax gate per
      portfolio (Ma et al., KDD 2018).
    - ``ple``: CGC/PLE (Tang et al., RecSys 2020): ``num_experts`` shared experts plus
      ``num_specific_experts`` per group (``specific_to`` objective or domain), ``levels`` levels.
    - ``star``: STAR (Sheng et al., CIKM 2021): an MLP of ``star_widths`` whose weights are the
      element-wise product of shared and domain-specific weights; ``star_norm``: partitioned
      normalisation of its input (per-domain statistics and scale); ``star_auxiliary``: width of
      the auxiliary network fed the domain indicator, whose logit is added.
    ``expert_hidden`` (mmoe): hidden widths of each expert before its ``expert_width`` output
    (experts as MLPs); absent = one ReLU layer.

    ``towers``: one tower per ``portfolio``, per ``domain`` (T outputs) or per ``objective``
    (shared across domains); hidden width ``tower_width``.
    """

    pattern: Literal["shared_bottom", "mmoe", "ple", "star"]
    num_experts: int | None = Field(None, ge=1)
    num_specific_experts: int | None = Field(None, ge=1)
    expert_width: int | None = Field(None, ge=1)
    levels: int | None = Field(None, ge=1, le=4)
    specific_to: Literal["objective", "domain"] | None = None
    star_widths: tuple[int, ...] | None = None
    star_norm: bool | None = None
    star_auxiliary: int | None = Field(None, ge=1)
    expert_hidden: tuple[int, ...] | None = None
    towers: Literal["portfolio", "domain", "objective"] = "portfolio"
    tower_width: int = Field(ge=1)

    @model_validator(mode="after")
    def _fields_match_pattern(self) -> "SharingSpec":
        needs = {"shared_bottom": set(), "mmoe": {"num_experts", "expert_width"},
                 "ple": {"num_experts", "num_specific_experts", "expert_width", "levels", "specific_to"},
                 "star": {"star_widths"}}[self.pattern]
        optional = {"mmoe": {"expert_hidden"}, "star": {"star_norm", "star_auxiliary"}}.get(self.pattern, set())
        for name in ("expert_hidden", "star_norm", "star_auxiliary"):
            if getattr(self, name) is not None and name not in optional:
                raise ValueError(f"{self.pattern} takes no {name}")
        if self.expert_hidden is not None and any(w < 1 for w in self.expert_hidden):
            raise ValueError("expert_hidden: expected widths >= 1")
        for name in ("num_experts", "num_specific_experts", "expert_width", "levels", "specific_to",
                     "star_widths"):
            given = getattr(self, name) is not None
            if name in needs and not given:
                raise ValueError(f"{self.pattern} needs {name}")
            if name not in needs and given:
                raise ValueError(f"{self.pattern} takes no {name}")
        if self.pattern == "ple" and self.towers != "portfolio" and self.towers != self.specific_to:
            raise ValueError(f"ple with towers per {self.towers} needs specific_to {self.towers}")
        if self.star_widths is not None and (not self.star_widths or min(self.star_widths) < 1):
            raise ValueError("star_widths: expected one or more integers >= 1")
        return self


class ArchSpec(_Spec):
    """``wide``: logit terms added to every head beside the deep part (DeepFM): ``linear`` =
    first-order weights of every feature (one per objective), ``fm`` = the scalar FM term
    Σ_{i<j} <e_i, e_j> over the rows of E (shared embeddings). ``dropout``: the rate of dropout
    after every MLP module and on the stack's output (training only); absent = none.
    ``sequence``: how sequence features are encoded (``SequenceSpec``); absent = not used."""

    schema_version: Literal[2] = SCHEMA_VERSION
    embedding: EmbeddingSpec
    layers: tuple[LayerSpec, ...] = ()
    sharing: SharingSpec
    wide: tuple[Literal["linear", "fm"], ...] | None = None
    dropout: float | None = Field(None, gt=0, lt=1)
    sequence: SequenceSpec | None = None

    def __hash__(self) -> int:
        return hash(self.to_json(indent=None))

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_none=True)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: object, source: str = "arch") -> "ArchSpec":
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise UnirankError(describe_validation_error(err, source)) from None

    @classmethod
    def from_json(cls, text: str, source: str = "arch.json") -> "ArchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UnirankError(f"{source}: line {err.lineno}: not valid JSON ({err.msg})") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> "ArchSpec":
        path = Path(path)
        if not path.is_file():
            raise UnirankError(f"architecture file not found: {path}")
        return cls.from_json(path.read_text(), source=str(path))

    def summary(self) -> str:
        """One line for plots and tables, e.g. ``emb16 | cross(r32×4) → mlp256 | mmoe4×64 | tower32``."""
        e = self.embedding
        parts = [f"emb{e.dim}" + "".join(f" {g}:{d}" for g, d in sorted(e.group_dims.items()))
                 + (f" hash{e.hash_buckets}" if e.hash_buckets else "")
                 + (" +dom" if e.domain_embedding else "")
                 + (f" -{len(e.dropped)}f" if e.dropped else "")
                 + (" bottom" + "-".join(map(str, e.dense_bottom)) if e.dense_bottom else "")
                 + (f" dense:{e.dense_encoding}" if e.dense_encoding else "")]
        if self.sequence is not None:
            parts.append(_sequence_summary(self.sequence))
        layers = []
        for layer in self.layers:
            text = "+".join(_module_summary(m) for m in layer.modules)
            text = f"[{text}]" if len(layer.modules) > 1 else text
            layers.append(text + {"none": "", "concat": "⧺", "residual": "↺"}[layer.skip])
        parts.append(" → ".join(layers) or "no layers")
        s = self.sharing
        parts.append({
            "shared_bottom": "shared_bottom",
            "mmoe": f"mmoe{s.num_experts}×" + "-".join(map(str, (*(s.expert_hidden or ()), s.expert_width))),
            "ple": f"ple{s.levels}L {s.num_experts}s+{s.num_specific_experts}/{s.specific_to}×{s.expert_width}",
            "star": "star" + "-".join(map(str, s.star_widths or ())) + (" +PN" if s.star_norm else "")
                    + (f" +aux{s.star_auxiliary}" if s.star_auxiliary else ""),
        }[s.pattern])
        if self.wide:
            parts.append("+" + "+".join(self.wide) + " logit")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        parts.append(f"tower{s.tower_width}" + ("" if s.towers == "portfolio" else f"/{s.towers}"))
        return " | ".join(parts)


def _sequence_summary(q: SequenceSpec) -> str:
    """``seq50 din64``, ``seq50 tf2L2h×64 rope qkn tokens``, ``seq20 mean``."""
    text = {"sum": "sum", "mean": "mean", "target_attention": f"din{q.attention_width}",
            "transformer": f"tf{q.layers}L{q.heads}h×{q.ffn}", "interformer": f"ifm{q.layers}L{q.heads}h×{q.ffn}"}[q.encoder]
    text += (" rope" if q.rope else "") + (" qkn" if q.qk_norm else "")
    text += f" {q.readout}" if q.readout else ""
    text += f"{q.attention_width}" if q.readout == "target" else ""
    text += f" cls{q.summary_tokens}" if q.summary_tokens else ""
    return f"seq{q.max_len} {text}"


def _module_summary(m: ModuleSpec) -> str:
    from unirank.models.blocks import block

    return block(m.kind).summary(m)
