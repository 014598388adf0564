"""`unirank report`: one self-contained HTML file (plotly.js inlined, works offline) and, where a
headless browser is installed, a PNG of the Pareto front beside it.

Figures (each a plotly div with its data inline): ``pareto`` (front over MFLOPs × mean NE),
``history``, ``hypervolume``, ``importances`` and, when the study used the warm-up proxy, ``proxy``.
"""
from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass
from pathlib import Path

from unirank.dashboard.confirm_view import confirmation_table
from unirank.dashboard.distill_view import distillation_table
from unirank.dashboard.figures import (front_indices, history_figure, hypervolume_figure,
                                       importance_figure, pareto_figure, proxy_figure)
from unirank.dashboard.importance import importances
from unirank.dashboard.png import write_png
from unirank.dashboard.source import open_source
from unirank.errors import UnirankError
from unirank.search.agreement import validation_agreement

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; } tr.front td { font-weight: 600; } .muted { color: #777; } .warn { color: #a15c00; }
"""


def trials_table(records, front_numbers: set[int]) -> str:
    head = ("<tr><th>trial</th><th>state</th><th>mean NE</th><th>pooled AUC</th><th>grouped AUC</th><th>MFLOPs</th>"
            "<th>lookup bytes</th><th>params</th><th>architecture</th><th>note</th></tr>")
    rows = []
    for r in sorted(records, key=lambda r: (r.state != "COMPLETE", r.mean_ne if r.mean_ne == r.mean_ne else 9)):
        ne = "" if r.mean_ne != r.mean_ne else f"{r.mean_ne:.4f}"
        note = "Pareto front" if r.number in front_numbers else (r.fail_reason or "")
        if r.teacher and (r.train or {}).get("distill_alpha", 1.0) != 0:
            note = f"{note}; distilled from {r.teacher}".lstrip("; ")
        auc, pooled = r.metrics.get("mean_auc"), r.metrics.get("mean_pooled_auc")
        rows.append(
            f"<tr class='{'front' if r.number in front_numbers else ''}'>"
            f"<td>{html.escape(r.label)} <span class='muted'>#{r.number}</span></td><td>{r.state}</td>"
            f"<td>{ne}</td><td>{'' if pooled is None else f'{pooled:.4f}'}</td>"
            f"<td>{'' if auc is None else f'{auc:.4f}'}</td>"
            f"<td>{r.mflops:.4f}</td><td>{r.cost.get('embedding_bytes_per_example', 0):,}</td>"
            f"<td>{r.cost.get('params', 0):,}</td>"
            f"<td><code>{html.escape(r.arch.summary())}</code></td><td>{html.escape(note)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


@dataclass
class Report:
    html: Path
    png: Path | None
    figures: list[str]


def write_report(out_dir: str | Path, dest: str | Path | None = None, png: bool = True) -> Report:
    out_dir = Path(out_dir)
    source = open_source(str(out_dir))
    snap = source.snapshot()
    records, everything = snap.records, snap.records + snap.others
    if not records:
        raise UnirankError(f"{out_dir}: the study has no finished trials yet")
    front_numbers = {records[i].number for i in front_indices(records)}
    figures = {"pareto": pareto_figure(records, snap.others), "history": history_figure(records),
               "hypervolume": hypervolume_figure(records),
               "importances": importance_figure(importances(source.study, records))}
    proxy = proxy_figure(records)
    if proxy is not None:
        figures["proxy"] = proxy
    divs = "\n".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=name)
                     for i, (name, fig) in enumerate(figures.items()))
    cfg = source.config
    screened = {r.number for r in snap.others if r.state == "PRUNED" and not r.curve and r.proxy_score is not None}
    screened_note = (f"<p class='muted'>{len(screened)} candidates were screened out by the warm-up proxy "
                     "(scored, never trained; listed in the study as PRUNED with their proxy score).</p>"
                     if screened else "")
    agreement = validation_agreement(records)
    agreement_note = ""
    if agreement is not None:
        line = html.escape(agreement.line(), quote=False)
        agreement_note = f"<p class='{'warn' if agreement.low else 'muted'}'>{line}.</p>"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>unirank report: {html.escape(source.label)}</title>
<style>{_STYLE}</style></head><body>
<h1>unirank study <code>{html.escape(source.label)}</code></h1>
<p class="muted">{len(records)} finished trials ({sum(r.preset is not None for r in records)} presets),
{len(snap.others)} pruned, failed or rejected · data: {html.escape(cfg.data.source if cfg else "?")} ·
objectives: mean validation NE, MFLOPs per example · generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>
{agreement_note}
{divs}
{confirmation_table(source.study, cfg)}
{distillation_table(records)}
<h2>Trials</h2>
{screened_note}
{trials_table([r for r in everything if r.number not in screened], front_numbers)}
</body></html>"""
    dest = Path(dest) if dest else out_dir / "report.html"
    tmp = dest.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, dest)
    picture = write_png(figures["pareto"], dest.with_name(dest.stem + "-pareto.png")) if png else None
    return Report(dest, picture, list(figures))
