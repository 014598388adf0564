"""The report's distillation table: each distilled student beside the same architecture trained
without the teacher, and the transfer ratio (the share of the teacher's validation-NE advantage
over the undistilled student that distillation recovers; LoopFM's measure)."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

_DISTILL_KEYS = ("distill_alpha", "distill_aux_head")


def _plain_train(train: dict) -> dict:
    return {k: v for k, v in (train or {}).items() if k not in _DISTILL_KEYS}


def _distilled(record) -> bool:
    return bool(record.teacher) and (record.train or {}).get("distill_alpha", 1.0) != 0


def teacher_ne(name: str, records) -> float | None:
    """The teacher's validation NE: a trial of this study ("trial N of …"), or a bundle's metrics."""
    match = re.match(r"trial (\d+) of ", name)
    if match:
        number = int(match.group(1))
        return next((r.mean_ne for r in records if r.number == number), None)
    metrics = Path(name) / "metrics.json"
    if metrics.is_file():
        return (json.loads(metrics.read_text()).get("validation") or {}).get("mean_ne")
    return None


def transfer_rows(records) -> list[dict]:
    """Per distilled trial with an undistilled twin: student, twin, teacher NE and the ratio."""
    rows = []
    for student in (r for r in records if r.state == "COMPLETE" and _distilled(r)):
        twins = [r for r in records if r.state == "COMPLETE" and not _distilled(r) and r.arch == student.arch
                 and _plain_train(r.train) == _plain_train(student.train)]
        teacher = teacher_ne(student.teacher, records)
        if not twins or teacher is None:
            continue
        twin = min(twins, key=lambda r: r.mean_ne)
        gap = twin.mean_ne - teacher
        rows.append({"student": student, "twin": twin, "teacher": teacher,
                     "ratio": (twin.mean_ne - student.mean_ne) / gap if gap else None})
    return rows


def distillation_table(records) -> str:
    """HTML for the report ('' when no trial was distilled)."""
    distilled = [r for r in records if _distilled(r)]
    if not distilled:
        return ""
    rows = transfer_rows(records)
    for x in rows:
        x["shown"] = "" if x["ratio"] is None else f"{x['ratio']:.2f}"
    body = "".join(
        f"<tr><td>{html.escape(x['student'].label)} <span class='muted'>#{x['student'].number}</span></td>"
        f"<td>{html.escape(x['student'].teacher)}</td><td>{x['teacher']:.4f}</td>"
        f"<td>{x['twin'].mean_ne:.4f} <span class='muted'>#{x['twin'].number}</span></td>"
        f"<td>{x['student'].mean_ne:.4f}</td>"
        f"<td>{x['shown']}</td></tr>" for x in rows)
    note = (f"<p class='muted'>{len(distilled)} distilled trials; {len(rows)} have the same architecture trained "
            "without the teacher (same training values) to compare with.</p>")
    return ("<h2>Distillation</h2>" + note + "<table><tr><th>student</th><th>teacher</th><th>teacher NE</th>"
            "<th>without teacher</th><th>distilled</th><th>transfer ratio</th></tr>" + body + "</table>")
