"""UnifiedRanker: one model, heads per portfolio (domain × objective), built from an ArchSpec."""
from __future__ import annotations

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.models.embedding import InputLayer
from unirank.models.ple import PLE
from unirank.models.sharing import MMoE, SharedBottom
from unirank.models.stack import InteractionStack
from unirank.models.star import Star
from unirank.models.wide import FirstOrder, fm_logit
from unirank.space.arch import ArchSpec
from unirank.models import calibration

SHARING = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE, "star": Star}


class UnifiedRanker(nn.Module):
    """inputs → interaction stack → sharing pattern → logits (+ the wide terms, DeepFM).

    Call: ``dense`` [B, D] float, ``sparse`` [B, S] int64, ``domain`` [B] int64, and when the data
    has list features ``lists`` [B, L] int64 (``unirank.data.features``) →
    logits [B, T] (one per objective, from the heads of each example's domain).
    ``parts`` returns the summands of the logit: ``deep`` and, when in ``arch.wide``, ``linear``
    [B, T] and ``fm`` [B, 1]. The buffer ``calibration`` [D, T, 2] maps their sum to the served
    logit (a·z + b per portfolio; identity unless ``train.calibrate`` fitted it, see
    ``unirank.models.calibration``).
    """

    def __init__(self, arch: ArchSpec, features: FeatureSpec, engine: str = "plain"):
        super().__init__()
        self.arch, self.features, self.engine = arch, features, engine
        self.inputs = InputLayer(arch.embedding, features, arch.sequence, engine)
        self.stack = InteractionStack(arch.layers, self.inputs.out_features, self.inputs.num_rows,
                                      arch.embedding.dim, dense_row=self.inputs.has_dense_row,
                                      dropout=arch.dropout)
        self.dropout = nn.Dropout(arch.dropout) if arch.dropout else None
        self.sharing = SHARING[arch.sharing.pattern](
            self.stack.out_features, arch.sharing, features.num_domains, features.num_objectives
        )
        wide = set(arch.wide or ())
        self.first_order = FirstOrder(arch.embedding, features) if "linear" in wide else None
        self.fm = "fm" in wide
        self.register_buffer("calibration", calibration.identity(features.num_domains, features.num_objectives))
        # weights saved before the buffer existed load as uncalibrated
        self.register_load_state_dict_pre_hook(_identity_if_missing)

    def deep(self, matrix: torch.Tensor, flat: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """E0 [B, N, d], h0 [B, W0], domain [B] → the deep part's logits [B, T]."""
        h = self.stack(matrix, flat)
        return self.sharing(self.dropout(h) if self.dropout is not None else h, domain)

    def parts(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor,
              lists: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        matrix, flat = self.inputs(dense, sparse, domain, lists)
        out = {"deep": self.deep(matrix, flat, domain)}
        if self.first_order is not None:
            out["linear"] = self.first_order(dense, sparse)
        if self.fm:
            out["fm"] = fm_logit(matrix)
        return out

    def weight_slots(self) -> dict:
        """Parameter name → the weight slot it fills (``unirank.models.slots``)."""
        from unirank.models.slots import weight_slots

        return weight_slots(self)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor,
                lists: torch.Tensor | None = None) -> torch.Tensor:
        if self.first_order is None and not self.fm:
            matrix, flat = self.inputs(dense, sparse, domain, lists)
            return calibration.apply(self.calibration, self.deep(matrix, flat, domain), domain)
        parts = self.parts(dense, sparse, domain, lists)
        logits = parts["deep"]
        for name in ("linear", "fm"):
            if name in parts:
                logits = logits + parts[name]
        return calibration.apply(self.calibration, logits, domain)


def _identity_if_missing(module: UnifiedRanker, state: dict, prefix: str, *_) -> None:
    state.setdefault(prefix + "calibration", calibration.identity(*module.calibration.shape[:2]))


def build_model(arch: ArchSpec, features: FeatureSpec, engine: str = "plain") -> UnifiedRanker:
    """A pure function of the spec and the features: same inputs, same architecture. ``engine``:
    where the feature tables live — ``plain`` PyTorch modules or ``torchrec``'s collections
    (``unirank.models.torchrec_tables``); the state dicts convert both ways."""
    return UnifiedRanker(arch, features, engine)
