"""The report's confirmation table (``search.confirm``): the best candidates and the best preset,
each with its validation NE from every training seed, the mean ± std, and the confirmed winner."""
from __future__ import annotations

import html

from unirank.search.confirm import complete, confirmed


def confirmation_table(study, cfg) -> str:
    """HTML for the report ('' when the study has no confirmation trainings)."""
    rows = confirmed(study, cfg) if cfg is not None else []
    if not rows:
        return ""
    best = next(iter(complete(rows, cfg)), None)
    seeds = sorted({s for c in rows for s in c.ne})
    head = ("<tr><th>candidate</th><th>MFLOPs</th>" + "".join(f"<th>NE, seed {s}</th>" for s in seeds)
            + "<th>mean ± std</th><th>architecture</th></tr>")
    body = "".join(
        f"<tr class='{'front' if best is not None and c.record.number == best.record.number else ''}'>"
        f"<td>{html.escape(c.record.label)} <span class='muted'>#{c.record.number}</span></td>"
        f"<td>{c.record.mflops:.4f}</td>"
        + "".join(f"<td>{c.ne[s]:.4f}</td>" if s in c.ne else "<td></td>" for s in seeds)
        + f"<td>{c.mean_ne:.4f} ± {c.std_ne:.4f}</td><td><code>{html.escape(c.record.arch.summary())}</code></td></tr>"
        for c in rows)
    verdict = (f"Confirmed winner: <b>{html.escape(best.record.label)}</b> (lowest mean validation "
               f"{'penalised NE' if cfg.search.objective == 'scalarized' else 'NE'}); "
               "the search's own training is the first seed." if best else "Confirmation not finished.")
    return f"<h2>Confirmed over training seeds</h2><p>{verdict}</p><table>{head}{body}</table>"
