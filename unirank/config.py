"""StudyConfig: the only place where YAML becomes objects.

A study config has the sections ``data``, ``space``, ``train``, ``search``, ``budget`` and
``output``. Every section is a frozen pydantic model with ``extra="forbid"``, so an unknown or
misspelled key is an error that names the key. CLI overrides (``--set train.lr=0.01``) are applied
to the raw mapping before validation, so they are checked exactly like the file.
"""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unirank.errors import UnirankError, describe_validation_error


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Section):
    """An inclusive integer range ``{low, high}`` searched with ``suggest_int``."""

    low: int = Field(ge=0)
    high: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "IntRange":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must be <= high ({self.high})")
        return self


class SplitConfig(_Section):
    """How rows become train/val/test (preprocessing is fitted on train only).

    ``random``: a seeded permutation. ``time``: by timestamp (movielens' own, or ``time_column`` of
    a csv/parquet source) — the earliest rows train, the next ``val_fraction`` validate, the latest
    ``test_fraction`` test; or, with ``cuts: [val_from, test_from]`` (dates, or fractions of the
    rows in time order), train before ``val_from``, validate until ``test_from``, test from it; no
    future row leaks into training. With ``gap_fraction`` (time splits) that share of all rows, the
    latest before validation, neither trains nor validates: with ``gap_fraction`` = ``val_fraction``
    validation starts as long after training as the test starts after validation does, so it
    rewards what holds a period after training, as the test does, not only what holds right after
    it. ``column``: the users' own split column (``column``), whose
    ``values`` name the train/val/test rows (any other value is an error naming its row).
    Separate ``train``/``val``/``test`` paths of a csv/parquet source split by file instead."""

    by: Literal["random", "time", "column"] = "random"
    val_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, ge=0, lt=0.5)
    gap_fraction: float = Field(0.0, ge=0, lt=0.5)
    seed: int = 0
    time_column: str | None = None
    cuts: tuple[float | datetime | date, float | datetime | date] | None = None
    column: str | None = None
    values: dict[Literal["train", "val", "test"], str] = {"train": "train", "val": "val", "test": "test"}

    @model_validator(mode="after")
    def _consistent(self) -> "SplitConfig":
        if self.by == "column" and not self.column:
            raise ValueError("by: column needs `column` (the split column's name)")
        if self.by != "column" and self.column:
            raise ValueError(f"column: {self.column!r} is only used with by: column (by is {self.by})")
        if self.by != "time" and (self.time_column or self.cuts):
            raise ValueError(f"time_column/cuts are only used with by: time (by is {self.by})")
        if self.by != "time" and self.gap_fraction:
            raise ValueError(f"gap_fraction: {self.gap_fraction} is only used with by: time (by is {self.by})")
        if "train" not in self.values or "val" not in self.values:
            raise ValueError("values: name at least the train and val values of the split column")
        if self.cuts is not None:
            a, b = self.cuts
            if isinstance(a, float) != isinstance(b, float):
                raise ValueError(f"cuts: {list(self.cuts)}: give two dates or two fractions, not one of each")
            if isinstance(a, float) and not 0 < a < b < 1:
                raise ValueError(f"cuts: {list(self.cuts)}: expected fractions 0 < val_from < test_from < 1")
            if not isinstance(a, float):
                start, end = (datetime.combine(x, datetime.min.time()) if type(x) is date else x for x in (a, b))
                if not start < end:
                    raise ValueError(f"cuts: {[str(x) for x in self.cuts]}: val_from must come before test_from")
        return self


class SyntheticDataConfig(_Section):
    """The built-in multi-domain multi-objective generator (see ``unirank.data.synthetic``)."""

    source: Literal["synthetic"]
    layout: Literal["mdmo", "criteo", "criteo_mdmo"] = "mdmo"
    num_rows: int = Field(60_000, ge=1_000)
    # layout "mdmo": each row gets a history of this many earlier items of its user (sequence
    # ``history`` sharing ``c1``'s ids) and a planted target-attention effect (see the generator);
    # 0 = none
    history_length: int = Field(0, ge=0, le=1024)
    num_domains: int = Field(3, ge=2, le=16)
    num_sparse: int = Field(8, ge=2, le=64)
    num_dense: int = Field(4, ge=1, le=64)
    vocab_size: int = Field(1_000, ge=10)
    seed: int = 0
    min_count: int = Field(1, ge=1)
    split: SplitConfig = SplitConfig()
    # layout "criteo": Criteo-shaped data (13 dense, 26 pre-hashed sparse ids in [0, vocab_size),
    # one domain, one objective) for throughput work; num_sparse/num_dense/num_domains are ignored.
    # layout "criteo_mdmo": the same features with num_domains domains and two objectives (click,
    # conversion), for multi-domain multi-objective throughput work.


class CensusDataConfig(_Section):
    """UCI Census-Income (KDD): objectives income>50k and never-married; domain from a column."""

    source: Literal["census"]
    path: Path = Path("../shared/data/census_income/census-income.test.gz")
    domain_column: str = "sex"
    max_rows: int | None = Field(None, ge=1_000)
    min_count: int = Field(5, ge=1)
    split: SplitConfig = SplitConfig()


class MovieLensDataConfig(_Section):
    """MovieLens-100K (GroupLens, the RecBole atomic files): objectives ``like`` (rating ≥ 4) and
    ``love`` (rating = 5); domains by user ``age_band`` (<25, 25-34, 35-44, 45+), ``gender``
    or the movie's first ``genre``; split by time by default."""

    source: Literal["movielens"]
    path: Path = Path("../shared/data/movielens_100k")
    domain: Literal["age_band", "gender", "genre"] = "age_band"
    min_count: int = Field(1, ge=1)
    split: SplitConfig = SplitConfig(by="time")
    # the user's earlier ratings (strictly before the rating's time) as a sequence ``history`` of
    # at most this many events (movie id, its first genre, the rating given); 0 = none
    history_length: int = Field(0, ge=0, le=1024)
    # the movie's genres as a multi-hot feature ``genres``
    genres: bool = False


class ListFieldConfig(_Section):
    """One field of a sequence: the column holding it and, optionally, the sparse column whose ids
    (vocabulary and embedding table) it shares."""

    column: str
    shares: str | None = None


class MultiHotConfig(_Section):
    """A bag of ids in one column: a Parquet list column or a ``sep``-separated string."""

    column: str
    max_len: int = Field(ge=1, le=4096)
    sep: str = "|"
    shares: str | None = None


class SequenceConfig(_Section):
    """A behaviour sequence: ``fields`` name → column (the first holds the event ids, the others
    side ids per event), each a Parquet list column or a ``sep``-separated string, oldest event
    first; the last ``max_len`` events are kept. An empty or missing cell is an empty history (a
    user's first event); a column empty in every row is an error."""

    fields: dict[str, ListFieldConfig] = Field(min_length=1)
    max_len: int = Field(ge=1, le=4096)
    sep: str = "|"


class CsvDataConfig(_Section):
    """The users' own tables, CSV or Parquet (``source``; ``csv`` also reads ``.parquet`` files):
    ``path`` is a file, a directory of files (hive-style ``key=value`` folders become columns) or a
    glob; or ``train``/``val``/``test`` name one each (the split is then by file). Name the dense,
    sparse, domain and label columns (and ``multi_hot`` bags and ``sequences``, by feature name).
    Without ``domain`` the data is one domain. ``objectives``
    lists label columns holding 0/1, or maps each to its positive value(s) (``income: ">50K"``,
    ``event: [click, purchase]``: those values are 1, any other value 0, empty = missing)."""

    source: Literal["csv", "parquet"]
    path: Path | None = None
    train: Path | None = None
    val: Path | None = None
    test: Path | None = None
    dense: tuple[str, ...] = ()
    sparse: tuple[str, ...] = ()
    domain: str | None = None
    objectives: tuple[str, ...] | dict[str, str | int | float | list[str | int | float] | None] = Field(min_length=1)
    delimiter: str = ","
    min_count: int = Field(1, ge=1)
    split: SplitConfig = SplitConfig()
    multi_hot: dict[str, MultiHotConfig] = {}
    sequences: dict[str, SequenceConfig] = {}

    @model_validator(mode="after")
    def _has_features(self) -> "CsvDataConfig":
        if not self.dense and not self.sparse:
            raise ValueError("name at least one dense or sparse column")
        if self.path is None and self.train is None:
            raise ValueError("give `path` (a file, directory or glob) or `train` and `val` paths")
        if self.path is not None and (self.train or self.val or self.test):
            raise ValueError("give either `path` or `train`/`val`/`test` paths, not both")
        if self.train is not None and self.val is None:
            raise ValueError("with `train` give `val` too (and optionally `test`)")
        if self.train is not None and self.split.by != "random":
            raise ValueError(f"split.by: {self.split.by} does not apply: the split is by the train/val/test files")
        return self

    def labels(self) -> dict[str, tuple[str, ...] | None]:
        """Label column → its positive values as strings (None: the column holds 0/1)."""
        if not isinstance(self.objectives, dict):
            return {name: None for name in self.objectives}
        return {name: None if v is None else tuple(str(x) for x in (v if isinstance(v, list) else [v]))
                for name, v in self.objectives.items()}

    def paths(self) -> dict[str, Path]:
        """``{"all": path}`` or the per-split paths given."""
        if self.path is not None:
            return {"all": self.path}
        return {k: getattr(self, k) for k in ("train", "val", "test") if getattr(self, k) is not None}


DataConfig = Annotated[
    Union[SyntheticDataConfig, CensusDataConfig, MovieLensDataConfig, CsvDataConfig],
    Field(discriminator="source")
]


# module kinds: the block registry's (unirank/models/blocks.py), checked in SpaceConfig
ModuleKind = str


class TrainSpaceConfig(_Section):
    """Training hyperparameters searched with the architecture (AutoML for ranking tunes both):
    each field set to a list of choices becomes a parameter ``train_<field>`` of every trial, and
    overrides the study's ``train`` section for it. Unset fields keep the study's value."""

    lr: tuple[float, ...] | None = None
    embedding_lr: tuple[float | None, ...] | None = None
    weight_decay: tuple[float, ...] | None = None
    embedding_l2: tuple[float, ...] | None = None
    id_dropout: tuple[float, ...] | None = None
    ema_decay: tuple[float, ...] | None = None
    batch_size: tuple[int, ...] | None = None
    max_epochs: tuple[int, ...] | None = None
    distill_alpha: tuple[float, ...] | None = None   # with search.distill: the teacher loss's weight
    distill_aux_head: tuple[bool, ...] | None = None

    @model_validator(mode="after")
    def _valid(self) -> "TrainSpaceConfig":
        for name in ("lr", "embedding_lr", "weight_decay", "embedding_l2", "id_dropout", "ema_decay", "batch_size",
                     "max_epochs", "distill_alpha"):
            values = getattr(self, name)
            if values is None:
                continue
            if not values:
                raise ValueError(f"{name}: expected at least one choice (or leave it out)")
            low = (0 if name in ("weight_decay", "embedding_l2", "id_dropout", "ema_decay", "distill_alpha")
                   else 1 if name in ("batch_size", "max_epochs") else None)
            below_one = name in ("id_dropout", "ema_decay")  # a probability, a decay: 0 ≤ p < 1
            for v in values:
                if v is not None and ((low is None and v <= 0) or (low is not None and v < low)
                                      or (below_one and v >= 1)):
                    raise ValueError(f"{name}: {v} is not a valid choice"
                                     + (" (expected 0 ≤ p < 1)" if below_one else ""))
        return self

    def searched(self) -> dict[str, tuple]:
        return {name: getattr(self, name) for name in type(self).model_fields  # every field, in order
                if getattr(self, name) is not None}


class SequenceSpaceConfig(_Section):
    """How behaviour sequences may be encoded (``SequenceSpec``; asked only when the data has a
    sequence feature). ``none`` leaves sequences unused (a flat model)."""

    encoder: tuple[Literal["none", "sum", "mean", "target_attention", "transformer", "interformer"], ...] = (
        "none", "mean", "target_attention", "transformer", "interformer")
    max_len: tuple[int, ...] = (10, 20, 50)
    layers: IntRange = IntRange(low=1, high=2)
    heads: tuple[int, ...] = (2, 8)
    ffn: tuple[int, ...] = (32, 64)
    rope: tuple[bool, ...] = (False, True)
    qk_norm: tuple[bool, ...] = (False, True)
    readout: tuple[Literal["tokens", "pooled", "target"], ...] = ("tokens", "pooled", "target")
    attention_width: tuple[int, ...] = (36, 64)
    summary_tokens: tuple[int, ...] = (2, 4)

    @model_validator(mode="after")
    def _valid_choices(self) -> "SequenceSpaceConfig":
        for name in ("encoder", "max_len", "heads", "ffn", "rope", "qk_norm", "readout", "attention_width",
                     "summary_tokens"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name}: expected at least one choice")
            if name not in ("encoder", "rope", "qk_norm", "readout") and min(values) < 1:
                raise ValueError(f"{name}: expected positive integers, got {list(values)}")
        if self.layers.low < 1:
            raise ValueError("layers.low: expected an integer >= 1")
        return self


class SpaceConfig(_Section):
    """Which architectures the search may propose (see ``unirank.space.search_space``).

    Every dimension is a list of choices or an inclusive ``{low, high}`` range: one choice (or
    low == high) fixes it, fewer narrow it, more widen it.
    """

    embedding_dim: tuple[int, ...] = (8, 16, 32)
    group_dims: bool = False
    hash_buckets: tuple[int | None, ...] = (None,)
    domain_embedding: tuple[bool, ...] = (False, True)
    feature_selection: Literal["none", "groups", "features"] = "none"
    num_layers: IntRange = IntRange(low=0, high=4)  # 0: the sharing pattern reads the embeddings
    modules: tuple[ModuleKind, ...] = ("mlp", "cross", "dot", "fm", "attention", "wukong")
    parallel: IntRange = IntRange(low=1, high=2)
    skip: tuple[Literal["none", "concat", "residual"], ...] = ("none", "concat", "residual")
    mlp_width: tuple[int, ...] = (64, 80, 128, 200, 256)  # 200-80: DIN's MLP
    cross_rank: tuple[int | None, ...] = (None, 16, 32)
    cross_experts: tuple[int, ...] = (1, 2, 4)
    attention_heads: tuple[int, ...] = (1, 2)
    wukong_rank: tuple[int, ...] = (4, 8, 16)  # wukong: rank k of the FM compression (MLP width: mlp_width)
    sharing: tuple[Literal["shared_bottom", "mmoe", "ple", "star"], ...] = (
        "shared_bottom", "mmoe", "ple", "star")
    num_experts: IntRange = IntRange(low=2, high=6)
    num_specific_experts: IntRange = IntRange(low=1, high=2)
    expert_width: tuple[int, ...] = (32, 64, 128)
    ple_levels: IntRange = IntRange(low=1, high=2)
    ple_specific_to: tuple[Literal["objective", "domain"], ...] = ("objective", "domain")
    star_layers: IntRange = IntRange(low=1, high=2)
    star_width: tuple[int, ...] = (64, 128, 256)
    towers: tuple[Literal["portfolio", "domain", "objective"], ...] = ("portfolio",)
    tower_width: tuple[int, ...] = (16, 32, 64)
    # the blocks of the named models, so that every preset is a point of the default space:
    dense_bottom: tuple[tuple[int, ...], ...] = ((), (64, 32))  # () = one Linear; else DLRM's bottom MLP
    # dense features as one row of E (linear: a Linear or the bottom MLP) or a row each (each:
    # x·v + b as AutoInt/FuxiCTR; periodic: learned sine/cosine features, Gorishniy et al. 2022)
    dense_encoding: tuple[Literal["linear", "each", "periodic"], ...] = ("linear", "each", "periodic")
    dot_with_dense: tuple[bool, ...] = (False, True)             # DLRM's interaction (dense row + dots)
    wide: tuple[Literal["none", "linear", "fm", "linear+fm"], ...] = ("none", "linear+fm")  # DeepFM
    expert_hidden: tuple[tuple[int, ...], ...] = ((), (256,))    # mmoe: MLP experts' hidden widths
    star_norm: tuple[bool, ...] = (False, True)                   # STAR's partitioned normalisation
    star_auxiliary: tuple[int | None, ...] = (None, 32)           # STAR's auxiliary network width
    dropout: tuple[float, ...] = (0.0,)  # after MLP modules and on the stack output; 0 = none
    train: TrainSpaceConfig = TrainSpaceConfig()  # training hyperparameters searched with the model
    sequence: SequenceSpaceConfig = SequenceSpaceConfig()  # behaviour-sequence encoders (data with sequences)

    @model_validator(mode="after")
    def _valid_choices(self) -> "SpaceConfig":
        positive = ("embedding_dim", "mlp_width", "cross_experts", "attention_heads", "wukong_rank", "expert_width",
                    "star_width", "tower_width")
        for name in (*positive, "hash_buckets", "domain_embedding", "modules", "skip", "sharing",
                     "cross_rank", "ple_specific_to", "towers", "dense_bottom", "dense_encoding", "dot_with_dense", "wide",
                     "expert_hidden", "star_norm", "star_auxiliary"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"{name}: expected at least one choice")
            if name in positive and min(values) < 1:
                raise ValueError(f"{name}: expected positive integers, got {list(values)}")
        for name in ("num_experts", "num_specific_experts", "ple_levels", "star_layers", "parallel"):
            if getattr(self, name).low < 1:
                raise ValueError(f"{name}.low: expected an integer >= 1")
        from unirank.models.blocks import blocks

        unknown = [k for k in self.modules if k not in blocks()]
        if unknown:
            raise ValueError(f"modules: unknown kind {unknown[0]!r} (known: {', '.join(blocks())})")
        if any(r is not None and r < 1 for r in self.cross_rank):
            raise ValueError(f"cross_rank: expected null (full rank) or integers >= 1, got {list(self.cross_rank)}")
        for name in ("dense_bottom", "expert_hidden"):
            if any(w < 1 for widths in getattr(self, name) for w in widths):
                raise ValueError(f"{name}: expected lists of positive widths, got {list(getattr(self, name))}")
        if not self.dropout or any(not 0 <= d < 1 for d in self.dropout):
            raise ValueError(f"dropout: expected rates in [0, 1), got {list(self.dropout)}")
        if any(a is not None and a < 1 for a in self.star_auxiliary):
            raise ValueError(f"star_auxiliary: expected null or integers >= 1, got {list(self.star_auxiliary)}")
        if any(b is not None and b < 2 for b in self.hash_buckets):
            raise ValueError(f"hash_buckets: expected null or integers >= 2, got {list(self.hash_buckets)}")
        return self


class ShardingConfig(_Section):
    """``unirank train --sharded`` (torchrec's planner; ``unirank.train.sharded``).

    ``memory_per_rank_mb``: the planner's memory budget per process (default: the GPU's memory,
    or on CPU an equal share of 80% of RAM), 90% of it for the tables and their optimizer state;
    a budget smaller than the tables makes it spread them over the ranks. ``types``: per feature group, the
    sharding types the planner may choose from (e.g. ``{item: [row_wise]}``; on CPU torchrec offers
    table_wise, column_wise, table_column_wise and data_parallel; row_wise needs GPUs)."""

    memory_per_rank_mb: float | None = Field(None, gt=0)
    types: dict[str, tuple[Literal["table_wise", "row_wise", "column_wise", "table_row_wise",
                                   "table_column_wise", "data_parallel"], ...]] = {}


class TrainConfig(_Section):
    """The training protocol shared by every trial and every preset."""

    batch_size: int = Field(512, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    max_epochs: int = Field(6, ge=1)
    # early stopping: training stops once validation NE has not improved for ``patience`` epochs;
    # it is measured ``evals_per_epoch`` times an epoch (evenly spaced steps, the last at the epoch's
    # end; FuxiCTR's eval_steps), and the best measurement's weights are the ones kept. Small data
    # that overfits within an epoch or two wants more than one (a finer choice of when to stop)
    patience: int = Field(2, ge=1)
    evals_per_epoch: int = Field(1, ge=1, le=100)
    # Platt scaling per portfolio fitted on the validation rows at each measurement (the model
    # keeps the best measurement's; unirank.models.calibration): validation NE, early stopping and
    # the search then judge calibrated probabilities (cross-fitted: no row's score reads its own
    # label), and the exported model serves them (its table fitted on every validation row)
    calibrate: bool = False
    seed: int = 0
    device: str = "cpu"
    threads: int | None = Field(None, ge=1)
    embedding_optimizer: Literal["auto", "adamw", "sparse_adam", "rowwise_adagrad"] = "auto"
    embedding_lr: float | None = Field(None, gt=0)
    # L2 on the embedding tables in the loss, FuxiCTR's embedding_regularizer: + λ/2 · Σ ‖W‖² over
    # every table, each step (a prior on every row, not only on those in the batch); needs tables
    # with dense gradients (embedding_optimizer adamw, or auto on small vocabularies)
    embedding_l2: float = Field(0.0, ge=0)
    # cold-start robustness (DropoutNet's input dropout): during training each categorical id of
    # the features in id_dropout_features (empty: every sparse feature) is replaced by the OOV id 0
    # with this probability, so the model learns to predict rows whose id no training row has
    # (a user or item first seen after training); evaluation and serving read the ids unchanged
    id_dropout: float = Field(0.0, ge=0, lt=1)
    id_dropout_features: tuple[str, ...] = ()
    # weights averaged over training (Polyak; unirank.train.averaging): after each step an
    # exponential moving average with this decay per step (0 = off) is updated, and it is what
    # validation measures, early stopping judges and the trained model keeps; it averages about
    # the last 1/(1 − decay) steps (0.99: 100 batches). Plain path only: not with the CUDA fast
    # path's fused tables (ema turns it off) nor --sharded
    ema_decay: float = Field(0.0, ge=0, lt=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: bool = False
    # CUDA, one process: row-wise Adagrad fused into the lookup's backward (Triton kernels,
    # unirank/train/fused_adagrad.py) and, with compile, each step (batch gather, forward,
    # backward, every update) captured once as a CUDA graph and replayed (unirank/train/graphed.py).
    # false = the plain path: sparse gradients, every kernel launched from Python
    fast_path: bool = True
    sharding: ShardingConfig = ShardingConfig()
    # Distillation, when a teacher is given (search.distill, unirank train --teacher): loss = label
    # loss + distill_alpha · cross-entropy against the teacher's probabilities (every row, labelled
    # or not); distill_aux_head: the teacher term is learnt by a separate per-portfolio affine head
    # on the student's logit, so the served logit answers to the labels alone (after ExFM)
    distill_alpha: float = Field(0.5, ge=0)
    distill_aux_head: bool = False


class ScreenConfig(_Section):
    """Warm-up proxy screening (sub-one-shot, see ``unirank.proxies.warmup``): before training,
    sample ``pool`` candidates, warm a supernet over them up on ``warmup_fraction`` of the training
    rows, score each, and queue the best ``keep`` fraction (best first) for full training; the
    others are recorded PRUNED with their proxy score. With ``budget.max_wall_minutes`` only
    candidates predicted to finish within ``queue_share`` of the time left are queued; the sampler
    has the rest, and its proposals pass the proxy ``gate`` before they are trained (see
    ``unirank.search.screening``)."""

    pool: int = Field(256, ge=2, le=100_000)
    keep: float = Field(0.1, gt=0, le=1)
    warmup_fraction: float = Field(0.5, gt=0, le=1)
    warmup_epochs: int = Field(1, ge=1)
    # per candidate, from its inherited weights, before scoring; null = 4% of train.max_epochs' steps
    finetune_steps: int | None = Field(None, ge=0)
    rule: Literal["sandwich", "uniform"] = "sandwich"
    # how candidates are scored from the warmed supernet (unirank/proxies/warmup.py):
    # warmup_loss: the inherited weights' loss on held-out training rows; finetuned: the same after
    # a short per-candidate fine-tuning (+ geometry_weight·geometry terms); sigeo: the paper's
    # ZiCo + Fisher–Rao − training loss, no fine-tuning. The default (finetuned, w = 0.25) ranked
    # best of the scorers on the synthetic data, where it was chosen; BENCHMARKS.md reports it on
    # Census-Income and MovieLens (benchmarks/proxy_fidelity.py)
    scorer: Literal["warmup_loss", "finetuned", "sigeo"] = "finetuned"
    # finetuned only: w in z(loss) − w·z(ZiCo) − w·z(Fisher–Rao); 0 = the loss alone
    geometry_weight: float = Field(0.25, ge=0)
    # with budget.max_wall_minutes: the share of the time left after scoring that the queue may fill
    queue_share: float = Field(0.5, gt=0, le=1)
    # after the queue: each sampler proposal is scored first and trained only if its score is within
    # the best `gate` share of the pool's (and, with a clock, it is predicted to finish); null = off
    gate: float | None = Field(0.5, gt=0, le=1)
    workers: int | None = Field(None, ge=1, le=1024)  # scoring processes; null = one per CPU


class DistillConfig(_Section):
    """A teacher for every candidate of the study: ``best`` (the finished trial with the best
    validation NE), ``trial N`` (that trial of this study) or the path of an export bundle. Its
    logits for every training row are computed once and cached with the prepared data; each
    candidate then trains on label loss + ``train.distill_alpha`` · teacher loss. ``embedding``:
    K > 0 also gives every candidate the teacher's representation as K input features (LoopFM;
    ``unirank.train.teacher_features``); with ``space.feature_selection: groups`` keeping them is
    searched (group ``teacher``)."""

    teacher: str = "best"
    embedding: int = Field(0, ge=0, le=256)

    @model_validator(mode="after")
    def _form(self) -> "DistillConfig":
        text = self.teacher.strip()
        if text.startswith("trial") and not text[5:].strip().isdigit():
            raise ValueError(f"teacher: {self.teacher!r}: expected 'best', 'trial N' or a bundle's path")
        return self


class ConfirmConfig(_Section):
    """Before a winner is named, the ``top`` best searched candidates and the best preset are
    trained again from ``seeds`` more training seeds (``train.seed`` + 1, + 2, …) with the study's
    protocol, and the winner is the lowest mean validation objective over all of its trainings
    (``unirank.search.confirm``). One training's validation NE carries the seed's noise, of the
    size of the differences a search tells apart; the mean of several does not. ``per``: what
    the ``top`` counts — ``trial``: the best trainings, however many share an architecture (the
    finalists' tuning trains each best architecture with several training values);
    ``architecture``: the best training of each of the ``top`` best distinct architectures, so the
    confirmation compares architectures."""

    top: int = Field(3, ge=1, le=50)
    seeds: int = Field(2, ge=1, le=20)
    per: Literal["trial", "architecture"] = "trial"


class TuneConfig(_Section):
    """The last ``trials`` candidates of a run tune the training values (``space.train``) of the
    ``top`` best architectures found so far (``unirank.search.finalists``) — the architecture
    search's finalists get the training-value tuning a hand-designed model gets."""

    top: int = Field(2, ge=1, le=20)
    trials: int = Field(8, ge=1)
    # true: a preset's architecture can be a finalist (a preset is a point of the space); false:
    # the finalists are searched architectures only, for when the presets are tuned on their own
    # (a comparison that tunes them anyway, or a search meant to find something new)
    presets: bool = True


class TunePresetsConfig(_Section):
    """Before the sampler proposes, the ``top`` presets with the best validation NE are trained
    ``trainings`` times in all: the study's training values (their preset training), then values of
    ``space.train`` drawn at random (seeded by the preset's name and ``search.seed``), distinct as
    they train — the tuning a hand-designed model gets when it is compared. Every such training is
    a preset's observation (its parameters and those training values), and the scalarised target
    is the MFLOPs of the best of them: the search looks around, and caps at, the presets as tuned."""

    top: int = Field(2, ge=1, le=20)
    trainings: int = Field(4, ge=2, le=50)


def default_tune(train: TrainSpaceConfig, sampler: str, trials: int) -> TuneConfig | None:
    """``search.tune`` when a study leaves it out: the last third of a run of at least 9 candidates
    tunes the 2 best architectures' training values — when training values are searched and the
    sampler is not random search (which stays the plain baseline). Measured with the Pareto
    objective, 12 candidates (4 tuning), against random search at the same wall-clock:
    BENCHMARKS ``search_vs_presets_tpe_tune2x4_*_s24``."""
    if not train.searched() or sampler == "random" or trials < 9:
        return None
    return TuneConfig(top=2, trials=trials // 3)


class SearchConfig(_Section):
    """How candidates are proposed (Optuna) and run (Ray Tune)."""

    sampler: Literal["tpe", "tpe_hv", "nsga2", "random", "gp", "predictor", "evolution", "local", "tpe_local"] = "tpe"
    seed: int = 0
    # local, tpe_local: the order a centre's neighbours are tried in — random (seeded); predicted:
    # best first by a ridge regression fitted on the trained points; expected_improvement: largest
    # first under a Bayesian ridge, which also favours untried decisions; thompson: by one seeded
    # draw from that ridge's posterior (unirank/search/local.py)
    neighbour_order: Literal["random", "predicted", "expected_improvement", "thompson"] = "random"
    # pareto: minimise (mean NE, MFLOPs); scalarized: minimise NE + λ·max(0, log(MFLOPs/target))
    objective: Literal["pareto", "scalarized"] = "pareto"
    penalty_lambda: float = Field(0.02, ge=0)
    target_mflops: float | None = Field(None, gt=0)
    # scalarized only. penalize: a candidate above the target is trained and pays the penalty;
    # infeasible: the target is a hard cap (iso-FLOPs search) — such a candidate is told to the
    # study as infeasible and never trained, like one over a hard budget
    over_target: Literal["penalize", "infeasible"] = "penalize"
    # fifo: every trial trains to the end; asha: Ray Tune's ASHA stops weak trials at epoch rungs
    scheduler: Literal["fifo", "asha"] = "fifo"
    asha_grace_epochs: int = Field(1, ge=1)
    asha_reduction_factor: int = Field(3, ge=2)
    presets: tuple[str, ...] = ("shared_bottom_mlp", "mmoe")
    study_name: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)
    storage: str | None = None
    address: str | None = None
    # auto: a trial on the driver's node reads the prepared data and writes weights at the driver's
    # paths; on another node it reads them there when they exist. false: no node but the driver's
    # uses the driver's paths — the prepared data goes to workers through Ray's object store and
    # each trial's weights come back through it (clusters without a shared disk)
    shared_disk: Literal["auto"] | bool = "auto"  # true: every node reads the driver's paths
    # a trial whose Ray worker or node dies is restarted (on any node) this many times (Ray Tune's
    # FailureConfig); an error inside training is not retried: it is recorded FAIL with its reason
    trial_retries: int = Field(1, ge=0, le=10)
    cpus_per_trial: float = Field(1.0, gt=0)
    # GPUs each trial asks Ray Tune for (fractional packs several trials on one GPU, e.g. 0.25 = 4);
    # a trial given a GPU trains on it (train.device becomes cuda: data on the device, bf16)
    gpus_per_trial: float = Field(0.0, ge=0, le=8)
    max_concurrent: int | None = Field(None, ge=1)
    screen: ScreenConfig | None = None  # warm-up proxy screening; null = train what the sampler proposes
    distill: DistillConfig | None = None  # a teacher for every candidate; null = no distillation
    confirm: ConfirmConfig | None = None  # the best candidates retrained from more seeds; null = off
    # the last candidates tune the finalists' training values; null = off; left out: default_tune
    tune: TuneConfig | None = None
    # the best presets' training values tuned before the first proposal; null = off
    tune_presets: TunePresetsConfig | None = None

    @model_validator(mode="after")
    def _scalarized_needs_a_target(self) -> "SearchConfig":
        if self.objective == "scalarized" and self.target_mflops is None and not self.presets:
            raise ValueError("target_mflops: required with objective: scalarized when search.presets is "
                             "empty (with presets the target is the best preset's MFLOPs)")
        if self.sampler == "tpe_hv" and self.objective != "pareto":
            raise ValueError("sampler: 'tpe_hv' needs objective: pareto (it learns from the trials holding the "
                             "front's hypervolume; with one objective use 'tpe')")
        if self.tune_presets is not None and not self.presets:
            raise ValueError("tune_presets: needs search.presets (the presets whose training values it tunes)")
        if self.over_target == "infeasible" and self.objective != "scalarized":
            raise ValueError("over_target: 'infeasible' needs objective: scalarized (the target it caps is "
                             "the scalarised objective's)")
        return self

    def concurrency(self, cpus: float, gpus: float = 0.0) -> int:
        """Trials trained at once on ``cpus`` CPUs (and ``gpus`` GPUs when trials ask for GPUs):
        ``max_concurrent`` or as many as fit."""
        fit = int(cpus // self.cpus_per_trial)
        if self.gpus_per_trial:
            fit = min(fit, int(round(gpus / self.gpus_per_trial, 6)))
        return self.max_concurrent or max(1, fit)

    def resources(self) -> dict[str, float]:
        """What each trial asks Ray Tune for."""
        return {"cpu": self.cpus_per_trial, **({"gpu": self.gpus_per_trial} if self.gpus_per_trial else {})}

    def trial_device(self, train_device: str) -> str:
        """The device a trial trains on: CUDA when it is given a GPU, else ``train.device``."""
        return "cuda" if self.gpus_per_trial else train_device


class BudgetConfig(_Section):
    """What a search may spend and hard limits on candidates.

    ``trials``: trained candidates per ``unirank search`` invocation. ``total_trials``: a cap for
    the whole study, so that a killed and rerun search ends with exactly that many. The
    ``max_*`` limits are hard constraints checked before training (latency on the driver's CPU).
    """

    trials: int = Field(12, ge=0)
    total_trials: int | None = Field(None, ge=0)
    max_wall_minutes: float | None = Field(None, gt=0)
    max_mflops: float | None = Field(None, gt=0)
    max_params: int | None = Field(None, gt=0)
    max_latency_ms: float | None = Field(None, gt=0)


class OutputConfig(_Section):
    dir: Path | None = None


class StudyConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=100)  # a file name: no "..", no "/"
    data: DataConfig
    space: SpaceConfig = SpaceConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    budget: BudgetConfig = BudgetConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _tune_default_and_training_values(self) -> "StudyConfig":
        if "tune" not in self.search.model_fields_set:  # left out (null turns it off): on where it helps
            tune = default_tune(self.space.train, self.search.sampler, self.budget.trials)
            object.__setattr__(self, "search", self.search.model_copy(update={"tune": tune}))  # frozen
        if self.search.tune is not None and not self.space.train.searched():
            raise ValueError("search.tune: needs training values to tune (space.train searches none)")
        if self.search.tune_presets is not None and not self.space.train.searched():
            raise ValueError("search.tune_presets: needs training values to tune (space.train searches none)")
        return self

    @property
    def output_dir(self) -> Path:
        return (self.output.dir or Path("runs") / self.name).resolve()

    @property
    def study_name(self) -> str:
        return self.search.study_name or self.name


def parse_override(text: str) -> tuple[list[str], object]:
    """``"train.lr=0.01"`` → (``["train", "lr"]``, ``0.01``); the value is parsed as YAML."""
    if "=" not in text:
        raise UnirankError(f"--set {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    path = [part for part in key.strip().split(".") if part]
    if not path:
        raise UnirankError(f"--set {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise UnirankError(f"--set {text!r}: {part} is not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> StudyConfig:
    """Read a study YAML (safe loader), apply ``--set`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise UnirankError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(err, "problem", None) or getattr(err, "reason", None) or err).split())
        raise UnirankError(f"{path}:{where} not valid YAML ({problem})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UnirankError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides or [])
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict, source: str = "config") -> StudyConfig:
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise UnirankError(describe_validation_error(err, source)) from None
