"""`unirank report`: one self-contained HTML file (plotly.js inlined, works offline)."""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

from unirank.dashboard.figures import front_indices, history_figure, pareto_figure
from unirank.errors import UnirankError
from unirank.search.study import open_study_from_dir, trial_records

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; } tr.front td { font-weight: 600; } .muted { color: #777; }
"""


def trials_table(records, front_numbers: set[int]) -> str:
    head = ("<tr><th>trial</th><th>state</th><th>mean NE</th><th>mean AUC</th><th>MFLOPs</th>"
            "<th>params</th><th>architecture</th><th>note</th></tr>")
    rows = []
    for r in sorted(records, key=lambda r: (r.state != "COMPLETE", r.mean_ne if r.mean_ne == r.mean_ne else 9)):
        ne = "" if r.mean_ne != r.mean_ne else f"{r.mean_ne:.4f}"
        note = "Pareto front" if r.number in front_numbers else (r.fail_reason or "")
        auc = r.metrics.get("mean_auc")
        rows.append(
            f"<tr class='{'front' if r.number in front_numbers else ''}'>"
            f"<td>{html.escape(r.label)} <span class='muted'>#{r.number}</span></td><td>{r.state}</td>"
            f"<td>{ne}</td><td>{'' if auc is None else f'{auc:.4f}'}</td>"
            f"<td>{r.mflops:.4f}</td><td>{r.cost.get('params', 0):,}</td>"
            f"<td><code>{html.escape(r.arch.summary())}</code></td><td>{html.escape(note)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def write_report(out_dir: str | Path, dest: str | Path | None = None) -> Path:
    out_dir = Path(out_dir)
    study, cfg = open_study_from_dir(out_dir)
    everything = trial_records(study, include_failed=True)
    records = [r for r in everything if r.state == "COMPLETE"]
    if not records:
        raise UnirankError(f"{out_dir}: the study has no finished trials yet")
    front_numbers = {records[i].number for i in front_indices(records)}
    infeasible = [r for r in everything if r.state == "INFEASIBLE"]
    pareto = pareto_figure(records, infeasible).to_html(full_html=False, include_plotlyjs=True, div_id="pareto")
    history = history_figure(records).to_html(full_html=False, include_plotlyjs=False, div_id="history")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>unirank report: {html.escape(study.study_name)}</title>
<style>{_STYLE}</style></head><body>
<h1>unirank study <code>{html.escape(study.study_name)}</code></h1>
<p class="muted">{len(records)} finished trials ({sum(r.preset is not None for r in records)} presets),
{len(everything) - len(records)} failed or rejected · data: {html.escape(cfg.data.source)} ·
objectives: mean validation NE, MFLOPs per example · generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>
{pareto}
{history}
<h2>Trials</h2>
{trials_table(everything, front_numbers)}
</body></html>"""
    dest = Path(dest) if dest else out_dir / "report.html"
    tmp = dest.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, dest)
    return dest
