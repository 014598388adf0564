"""Live progress of a search: a rich progress bar plus one log line per finished trial."""
from __future__ import annotations

import math
import time

import optuna
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from unirank.search.pareto import pareto_front
from unirank.search.study import trial_records


class SearchProgress:
    """``trials ━━━━━╸━━ 5/12 · best NE 0.8123 · front 3 · 00:42``"""

    def __init__(self, study: optuna.Study, total: int, enabled: bool = True):
        self.study = study
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=self.console, disable=not enabled, transient=False,
        )
        self.task = self.progress.add_task("search", total=total, status="starting")
        self.enabled = enabled

    def status(self) -> tuple[float, int]:
        points = [(r.mflops, r.mean_ne) for r in trial_records(self.study) if math.isfinite(r.mean_ne)]
        best = min((p[1] for p in points), default=math.nan)
        return best, len(pareto_front(points))

    def update(self, message: str, finished: int) -> None:
        """``finished``: trained candidates of this run that have ended (the bar's count)."""
        best, front = self.status()
        self.progress.update(self.task, completed=finished,
                             status=f"best NE {best:.4f} · front {front}")
        if self.enabled:
            self.progress.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}")

    def __enter__(self) -> "SearchProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
