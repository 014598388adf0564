"""A readable, structured view of an ``ArchSpec`` for the dashboard's panels and comparisons.

``arch_sections`` turns a spec into titled sections of (name, value) rows, in the order a model
is built: inputs → interaction stack → sharing → towers. ``flat_rows`` joins them into one list
for side-by-side comparison of several trials.
"""
from __future__ import annotations

from unirank.models.blocks import block
from unirank.space.arch import ArchSpec, ModuleSpec, SequenceSpec


def describe_module(m: ModuleSpec) -> str:
    return block(m.kind).describe(m)


READOUTS = {"tokens": "every token", "pooled": "candidate + mean", "target": "candidate + DIN attention (hidden {})"}


def describe_sequence(q: SequenceSpec) -> str:
    """``DIN target attention (hidden 36) over the last 50 events``, ``transformer (BST) …``."""
    what = {"sum": "sum pooling", "mean": "mean pooling",
            "target_attention": f"DIN target attention (hidden {q.attention_width})",
            "transformer": f"transformer (BST): {q.layers} layer(s), {q.heads} heads, ffn {q.ffn}, "
                           f"{READOUTS[q.readout].format(q.attention_width)} out",
            "interformer": f"InterFormer interleaving: {q.layers} layer(s), {q.heads} heads, ffn {q.ffn}, "
                           f"{q.summary_tokens} summary tokens"}[q.encoder]
    options = [o for o, on in (("RoPE", q.rope), ("QK-norm", q.qk_norm)) if on]
    return f"{what}{' + ' + ', '.join(options) if options else ''} over the last {q.max_len} events"


def _dense(e) -> str:
    if e.dense_encoding == "each":
        return "a row each (x·v + b)"
    if e.dense_encoding == "periodic":
        return "a row each (periodic: learned sine/cosine frequencies)"
    return "bottom MLP " + "-".join(map(str, (*e.dense_bottom, e.dim))) if e.dense_bottom else "one linear row"


def arch_sections(arch: ArchSpec) -> list[tuple[str, list[tuple[str, str]]]]:
    e, s = arch.embedding, arch.sharing
    inputs = [("embedding dim", str(e.dim))]
    inputs += [(f"group {group} dim", str(dim)) for group, dim in sorted(e.group_dims.items())]
    inputs += [("hash buckets", str(e.hash_buckets) if e.hash_buckets else "none"),
               ("domain embedding", "yes" if e.domain_embedding else "no"),
               ("dropped features", ", ".join(e.dropped) if e.dropped else "none"),
               ("dense features", _dense(e))]
    if arch.sequence is not None:
        inputs.append(("behaviour sequences", describe_sequence(arch.sequence)))
    stack = [(f"layer {i}", " ‖ ".join(describe_module(m) for m in layer.modules)
              + ("" if layer.skip == "none" else f"  [skip: {layer.skip}]"))
             for i, layer in enumerate(arch.layers)] or [("layers", "none")]
    sharing = [("pattern", {"shared_bottom": "shared bottom", "mmoe": "MMoE", "ple": "PLE / CGC",
                            "star": "STAR"}[s.pattern])]
    for name, value in (("shared experts", s.num_experts), ("specific experts", s.num_specific_experts),
                        ("specific to", s.specific_to), ("expert width", s.expert_width),
                        ("expert hidden layers", "-".join(map(str, s.expert_hidden)) if s.expert_hidden else None),
                        ("levels", s.levels),
                        ("STAR widths", " → ".join(map(str, s.star_widths)) if s.star_widths else None),
                        ("partitioned normalisation", "yes" if s.star_norm else None),
                        ("auxiliary network width", s.star_auxiliary)):
        if value is not None:
            sharing.append((name, str(value)))
    towers = [("one tower per", s.towers), ("tower width", str(s.tower_width))]
    if arch.wide:
        towers.append(("added to the logit", " + ".join({"linear": "first-order (linear) term",
                                                         "fm": "FM second-order term"}[w] for w in arch.wide)))
    return [("Inputs", inputs), ("Interaction stack", stack), ("Sharing", sharing), ("Towers", towers)]


def flat_rows(arch: ArchSpec) -> dict[str, str]:
    """``{"Inputs · embedding dim": "16", ...}`` for comparison tables."""
    return {f"{title} · {name}": value for title, rows in arch_sections(arch) for name, value in rows}
