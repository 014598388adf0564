"""Live progress of a search: a rich progress bar plus one log line per finished trial."""
from __future__ import annotations

import math
import time

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from unirank.search.pareto import pareto_front


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
        points = [t.values for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if t.values and all(math.isfinite(v) for v in t.values)]
        best = min((p[0] for p in points), default=math.nan)
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
