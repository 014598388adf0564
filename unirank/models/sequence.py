"""Sequence encoders: a behaviour history (and the candidate) → rows of the feature matrix E.

Every encoder has one call signature (``SequenceSpec.encoder`` picks the class)::

    tokens  [B, k, d]   the k most recent events (sum of their fields' embeddings), right-aligned:
                        padding first, the most recent event in column k-1
    mask    [B, k] bool True for real events
    query   [B, d] | None  the candidate (sum of the example's rows the events share tables with)
    context [B, N, d]   the non-sequence rows of E (only InterFormer reads and rewrites them)
    → (rows [B, R, d], context' [B, N, d] | None)

Padding never reaches a result: padded keys are masked out of every attention, padded outputs are
zeroed before any pooling or readout. Attention runs PyTorch's fused kernel, and explicit matmuls
when the cost counter measures it (``unirank.models.attend``), so its FLOPs are seen and scale with k.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.errors import UnirankError
from unirank.models.attend import attend
from unirank.space.arch import SequenceSpec


def event_mask(lengths: torch.Tensor, k: int) -> torch.Tensor:
    """Lengths [B] → [B, k] bool, True for the real events of a right-aligned list cut to its k
    most recent slots (the layout of ``unirank.data.features``)."""
    return torch.arange(k, device=lengths.device) >= (k - lengths.clamp(max=k)).unsqueeze(1)


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (RoPE, Su et al. 2021) of ``x`` [B, H, T, d_h] at ``positions`` [T]:
    pairs of channels rotated by position · 10000^(-2i/d_h). An odd last channel is left as is."""
    half = x.shape[-1] // 2
    if half == 0:
        return x
    freq = torch.pow(10000.0, -torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = positions.to(torch.float32)[:, None] * freq[None, :]          # [T, half]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b, rest = x[..., :half], x[..., half:2 * half], x[..., 2 * half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos, rest], dim=-1)


class MultiHeadAttention(nn.Module):
    """Args: ``dim`` d, ``heads`` H (head size d_h = max(1, d // H)), ``qk_norm``: LayerNorm of each
    head's queries and keys (QK-norm), ``rope``: rotary positions on queries and keys.

    Call: ``x`` [B, Q, d] queries, ``memory`` [B, K, d] keys/values, ``key_mask`` [B, K] bool | None,
    positions (RoPE) ``q_pos`` [Q], ``k_pos`` [K] → [B, Q, d].
    FLOPs per example: 2·Q·d·H·d_h + 2·2·K·d·H·d_h (projections) + 2·2·Q·K·H·d_h (scores, mix)
    + 2·Q·H·d_h·d (output) + softmax 5·H·Q·K.
    """

    def __init__(self, dim: int, heads: int, qk_norm: bool = False, rope: bool = False):
        super().__init__()
        self.heads, self.head_dim, self.rope = heads, max(1, dim // heads), rope
        inner = heads * self.head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.kv = nn.Linear(dim, 2 * inner, bias=False)
        self.out = nn.Linear(inner, dim, bias=False)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else None
        self.k_norm = nn.LayerNorm(self.head_dim) if qk_norm else None

    def forward(self, x, memory, key_mask=None, q_pos=None, k_pos=None):
        b, nq, _ = x.shape
        nk = memory.shape[1]
        q = self.q(x).view(b, nq, self.heads, self.head_dim).transpose(1, 2)              # [B, H, Q, d_h]
        k, v = self.kv(memory).view(b, nk, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rope:
            q, k = rotate(q, q_pos), rotate(k, k_pos)
        mixed = attend(q, k, v, key_mask)                                                  # [B, H, Q, d_h]
        return self.out(mixed.transpose(1, 2).reshape(b, nq, self.heads * self.head_dim))


class FeedForward(nn.Module):
    """Call: [B, T, d] → [B, T, d]: Linear(d, ffn) → LeakyReLU (BST) → Linear(ffn, d)."""

    def __init__(self, dim: int, ffn: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, ffn), nn.LeakyReLU(), nn.Linear(ffn, dim))

    def forward(self, x):
        return self.net(x)


class Pooling(nn.Module):
    """``sum`` / ``mean`` of the real events → 1 row [B, 1, d] (zeros for an empty history)."""

    num_rows = 1

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, tokens, mask, query, context):
        weights = mask.to(tokens.dtype).unsqueeze(-1)                                      # [B, k, 1]
        pooled = (tokens * weights).sum(dim=1)
        if self.mode == "mean":
            pooled = pooled / weights.sum(dim=1).clamp_min(1.0)
        return pooled.unsqueeze(1), None


class TargetAttention(nn.Module):
    """DIN's activation unit: w_i = Linear(PReLU(Linear([e_i, q, e_i − q, e_i ⊙ q]))) per event,
    weights not normalised (the paper keeps the intensity of interest); o = Σ_i mask_i · w_i · e_i.
    Deviation: PReLU instead of Dice. Call → (o [B, 1, d], None).
    FLOPs per example: k·(2·4d·a + 2·a) for the unit, 2·k·d for the weighted sum."""

    num_rows = 1

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.unit = nn.Sequential(nn.Linear(4 * dim, width), nn.PReLU(), nn.Linear(width, 1))

    def forward(self, tokens, mask, query, context):
        q = query.unsqueeze(1).expand_as(tokens)                                           # [B, k, d]
        weights = self.unit(torch.cat([tokens, q, tokens - q, tokens * q], dim=-1))        # [B, k, 1]
        weights = weights * mask.to(tokens.dtype).unsqueeze(-1)
        return torch.matmul(weights.transpose(1, 2), tokens), None                         # [B, 1, d]


class EncoderLayer(nn.Module):
    """Post-norm transformer layer (BST): x = LN(x + MHA(x)); x = LN(x + FFN(x)).
    Call: ``x`` [B, T, d], ``key_mask`` [B, T], ``positions`` [T] → [B, T, d]."""

    def __init__(self, dim: int, heads: int, ffn: int, qk_norm: bool, rope: bool):
        super().__init__()
        self.attention = MultiHeadAttention(dim, heads, qk_norm, rope)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn)

    def forward(self, x, key_mask, positions):
        x = self.norm1(x + self.attention(x, x, key_mask, positions, positions))
        return self.norm2(x + self.ffn(x))


class Transformer(nn.Module):
    """BST: the events and the candidate (appended as the last token when there is one) with
    learned position embeddings (position = distance from the candidate; or RoPE), ``layers``
    encoder layers. Readout ``tokens``: every output token, padding zeroed → k (+1) rows;
    ``pooled``: the candidate's output (when there is one) and the real events' mean → 2 rows;
    ``target``: the candidate's output and DIN's weighted sum of the events' outputs against it
    (``TargetAttention``) → 2 rows."""

    def __init__(self, spec: SequenceSpec, dim: int, length: int, has_query: bool):
        super().__init__()
        self.has_query, self.readout, self.rope = has_query, spec.readout, bool(spec.rope)
        self.positions = None if self.rope else nn.Embedding(length + 1, dim)
        nn.init.normal_(self.positions.weight, std=0.01) if self.positions is not None else None
        self.layers = nn.ModuleList(EncoderLayer(dim, spec.heads, spec.ffn, bool(spec.qk_norm), self.rope)
                                    for _ in range(spec.layers))
        tokens = length + has_query
        self.num_rows = tokens if spec.readout == "tokens" else 1 + has_query
        self.target = TargetAttention(dim, spec.attention_width) if spec.readout == "target" else None

    def forward(self, tokens, mask, query, context):
        b, k, _ = tokens.shape
        if self.has_query:
            tokens = torch.cat([tokens, query.unsqueeze(1)], dim=1)
            mask = torch.cat([mask, torch.ones(b, 1, dtype=torch.bool, device=mask.device)], dim=1)
        t = tokens.shape[1]
        distance = torch.arange(t - 1, -1, -1, device=tokens.device) + (0 if self.has_query else 1)  # [T]
        x = tokens if self.positions is None else tokens + self.positions(distance)
        for layer in self.layers:
            x = layer(x, mask, distance)
        x = x * mask.to(x.dtype).unsqueeze(-1)                                             # padding → 0
        if self.readout == "tokens":
            return x, None
        events = x[:, :k]
        if self.target is not None:                                                        # [B, 2, d]
            return torch.cat([x[:, k:], self.target(events, mask[:, :k], x[:, k], context)[0]], dim=1), None
        real = mask[:, :k].to(x.dtype).sum(dim=1, keepdim=True).clamp_min(1.0)
        rows = [(events.sum(dim=1) / real).unsqueeze(1)]
        if self.has_query:
            rows.insert(0, x[:, k:])
        return torch.cat(rows, dim=1), None


class InterFormer(nn.Module):
    """InterFormer-style interleaving: per layer, (1) the events attend to themselves and the
    non-sequence rows (non-sequence → sequence), then a feed-forward layer; (2) the sequence is
    summarised by ``summary_tokens`` learned queries attending over it (pooling by attention, the
    bridging summariser); (3) the non-sequence rows attend to themselves and that summary
    (sequence → non-sequence); post-norm residuals throughout. Output: the last
    layer's summary rows [B, m, d] and the updated non-sequence rows [B, N, d].
    Deviations from the paper: its personalised FFN and its several summarisers (CLS, PMA, recent
    tokens) are one PMA summariser here; the candidate enters as a non-sequence row."""

    def __init__(self, spec: SequenceSpec, dim: int, length: int, has_query: bool):
        super().__init__()
        self.rope, m = bool(spec.rope), spec.summary_tokens
        self.positions = None if self.rope else nn.Embedding(length, dim)
        nn.init.normal_(self.positions.weight, std=0.01) if self.positions is not None else None
        self.seeds = nn.Parameter(torch.randn(spec.layers, m, dim) * 0.02)
        heads, qk = spec.heads, bool(spec.qk_norm)
        self.summarise = nn.ModuleList(MultiHeadAttention(dim, heads, qk) for _ in range(spec.layers))
        self.to_context = nn.ModuleList(MultiHeadAttention(dim, heads, qk) for _ in range(spec.layers))
        self.to_sequence = nn.ModuleList(MultiHeadAttention(dim, heads, qk, self.rope) for _ in range(spec.layers))
        self.ffn = nn.ModuleList(FeedForward(dim, spec.ffn) for _ in range(spec.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(4 * spec.layers))
        self.num_rows = m

    def forward(self, tokens, mask, query, context):
        b, k, _ = tokens.shape
        distance = torch.arange(k - 1, -1, -1, device=tokens.device)
        s = tokens if self.positions is None else tokens + self.positions(distance)
        x = context
        both = torch.cat([torch.ones(b, x.shape[1], dtype=torch.bool, device=mask.device), mask], dim=1)
        for i in range(len(self.summarise)):
            n = self.norms[4 * i: 4 * i + 4]
            memory = torch.cat([x, s], dim=1)
            positions = torch.cat([torch.zeros(x.shape[1], device=s.device, dtype=distance.dtype), distance])
            s = n[0](s + self.to_sequence[i](s, memory, both, distance, positions))          # [B, k, d]
            s = n[1](s + self.ffn[i](s)) * mask.to(s.dtype).unsqueeze(-1)
            seeds = self.seeds[i].unsqueeze(0).repeat(b, 1, 1)  # a copy: a view would confuse module hooks
            summary = n[2](seeds + self.summarise[i](seeds, s, mask))                      # [B, m, d]
            x = n[3](x + self.to_context[i](x, torch.cat([x, summary], dim=1)))            # [B, N, d]
        return summary, x


def build_encoder(spec: SequenceSpec, dim: int, length: int, has_query: bool, feature: str) -> nn.Module:
    """The encoder of ``spec`` for one sequence feature of ``length`` used events."""
    against = ("encoder", spec.encoder) if spec.encoder == "target_attention" else \
        ("readout", spec.readout) if spec.readout == "target" else None  # what attends from the candidate
    if against and not has_query:
        raise UnirankError(f"sequence.{against[0]}: {against[1]} needs a candidate, but no field of sequence "
                           f"{feature!r} shares a table with a kept sparse feature")
    if spec.encoder in ("sum", "mean"):
        return Pooling(spec.encoder)
    if spec.encoder == "target_attention":
        return TargetAttention(dim, spec.attention_width)
    if spec.encoder == "transformer":
        return Transformer(spec, dim, length, has_query)
    return InterFormer(spec, dim, length, has_query)
