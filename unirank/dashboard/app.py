"""`unirank dashboard`: a live Dash app over a study, refreshing while a search runs.

Panels: the Pareto front with switchable axes (cost: MFLOPs, params, latency; quality: mean or any
portfolio's / objective's NE or AUC), presets as named diamonds, pruned / failed / infeasible
trials marked apart; a click on a point opens its architecture (``archview``), per-portfolio
metrics and the command that exports it; a side-by-side comparison of selected trials; the
optimisation history, front hypervolume over trials, Optuna parameter importances and, when the
study screened candidates with the warm-up proxy, proxy score vs final NE.

The app only reads the study (SQLite is opened ``mode=ro``) and binds to 127.0.0.1 by default.
"""
from __future__ import annotations

import threading
import time

from dash import Dash, Input, Output, State, dcc, html, no_update

from unirank.dashboard.archview import arch_sections, flat_rows
from unirank.dashboard.figures import (axis_options, history_figure, hypervolume_figure,
                                       importance_figure, pareto_figure, proxy_figure)
from unirank.dashboard.importance import importances
from unirank.dashboard.source import Snapshot, StudySource
from unirank.search.agreement import validation_agreement
from unirank.search.confirm import confirmed
from unirank.search.study import TrialRecord

_CSS = {"font-family": "system-ui, sans-serif", "margin": "1em auto", "max-width": "1300px", "color": "#222"}
_CELL = {"border-bottom": "1px solid #ddd", "padding": "3px 8px", "text-align": "left", "font-size": "0.9em"}


class _Reader:
    """Re-reads the study at most once per ``min_age`` seconds (all callbacks of one refresh share
    a snapshot); importances are recomputed only when the set of finished trials changed."""

    def __init__(self, source: StudySource, min_age: float = 1.0):
        self.source, self.min_age = source, min_age
        self._lock = threading.Lock()
        self._at, self._snapshot = 0.0, None
        self._importance_key, self._importances = None, {}

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._at > self.min_age:
                self._snapshot, self._at = self.source.snapshot(), time.monotonic()
            return self._snapshot

    def importances(self, snap: Snapshot) -> dict[str, float]:
        key = tuple(sorted(r.number for r in snap.records))
        with self._lock:
            if key != self._importance_key:
                self._importances, self._importance_key = importances(self.source.study, snap.records), key
            return self._importances


def _table(header: list[str], rows: list[list[str]]) -> html.Table:
    head = html.Tr([html.Th(h, style={**_CELL, "background": "#f4f4f4"}) for h in header])
    body = [html.Tr([html.Td(c, style=_CELL) for c in row]) for row in rows]
    return html.Table([head, *body], style={"border-collapse": "collapse", "width": "100%"})


def _fmt(value, digits: int = 4) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def trial_panel(r: TrialRecord, source: StudySource) -> list:
    """The clicked trial: state, cost, architecture sections, metrics per portfolio, export command."""
    head = f"{r.label}" + ("" if r.preset is None else f" (preset, trial #{r.number})")
    facts = (f"{r.state} · mean NE {_fmt(r.mean_ne)} · pooled AUC {_fmt(r.metrics.get('mean_pooled_auc'))} · "
             f"grouped AUC {_fmt(r.metrics.get('mean_auc'))} · "
             f"{r.mflops:.4f} MFLOPs · {r.cost.get('embedding_bytes_per_example', 0):,} lookup bytes/example · "
             f"{r.cost.get('params', 0):,} params · "
             f"latency {_fmt(r.cost.get('latency_ms'), 3)} ms/batch")
    if r.proxy_score is not None:
        facts += f" · proxy score {r.proxy_score:.4f}"
    parts: list = [html.H3(head, id="arch-title"), html.P(facts)]
    again = next((c for c in (confirmed(source.study, source.config) if source.config else [])
                  if c.record.number == r.number), None)
    if again is not None:  # search.confirm trained it from more seeds
        parts.append(html.P(f"confirmed over {len(again.ne)} trainings: mean validation NE {again.mean_ne:.4f} ± "
                            f"{again.std_ne:.4f} (" + ", ".join(f"seed {k}: {v:.4f}" for k, v in again.ne.items()) + ")",
                            id="confirmation"))
    if r.fail_reason:
        parts.append(html.P(f"reason: {r.fail_reason}", style={"color": "firebrick"}))
    parts.append(html.Code(r.arch.summary(), style={"display": "block", "margin-bottom": "8px"}))
    if r.train:
        parts.append(html.P("training (searched): " + ", ".join(f"{k} {v}" for k, v in sorted(r.train.items()))))
    columns = []
    for title, rows in arch_sections(r.arch):
        columns.append(html.Div([html.H4(title), _table(["", ""], [[k, v] for k, v in rows])],
                                style={"flex": "1", "min-width": "230px", "padding-right": "12px"}))
    parts.append(html.Div(columns, id="arch-sections", style={"display": "flex", "flex-wrap": "wrap"}))
    objectives = r.metrics.get("objectives", {})
    if objectives:
        parts.append(html.H4("Validation metrics per objective (pooled: all domains together)"))
        parts.append(_table(["objective", "NE", "pooled AUC", "grouped AUC"],
                            [[name, _fmt(m.get("ne")), _fmt(m.get("pooled_auc")),
                              _fmt(m.get("grouped_auc", m.get("auc")))] for name, m in sorted(objectives.items())]))
    portfolios = r.metrics.get("portfolios", {})
    if portfolios:
        parts.append(html.H4("Validation metrics per portfolio (domain / objective)"))
        parts.append(_table(["portfolio", "NE", "AUC (in the portfolio)", "examples", "base rate"],
                            [[name, _fmt(m.get("ne")), _fmt(m.get("auc")), f"{m.get('count', 0):,}",
                              _fmt(m.get("base_rate"), 3)] for name, m in sorted(portfolios.items())]))
    if r.state == "COMPLETE":
        command = source.export_command(r.number)
        parts.append(html.Div([html.Span("export this trial: "), html.Code(command, id="export-cmd"),
                               dcc.Clipboard(target_id="export-cmd", title="copy",
                                             style={"display": "inline-block", "margin-left": "6px"})],
                              style={"margin-top": "10px"}))
    parts.append(html.Button("add to comparison", id="add-compare", n_clicks=0, style={"margin-top": "8px"}))
    return parts


def compare_table(rows: list[TrialRecord]) -> html.Table:
    """Selected trials side by side: quality, cost and every ArchSpec field; differing rows bold."""
    quality = {"state": [r.state for r in rows], "mean NE": [_fmt(r.mean_ne) for r in rows],
               "pooled AUC": [_fmt(r.metrics.get("mean_pooled_auc")) for r in rows],
               "grouped AUC": [_fmt(r.metrics.get("mean_auc")) for r in rows],
               "MFLOPs": [f"{r.mflops:.4f}" for r in rows], "params": [f"{r.cost.get('params', 0):,}" for r in rows]}
    arch = [flat_rows(r.arch) for r in rows]
    keys = list(dict.fromkeys(k for a in arch for k in a))
    lines = list(quality.items()) + [(k, [a.get(k, "—") for a in arch]) for k in keys]
    head = html.Tr([html.Th("", style=_CELL)] + [html.Th(r.label, style={**_CELL, "background": "#f4f4f4"})
                                                  for r in rows])
    body = [html.Tr([html.Td(name, style=_CELL)] + [
        html.Td(v, style={**_CELL, "font-weight": "600" if len(set(values)) > 1 else "400"}) for v in values])
        for name, values in lines]
    return html.Table([head, *body], id="compare-table-inner", style={"border-collapse": "collapse", "width": "100%"})


def _axis_choices(snap: Snapshot) -> tuple[list[dict], list[dict]]:
    """Dropdown options: cost axes for x, quality axes (mean, per objective, per portfolio) for y."""
    axes = axis_options(snap.records)
    cost_keys = ("mflops", "params", "latency_ms")
    return ([{"label": a.label, "value": k} for k, a in axes.items() if k in cost_keys],
            [{"label": a.label, "value": k} for k, a in axes.items() if k not in cost_keys])


def build_app(source: StudySource, refresh_seconds: float = 5.0) -> Dash:
    reader = _Reader(source)
    x_options, y_options = _axis_choices(reader.snapshot())
    app = Dash(__name__, title=f"unirank · {source.label}", update_title=None,
               suppress_callback_exceptions=True)  # the panel's button appears after a click
    dropdown = {"width": "330px", "display": "inline-block", "margin-right": "16px", "vertical-align": "top"}
    app.layout = html.Div(style=_CSS, children=[
        html.H1(["unirank study ", html.Code(source.label)]),
        html.P(id="summary", style={"color": "#666"}),
        html.Div([
            html.Div([html.Label("x axis (cost)"), dcc.Dropdown(id="x-axis", options=x_options, value="mflops",
                                                                  clearable=False)],
                     style=dropdown),
            html.Div([html.Label("y axis (quality)"), dcc.Dropdown(id="y-axis", options=y_options, value="mean_ne",
                                                                    clearable=False)],
                     style=dropdown),
        ]),
        dcc.Graph(id="pareto", config={"displaylogo": False}),
        html.Div(id="arch-panel", children=html.P("Click a point to see its architecture.",
                                                  style={"color": "#666"}),
                 style={"border": "1px solid #ddd", "padding": "8px 14px", "border-radius": "6px"}),
        html.H2("Compare trials"),
        dcc.Dropdown(id="compare", multi=True, placeholder="pick two or more trials"),
        html.Div(id="compare-table", style={"margin-top": "8px", "overflow-x": "auto"}),
        dcc.Graph(id="history"),
        dcc.Graph(id="hypervolume"),
        dcc.Graph(id="importances"),
        html.Div(dcc.Graph(id="proxy"), id="proxy-box", style={"display": "none"}),
        dcc.Store(id="selected"),
        dcc.Interval(id="tick", interval=int(refresh_seconds * 1000), n_intervals=0),
    ])

    @app.callback(Output("summary", "children"), Output("x-axis", "options"), Output("y-axis", "options"),
                  Output("compare", "options"), Output("history", "figure"), Output("hypervolume", "figure"),
                  Output("importances", "figure"), Output("proxy", "figure"), Output("proxy-box", "style"),
                  Input("tick", "n_intervals"))
    def refresh(_):
        snap = reader.snapshot()
        x_options, y_options = _axis_choices(snap)
        states = {}
        for r in snap.others:
            states[r.state] = states.get(r.state, 0) + 1
        summary = (f"{len(snap.records)} finished trials ({sum(r.preset is not None for r in snap.records)} presets)"
                   + "".join(f" · {n} {s.lower()}" for s, n in sorted(states.items()))
                   + f" · refreshed {time.strftime('%H:%M:%S')} (every {refresh_seconds:g} s)")
        agreement = validation_agreement(snap.records)
        if agreement is not None:
            summary += f" · {agreement.line()}"
        trials = sorted(snap.records + snap.others, key=lambda r: r.number)
        options = [{"label": f"{r.label} (#{r.number}, {r.state.lower()})", "value": r.number} for r in trials]
        proxy = proxy_figure(snap.records)
        return (summary, x_options, y_options, options, history_figure(snap.records),
                hypervolume_figure(snap.records), importance_figure(reader.importances(snap)),
                proxy or {}, {"display": "block" if proxy else "none"})

    @app.callback(Output("pareto", "figure"), Input("tick", "n_intervals"), Input("x-axis", "value"),
                  Input("y-axis", "value"))
    def front(_, x_key, y_key):
        snap = reader.snapshot()
        axes = axis_options(snap.records)
        return pareto_figure(snap.records, snap.others, axes.get(x_key), axes.get(y_key))

    @app.callback(Output("selected", "data"), Input("pareto", "clickData"), Input("history", "clickData"),
                  prevent_initial_call=True)
    def select(*clicks):
        from dash import ctx

        data = ctx.triggered[0]["value"] if ctx.triggered else None
        points = (data or {}).get("points") or []
        return points[0].get("customdata") if points and points[0].get("customdata") is not None else no_update

    @app.callback(Output("arch-panel", "children"), Input("selected", "data"), prevent_initial_call=True)
    def show(number):
        record = reader.snapshot().by_number().get(number)
        return trial_panel(record, source) if record else html.P(f"trial {number} not found")

    @app.callback(Output("compare", "value"), Input("add-compare", "n_clicks"), State("selected", "data"),
                  State("compare", "value"), prevent_initial_call=True)
    def add_to_comparison(clicks, number, chosen):
        chosen = list(chosen or [])
        if not clicks or number is None or number in chosen:
            return no_update
        return chosen + [number]

    @app.callback(Output("compare-table", "children"), Input("compare", "value"), Input("tick", "n_intervals"))
    def compare(chosen, _):
        if not chosen:
            return html.P("Pick trials above (or click a point, then “add to comparison”).", style={"color": "#666"})
        known = reader.snapshot().by_number()
        return compare_table([known[n] for n in chosen if n in known])

    return app
