"""SearchSpace: define-by-run on an Optuna trial, returning an ArchSpec.

Parameter names as they appear in the study (conditional ones only when their parent is chosen):

    embedding_dim, dim_<group> (group_dims), hash_buckets, domain_embedding,
    keep_<feature> / keep_group_<group> (feature_selection), dense_encoding (when a dense feature
    is kept) and, for its ``linear`` choice, dense_bottom,
    num_layers; per layer i: layer<i>_parallel, layer<i>_module<j> and its parameters
      (layer<i>_module<j>_width | _rank, _experts | _heads | _with_dense), layer<i>_skip;
    towers, sharing and, by pattern: num_experts, expert_width (mmoe, ple), expert_hidden (mmoe),
      num_specific_experts, ple_levels, ple_specific_to (ple), star_layers, star_width_<k>,
      star_norm, star_auxiliary (star);
    tower_width, wide, dropout;
    with a sequence feature in the data: seq_encoder and, by encoder, seq_max_len, seq_layers,
      seq_heads, seq_ffn, seq_rope, seq_qk_norm, seq_readout (transformer), seq_summary_tokens
      (interformer), seq_attention_width (target_attention, and the transformer's target readout).
Width lists (dense_bottom, expert_hidden) are categorical strings: "none" or e.g. "64-32".

``SearchSpace.point(arch)`` is the inverse of ``suggest``: the parameters (and their Optuna
distributions) under which ``suggest`` returns exactly ``arch``, or ``OutsideSpace`` naming the
first decision the space cannot make. It is how presets become observations of the sampler.
"""
from __future__ import annotations

import math
from typing import Protocol

from unirank.config import SpaceConfig
from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.models.blocks import block
from unirank.space.arch import ArchSpec, EmbeddingSpec, LayerSpec, ModuleSpec, SequenceSpec, SharingSpec


class OutsideSpace(UnirankError):
    """An architecture the space cannot propose; the message names the decision."""


def widths_label(widths: tuple[int, ...] | None) -> str:
    return "-".join(map(str, widths)) if widths else "none"


def parse_widths(label: str) -> tuple[int, ...] | None:
    return None if label == "none" else tuple(int(w) for w in label.split("-"))


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` the space uses (so the space does not import optuna)."""

    def suggest_int(self, name: str, low: int, high: int) -> int: ...
    def suggest_categorical(self, name: str, choices: list) -> object: ...


class SearchSpace:
    def __init__(self, config: SpaceConfig | None = None, features: FeatureSpec | None = None):
        self.config = config or SpaceConfig()
        self.features = features
        if (self.config.feature_selection != "none" or self.config.group_dims) and features is None:
            raise UnirankError("space.feature_selection/group_dims need the data's FeatureSpec")

    # -- the space ---------------------------------------------------------------------------
    def suggest(self, trial: TrialLike) -> ArchSpec:
        embedding = self._embedding(trial)
        sequence = self._sequence(trial)
        layers = self._layers(trial)
        sharing = self._sharing(trial)
        wide = trial.suggest_categorical("wide", list(self.config.wide))
        dropout = trial.suggest_categorical("dropout", list(self.config.dropout))
        return ArchSpec(embedding=embedding, layers=layers, sharing=sharing,
                        wide=None if wide == "none" else tuple(wide.split("+")), dropout=dropout or None,
                        sequence=sequence)

    @property
    def _has_sequences(self) -> bool:
        return self.features is not None and bool(self.features.sequences)

    def _sequence(self, trial: TrialLike) -> SequenceSpec | None:
        if not self._has_sequences:
            return None
        c = self.config.sequence
        encoder = trial.suggest_categorical("seq_encoder", list(c.encoder))
        if encoder == "none":
            return None
        extra: dict = {"max_len": trial.suggest_categorical("seq_max_len", list(c.max_len))}
        if encoder == "target_attention":
            extra["attention_width"] = trial.suggest_categorical("seq_attention_width", list(c.attention_width))
        if encoder in ("transformer", "interformer"):
            extra["layers"] = trial.suggest_int("seq_layers", c.layers.low, c.layers.high)
            extra["heads"] = trial.suggest_categorical("seq_heads", list(c.heads))
            extra["ffn"] = trial.suggest_categorical("seq_ffn", list(c.ffn))
            extra["rope"] = trial.suggest_categorical("seq_rope", list(c.rope)) or None
            extra["qk_norm"] = trial.suggest_categorical("seq_qk_norm", list(c.qk_norm)) or None
        if encoder == "transformer":
            extra["readout"] = trial.suggest_categorical("seq_readout", list(c.readout))
            if extra["readout"] == "target":  # the readout's DIN unit
                extra["attention_width"] = trial.suggest_categorical("seq_attention_width", list(c.attention_width))
        if encoder == "interformer":
            extra["summary_tokens"] = trial.suggest_categorical("seq_summary_tokens", list(c.summary_tokens))
        return SequenceSpec(encoder=encoder, **extra)

    def _embedding(self, trial: TrialLike) -> EmbeddingSpec:
        c = self.config
        dim = trial.suggest_categorical("embedding_dim", list(c.embedding_dim))
        group_dims = {}
        if c.group_dims:
            for group in self.features.groups:
                group_dims[group] = trial.suggest_categorical(f"dim_{group}", list(c.embedding_dim))
        dropped: list[str] = []
        if c.feature_selection == "features":
            dropped = [n for n in self.features.feature_names
                       if not trial.suggest_categorical(f"keep_{n}", [True, False])]
        elif c.feature_selection == "groups":
            f = self.features
            groups = f.groups + (["dense"] if f.data_dense else []) + (["teacher"] if f.teacher else [])
            off = {g for g in groups if not trial.suggest_categorical(f"keep_group_{g}", [True, False])}
            dropped = [*(n for n in f.data_dense if "dense" in off), *(n for n in f.teacher if "teacher" in off),
                       *(s.name for s in f.sparse if s.group_name in off)]
        domain_embedding = trial.suggest_categorical("domain_embedding", list(c.domain_embedding))
        # Keep at least two rows in E (a dot product needs a pair): give features back in order.
        while dropped and self._rows(dropped, domain_embedding) < 2:
            dropped.pop(0)
        hash_buckets = trial.suggest_categorical("hash_buckets", list(c.hash_buckets))
        encoding = "linear"
        if self.features is None or any(n not in dropped for n in self.features.dense):
            encoding = trial.suggest_categorical("dense_encoding", list(c.dense_encoding))
        bottom = None
        if encoding == "linear":
            bottom = parse_widths(trial.suggest_categorical("dense_bottom", [widths_label(w) for w in c.dense_bottom]))
        return EmbeddingSpec(
            dim=dim, group_dims={g: d for g, d in group_dims.items() if d != dim},
            hash_buckets=hash_buckets, domain_embedding=domain_embedding, dropped=tuple(dropped),
            dense_bottom=bottom, dense_encoding=encoding,
        )

    def _rows(self, dropped: list[str], domain_embedding: bool) -> int:
        """Rows of the feature matrix E that a candidate with these dropped features has."""
        gone = set(dropped)
        dense = any(n not in gone for n in self.features.dense)
        return dense + sum(f.name not in gone for f in self.features.sparse) + bool(domain_embedding)

    def _layers(self, trial: TrialLike) -> tuple[LayerSpec, ...]:
        c = self.config
        layers = []
        for i in range(trial.suggest_int("num_layers", c.num_layers.low, c.num_layers.high)):
            count = trial.suggest_int(f"layer{i}_parallel", c.parallel.low, c.parallel.high)
            modules = tuple(self._module(trial, f"layer{i}_module{j}") for j in range(count))
            skip = trial.suggest_categorical(f"layer{i}_skip", list(c.skip))
            layers.append(LayerSpec(modules=modules, skip=skip))
        return tuple(layers)

    def _module(self, trial: TrialLike, name: str) -> ModuleSpec:
        kind = trial.suggest_categorical(name, list(self.config.modules))
        return ModuleSpec(kind=kind, **block(kind).suggest(trial, name, self.config))

    def _sharing(self, trial: TrialLike) -> SharingSpec:
        c = self.config
        towers = trial.suggest_categorical("towers", list(c.towers))
        pattern = trial.suggest_categorical("sharing", list(c.sharing))
        extra: dict = {}
        if pattern in ("mmoe", "ple"):
            extra["num_experts"] = trial.suggest_int("num_experts", c.num_experts.low, c.num_experts.high)
            extra["expert_width"] = trial.suggest_categorical("expert_width", list(c.expert_width))
        if pattern == "mmoe":
            extra["expert_hidden"] = parse_widths(trial.suggest_categorical(
                "expert_hidden", [widths_label(w) for w in c.expert_hidden]))
        if pattern == "ple":
            extra["num_specific_experts"] = trial.suggest_int(
                "num_specific_experts", c.num_specific_experts.low, c.num_specific_experts.high)
            extra["levels"] = trial.suggest_int("ple_levels", c.ple_levels.low, c.ple_levels.high)
            # towers per domain/objective fix whose experts are specific (see SharingSpec)
            extra["specific_to"] = (towers if towers != "portfolio" else
                                    trial.suggest_categorical("ple_specific_to", list(c.ple_specific_to)))
        if pattern == "star":
            depth = trial.suggest_int("star_layers", c.star_layers.low, c.star_layers.high)
            extra["star_widths"] = tuple(trial.suggest_categorical(f"star_width_{k}", list(c.star_width))
                                         for k in range(depth))
            extra["star_norm"] = True if trial.suggest_categorical("star_norm", list(c.star_norm)) else None
            extra["star_auxiliary"] = trial.suggest_categorical("star_auxiliary", list(c.star_auxiliary))
        return SharingSpec(pattern=pattern, towers=towers,
                           tower_width=trial.suggest_categorical("tower_width", list(c.tower_width)),
                           **extra)

    # -- training hyperparameters (space.train) ------------------------------------------------
    def suggest_train(self, trial: TrialLike) -> dict:
        """Overrides of the study's training config: ``{field: value}`` for each searched field
        (parameters ``train_<field>``); empty when ``space.train`` searches nothing."""
        return {name: trial.suggest_categorical(f"train_{name}", list(choices))
                for name, choices in self.config.train.searched().items()}

    def train_point(self, train: dict) -> tuple[dict, dict]:
        """(params, distributions) of a training config (e.g. the study's, for presets)."""
        replay = _Replay({f"train_{name}": train.get(name) for name in self.config.train.searched()})
        self.suggest_train(replay)
        return dict(replay.used), dict(replay.distributions)

    # -- the inverse: an architecture as the space's parameters ---------------------------------
    def point(self, arch: ArchSpec) -> tuple[dict, dict]:
        """(params, distributions) under which ``suggest`` returns ``arch``; ``OutsideSpace``
        (naming the decision) when the space cannot propose it."""
        replay = _Replay(self._params_of(arch))
        try:
            again = self.suggest(replay)
        except OutsideSpace:
            raise
        except (UnirankError, ValueError) as err:
            raise OutsideSpace(str(err).splitlines()[0]) from None
        if again != arch:
            raise OutsideSpace(f"the space turns its parameters into {again.summary()}")
        return dict(replay.used), dict(replay.distributions)

    def _params_of(self, arch: ArchSpec) -> dict:
        """The parameter values ``suggest`` would have to draw to build ``arch`` (unchecked)."""
        c, e, s = self.config, arch.embedding, arch.sharing
        p: dict = {"embedding_dim": e.dim, "hash_buckets": e.hash_buckets, "domain_embedding": e.domain_embedding,
                   "dense_encoding": e.dense_encoding or "linear", "dense_bottom": widths_label(e.dense_bottom),
                   "num_layers": len(arch.layers),
                   "towers": s.towers, "sharing": s.pattern, "tower_width": s.tower_width,
                   "wide": "+".join(arch.wide) if arch.wide else "none", "dropout": arch.dropout or 0.0}
        if self.features is not None:
            p.update({f"dim_{g}": e.group_dims.get(g, e.dim) for g in self.features.groups})
            p.update({f"keep_{n}": n not in e.dropped for n in self.features.feature_names})
            members = {g: [f.name for f in self.features.sparse if f.group_name == g] for g in self.features.groups}
            members["dense"], members["teacher"] = list(self.features.data_dense), list(self.features.teacher)
            p.update({f"keep_group_{g}": not any(n in e.dropped for n in names) for g, names in members.items()})
        for i, layer in enumerate(arch.layers):
            p[f"layer{i}_parallel"], p[f"layer{i}_skip"] = len(layer.modules), layer.skip
            for j, m in enumerate(layer.modules):
                name = f"layer{i}_module{j}"
                p[name] = m.kind
                p.update(block(m.kind).point(m, name))
        p.update({"num_experts": s.num_experts, "expert_width": s.expert_width,
                  "expert_hidden": widths_label(s.expert_hidden), "num_specific_experts": s.num_specific_experts,
                  "ple_levels": s.levels, "ple_specific_to": s.specific_to,
                  "star_layers": len(s.star_widths or ()), "star_norm": bool(s.star_norm),
                  "star_auxiliary": s.star_auxiliary})
        p.update({f"star_width_{k}": w for k, w in enumerate(s.star_widths or ())})
        q = arch.sequence
        p["seq_encoder"] = q.encoder if q is not None else "none"
        if q is not None:
            p.update({"seq_max_len": q.max_len, "seq_attention_width": q.attention_width, "seq_layers": q.layers,
                      "seq_heads": q.heads, "seq_ffn": q.ffn, "seq_rope": bool(q.rope), "seq_qk_norm": bool(q.qk_norm),
                      "seq_readout": q.readout, "seq_summary_tokens": q.summary_tokens})
        return p

    # -- description -------------------------------------------------------------------------
    def size(self) -> int:
        """Number of distinct ArchSpecs the space can produce (before duplicate group dims)."""
        c = self.config
        per_module = sum(block(k).choices(c) for k in c.modules)
        per_layer = sum(per_module ** p for p in range(c.parallel.low, c.parallel.high + 1)) * len(c.skip)
        stacks = sum(per_layer ** n for n in range(c.num_layers.low, c.num_layers.high + 1))
        embedding = len(c.embedding_dim) * len(c.hash_buckets) * len(c.domain_embedding)
        if self.features is not None:
            if c.group_dims:
                embedding *= len(c.embedding_dim) ** len(self.features.groups)
            if c.feature_selection == "features":
                embedding *= 2 ** len(self.features.feature_names)
            elif c.feature_selection == "groups":
                embedding *= 2 ** (len(self.features.groups) + bool(self.features.data_dense)
                                   + bool(self.features.teacher))
        experts = (c.num_experts.high - c.num_experts.low + 1) * len(c.expert_width)
        embedding *= len(c.dense_bottom) + len(c.dense_encoding) - ("linear" in c.dense_encoding)
        sharing = 0
        for pattern in c.sharing:
            sharing += {"shared_bottom": 1, "mmoe": experts * len(c.expert_hidden),
                        "ple": experts * (c.num_specific_experts.high - c.num_specific_experts.low + 1)
                        * (c.ple_levels.high - c.ple_levels.low + 1) * len(c.ple_specific_to),
                        "star": sum(len(c.star_width) ** k for k in range(c.star_layers.low, c.star_layers.high + 1))
                        * len(c.star_norm) * len(c.star_auxiliary),
                        }[pattern]
        total = embedding * stacks * sharing * len(c.towers) * len(c.tower_width) * len(c.wide) * len(c.dropout)
        return total * self._sequence_choices()

    def _sequence_choices(self) -> int:
        if not self._has_sequences:
            return 1
        q = self.config.sequence
        attention = (q.layers.high - q.layers.low + 1) * len(q.heads) * len(q.ffn) * len(q.rope) * len(q.qk_norm)
        per = {"none": 1, "sum": len(q.max_len), "mean": len(q.max_len),
               "target_attention": len(q.max_len) * len(q.attention_width),
               "transformer": len(q.max_len) * attention * sum(len(q.attention_width) if r == "target" else 1
                                                               for r in q.readout),
               "interformer": len(q.max_len) * attention * len(q.summary_tokens)}
        return sum(per[e] for e in q.encoder)

    def describe(self) -> list[tuple[str, str]]:
        """(dimension, choices) rows, conditional ones indented under their parent."""
        c = self.config
        rng = lambda r: f"{r.low}..{r.high}"  # noqa: E731
        rows = [
            ("embedding_dim", str(list(c.embedding_dim))),
            ("  dim_<group>", "per feature group, same choices" if c.group_dims else "off"),
            ("hash_buckets", str(list(c.hash_buckets))),
            ("domain_embedding", str(list(c.domain_embedding))),
            ("feature_selection", c.feature_selection),
            ("num_layers", rng(c.num_layers)),
            ("  modules per layer (parallel)", rng(c.parallel)),
            ("  module kind", str(list(c.modules))),
            *(row for k in c.modules for row in block(k).space_rows(c)),
            ("  skip", str(list(c.skip))),
            ("towers", str(list(c.towers))),
            ("sharing", str(list(c.sharing))),
            ("  num_experts, expert_width (mmoe, ple)", f"{rng(c.num_experts)}, {list(c.expert_width)}"),
            ("  num_specific_experts, levels, specific_to (ple)",
             f"{rng(c.num_specific_experts)}, {rng(c.ple_levels)}, {list(c.ple_specific_to)}"),
            ("  star layers × width (star)", f"{rng(c.star_layers)} × {list(c.star_width)}"),
            ("tower_width", str(list(c.tower_width))),
            ("dense_encoding (dense features: one row, or a row each)", str(list(c.dense_encoding))),
            ("  dense_bottom (linear: DLRM bottom MLP)", str([widths_label(w) for w in c.dense_bottom])),
            ("  expert_hidden (mmoe MLP experts)", str([widths_label(w) for w in c.expert_hidden])),
            ("  star_norm, star_auxiliary (star)", f"{list(c.star_norm)}, {list(c.star_auxiliary)}"),
            ("wide (DeepFM logit terms)", str(list(c.wide))),
            ("dropout", str(list(c.dropout))),
        ]
        if self._has_sequences:
            q = c.sequence
            rows += [("sequence encoder", str(list(q.encoder))), ("  events used (max_len)", str(list(q.max_len))),
                     ("  layers, heads, ffn (transformer, interformer)", f"{rng(q.layers)}, {list(q.heads)}, {list(q.ffn)}"),
                     ("  rope, qk_norm", f"{list(q.rope)}, {list(q.qk_norm)}"),
                     ("  readout (transformer), summary tokens (interformer)", f"{list(q.readout)}, {list(q.summary_tokens)}"),
                     ("  attention width (target_attention)", str(list(q.attention_width)))]
        return rows


def format_size(n: int) -> str:
    return f"{n:,}" if n < 10**7 else f"{n:.2e} (≈10^{int(math.log10(n))})"


class _Replay:
    """A trial that answers ``suggest`` with given values, checks them against the choices and
    records what was asked (``used``) with Optuna distributions (``distributions``)."""

    def __init__(self, params: dict):
        self.params, self.used, self.distributions = params, {}, {}

    def _value(self, name: str):
        if name not in self.params:
            raise OutsideSpace(f"{name}: the architecture does not say")
        return self.params[name]

    def suggest_int(self, name: str, low: int, high: int) -> int:
        from optuna.distributions import IntDistribution

        value = self._value(name)
        if value is None or not low <= value <= high:
            raise OutsideSpace(f"{name} = {value!r} is outside {low}..{high}")
        self.used[name], self.distributions[name] = value, IntDistribution(low, high)
        return value

    def suggest_categorical(self, name: str, choices: list):
        from optuna.distributions import CategoricalDistribution

        value = self._value(name)
        if value not in choices:
            raise OutsideSpace(f"{name} = {value!r} is not among the space's choices {choices}")
        self.used[name], self.distributions[name] = value, CategoricalDistribution(choices)
        return value
