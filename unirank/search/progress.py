"""Live progress of a search: a progress bar and a live table of running and finished trials.

On a terminal the table refreshes in place; elsewhere (logs, CI) one line per event is printed.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import optuna
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from unirank.search.pareto import pareto_front
from unirank.search.study import trial_records

_SHOWN = 12


@dataclass
class TrialEvent:
    """What the searcher reports about one trial."""

    label: str
    state: str  # running, complete, pruned, failed, infeasible, twin, screened
    message: str
    mean_ne: float | None = None
    mflops: float | None = None
    arch: str = ""


class SearchProgress:
    """``search ━━━━╸━━ 5/12 · best NE 0.8123 · front 3 · 00:42`` above a table of trials."""

    def __init__(self, study: optuna.Study, total: int, enabled: bool = True):
        self.study, self.enabled = study, enabled
        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 console=self.console)
        self.task = self.progress.add_task("search", total=total, status="starting")
        self.rows: dict[str, TrialEvent] = {}
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)

    def status(self) -> tuple[float, int]:
        points = [(r.mflops, r.mean_ne) for r in trial_records(self.study) if math.isfinite(r.mean_ne)]
        best = min((p[1] for p in points), default=math.nan)
        return best, len(pareto_front(points))

    def update(self, event: TrialEvent, finished: int) -> None:
        """``finished``: trained candidates of this run that have ended (the bar's count)."""
        self.rows.pop(event.label, None)
        self.rows[event.label] = event
        if event.state != "running":
            best, front = self.status()
            self.progress.update(self.task, completed=finished, status=f"best NE {best:.4f} · front {front}")
        if self.enabled and not self.console.is_terminal and event.state != "running":
            self.console.print(f"{time.strftime('%H:%M:%S')} {escape(event.message)}")

    def __rich__(self) -> Group:
        table = Table(expand=False, show_edge=False, pad_edge=False)
        for column in ("trial", "state", "mean NE", "MFLOPs", "architecture"):
            table.add_column(column, justify="right" if column in ("mean NE", "MFLOPs") else "left")
        running = [e for e in self.rows.values() if e.state == "running"]
        done = [e for e in self.rows.values() if e.state != "running"][-_SHOWN:]
        for e in running + done:
            colour = {"running": "cyan", "complete": "green", "pruned": "yellow", "screened": "yellow"}.get(e.state, "red")
            table.add_row(e.label, f"[{colour}]{e.state}[/{colour}]",
                          "" if e.mean_ne is None else f"{e.mean_ne:.4f}",
                          "" if e.mflops is None else f"{e.mflops:.4f}", escape(e.arch))
        return Group(self.progress, table)

    def __enter__(self) -> "SearchProgress":
        if self.enabled and self.console.is_terminal:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self.console.is_terminal:
            self.live.__exit__(*exc)
