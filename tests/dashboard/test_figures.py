"""Axes, fronts and the architecture view, on the records of a real study."""
import optuna

from unirank.dashboard.archview import arch_sections, flat_rows
from unirank.dashboard.figures import axis_options, front_indices, pareto_figure
from unirank.dashboard.source import open_source
from unirank.errors import UnirankError
from unirank.space import PRESETS

import pytest


def test_every_axis_draws_a_front_and_auc_axes_are_maximised(finished_30):
    snap = open_source(str(finished_30)).snapshot()
    axes = axis_options(snap.records)
    assert {"mflops", "params", "latency_ms", "mean_ne", "mean_auc", "mean_pooled_auc"} <= set(axes)
    assert any(k.startswith("portfolios:d0/click") for k in axes)
    x, auc = axes["mflops"], axes["mean_auc"]
    front = front_indices(snap.records, x, auc)
    for i in front:  # nothing is cheaper-or-equal and better-or-equal with one strict
        r = snap.records[i]
        assert not any(o.mflops <= r.mflops and o.metrics["mean_auc"] >= r.metrics["mean_auc"]
                       and (o.mflops < r.mflops or o.metrics["mean_auc"] > r.metrics["mean_auc"])
                       for o in snap.records)
    for key in axes:
        fig = pareto_figure(snap.records, snap.others, axes["params"], axes[key])
        assert fig.data[0].name == "searched trials"


def test_the_source_is_read_only_and_names_a_study(finished_30, tmp_path):
    url = f"sqlite:///{finished_30}/study.db"
    source = open_source(url)
    assert source.label == "dash"
    with pytest.raises(Exception):
        source.study.enqueue_trial({"x": 1})  # SQLite opened with mode=ro
    optuna.create_study(storage=f"sqlite:///{tmp_path}/two.db", study_name="a")
    optuna.create_study(storage=f"sqlite:///{tmp_path}/two.db", study_name="b")
    with pytest.raises(UnirankError, match="holds 2 studies"):
        open_source(f"sqlite:///{tmp_path}/two.db")
    assert open_source(f"sqlite:///{tmp_path}/two.db", "b").label == "b"


def test_architecture_view_names_every_part():
    sections = dict(arch_sections(PRESETS["ple"]))
    assert list(sections) == ["Inputs", "Interaction stack", "Sharing", "Towers"]
    sharing = dict(sections["Sharing"])
    spec = PRESETS["ple"].sharing
    assert sharing["pattern"] == "PLE / CGC" and sharing["shared experts"] == str(spec.num_experts)
    assert sharing["levels"] == str(spec.levels)
    rows = flat_rows(PRESETS["dcnv2"])
    assert rows["Inputs · embedding dim"] == str(PRESETS["dcnv2"].embedding.dim)
    assert any("DCNv2 cross" in v for v in rows.values())


def test_optuna_dashboard_shows_the_objective_names(finished_30):
    """`optuna-dashboard sqlite:///…/study.db` lists the study with named objectives."""
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    app = optuna_dashboard.wsgi(f"sqlite:///{finished_30}/study.db")
    summaries = json.loads(_get(app, "/api/studies", setup_testing_defaults, io))["study_summaries"]
    (summary,) = summaries
    detail = json.loads(_get(app, f"/api/studies/{summary['study_id']}", setup_testing_defaults, io))
    assert detail["objective_names"] == ["mean_ne", "mflops"]


def _get(app, path, setup, io):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    setup(environ)
    status = []
    body = b"".join(app(environ, lambda s, headers, exc=None: status.append(s)))
    assert status[0].startswith("200"), status
    return body


def test_sequence_encoders_are_described_in_the_arch_panel():
    rows = flat_rows(PRESETS["bst"])
    assert rows["Inputs · behaviour sequences"].startswith("transformer (BST): 1 layer(s), 8 heads")
    assert "over the last 50 events" in rows["Inputs · behaviour sequences"]
    assert "Inputs · behaviour sequences" not in flat_rows(PRESETS["dcnv2"])
