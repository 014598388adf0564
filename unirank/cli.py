"""`unirank search|report|export|train` — the command line.

Every user error ends in one line on stderr (``error: …``) and a non-zero exit code; ``--debug``
anywhere on the command line shows the traceback instead.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from unirank.errors import UnirankError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="AutoML / NAS for unified ranking models.")


def _echo(text: str) -> None:
    typer.echo(text)


def _warn_inert_weight_decays(cfg) -> None:
    """One warning line per weight decay of the study that does nothing (float32, AdamW)."""
    from unirank.train.optim import inert_weight_decays

    for note in inert_weight_decays(cfg.train.model_dump(), cfg.space.train.searched()):
        _echo(f"warning: {note}")


@app.command()
def search(
    config: Path = typer.Argument(..., help="study config YAML, e.g. studies/quickstart.yaml"),
    set_: List[str] = typer.Option([], "--set", help="override a config value: key.path=value"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (default: local Ray)"),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default: SQLite in the output dir)"),
    quiet: bool = typer.Option(False, help="no live progress"),
) -> None:
    """Run (or resume) the study: propose architectures, train them as Ray Tune trials."""
    from unirank.config import load_config

    overrides = list(set_)
    if address:
        overrides.append(f"search.address={address}")
    if storage:
        overrides.append(f"search.storage={storage}")
    cfg = load_config(config, overrides)
    from unirank.search.runner import run_study

    _warn_inert_weight_decays(cfg)

    summary = run_study(cfg, show_progress=not quiet)
    _echo(f"study {summary.study_name}: {summary.completed_this_run} trials finished in this run (presets and "
          f"repeats of known architectures included), {summary.trials_in_study} trials in the study "
          f"({summary.storage}), {summary.seconds:.0f} s")
    if summary.agreement is not None:
        _echo(summary.agreement.line())
    if summary.interrupted_marked_failed:
        _echo(f"{summary.interrupted_marked_failed} trial(s) interrupted earlier were marked failed")
    _echo(f"next: unirank report {summary.output_dir}   |   unirank export {summary.output_dir}")


@app.command()
def report(
    out_dir: Path = typer.Argument(..., help="output folder of `unirank search`"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: <out_dir>/report.html)"),
    png: bool = typer.Option(True, help="also save the front as PNG (needs a headless Chromium/Chrome)"),
) -> None:
    """Write the self-contained HTML report (front, history, hypervolume, importances, trials)."""
    from unirank.dashboard.report import write_report

    result = write_report(out_dir, output, png=png)
    _echo(f"report written: {result.html} ({', '.join(result.figures)})")
    if result.png:
        _echo(f"front as PNG: {result.png}")
    elif png:
        _echo("no PNG of the front: no headless Chromium/Chrome found (set UNIRANK_BROWSER or install chromium)")


@app.command()
def dashboard(
    source: str = typer.Argument(..., help="output folder of `unirank search`, or an Optuna storage URL"),
    study: Optional[str] = typer.Option(None, help="study name (needed when the storage holds several)"),
    host: str = typer.Option("127.0.0.1", help="address to bind (loopback by default)"),
    port: int = typer.Option(8050, min=1, max=65535),
    refresh: float = typer.Option(5.0, min=0.5, help="seconds between refreshes of the live views"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="allow a non-loopback --host (anyone who can reach it sees the study)"),
) -> None:
    """Serve the live dashboard (read-only on the study): Pareto front, trials, history, importances."""
    from unirank.dashboard.app import build_app
    from unirank.dashboard.source import open_source

    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    if not loopback and not allow_remote:
        raise UnirankError(f"--host {host} is not a loopback address; add --allow-remote to serve the "
                           "study to other machines")
    app_ = build_app(open_source(source, study), refresh_seconds=refresh)
    if not loopback:
        typer.echo(f"warning: serving on {host}:{port}: anyone who can reach this address can read the study "
                   "(no authentication)", err=True)
    _echo(f"unirank dashboard on http://{host}:{port}/  (read-only; Ctrl-C to stop)")
    app_.run(host=host, port=port, debug=False)


@app.command()
def export(
    out_dir: Optional[Path] = typer.Argument(None, help="output folder of `unirank search`"),
    trial: Optional[int] = typer.Option(None, help="trial number (default: the confirmed winner (search.confirm), else the front's lowest-NE point)"),
    dest: Optional[Path] = typer.Option(None, help="bundle folder (default: <out_dir>/export/trial-<N>)"),
    arch: Optional[str] = typer.Option(None, help="instead of a trial: an arch.json file or a preset name"),
    config: Optional[Path] = typer.Option(None, help="with --arch: the study config whose data/train to use"),
    set_: List[str] = typer.Option([], "--set", help="with --arch: override a config value: key.path=value"),
) -> None:
    """Export a trial (or, with --arch, an untrained architecture) as a bundle."""
    if arch is not None:
        from unirank.config import load_config
        from unirank.export.bundle import export_arch_bundle
        from unirank.space import PRESETS, ArchSpec

        if config is None or dest is None:
            raise UnirankError("--arch needs --config STUDY.yaml and --dest DIR")
        spec = PRESETS[arch] if arch in PRESETS else ArchSpec.load(arch)
        path = export_arch_bundle(spec, load_config(config, list(set_)), dest)
    else:
        from unirank.export.bundle import export_bundle

        if out_dir is None:
            raise UnirankError("export needs OUT_DIR (a search output folder) or --arch")
        path = export_bundle(out_dir, trial, dest)
    _echo(f"bundle written: {path}")


@app.command()
def train(
    bundle: Path = typer.Argument(..., help="export bundle folder"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    epochs: Optional[int] = typer.Option(None, help="max epochs (default: the study's)"),
    from_weights: bool = typer.Option(False, help="fine-tune from the bundle's weights instead of from scratch"),
    set_: List[str] = typer.Option([], "--set", help="override a training option: name=value "
                                   "(batch_size, lr, compile, precision, embedding_optimizer, ...)"),
    checkpoint_every: int = typer.Option(1000, min=1, help="steps between checkpoints"),
    restart: bool = typer.Option(False, help="ignore an existing checkpoint and start over"),
    sharded: bool = typer.Option(False, help="shard the embedding tables with torchrec (run under torchrun; "
                                 "train.sharding in the bundle's train config sets the planner's budget/types)"),
    teacher: Optional[Path] = typer.Option(None, help="an export bundle of the same data and split to distil from "
                                           "(--set distill_alpha=… distill_aux_head=true)"),
) -> None:
    """Train the bundle's architecture (from scratch by default) on its data."""
    from unirank.config import apply_overrides
    from unirank.export.retrain import train_bundle

    # name=value or train.name=value; dotted names nest (sharding.memory_per_rank_mb=…)
    overrides = apply_overrides({}, [text.removeprefix("train.") for text in set_])
    result = train_bundle(bundle, device=device, max_epochs=epochs, from_weights=from_weights,
                          overrides=overrides, checkpoint_every=checkpoint_every, restart=restart,
                          sharded=sharded, teacher=teacher)
    if result.is_main:
        _echo(result.describe())


@app.command()
def space(
    config: Path = typer.Argument(..., help="study config YAML"),
    set_: List[str] = typer.Option([], "--set", help="override a config value: key.path=value"),
    samples: int = typer.Option(5, help="how many random architectures to show"),
) -> None:
    """Print the search space: dimensions, conditional structure, size, sampled architectures."""
    from unirank.config import load_config
    from unirank.space.describe import print_space

    cfg = load_config(config, list(set_))
    print_space(cfg, samples)
    _warn_inert_weight_decays(cfg)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="unirank", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into this exit code outside standalone mode
            print("error: interrupted", file=sys.stderr)
            return 130
    except typer.Exit as done:
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
        return 130
    except UnirankError as err:
        if debug:
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, whatever the message
        return 2
    except Exception as err:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        if hasattr(err, "format_message") and hasattr(err, "exit_code"):  # typer's usage errors
            prefix = "" if type(err).__name__ == "NoArgsIsHelpError" else "error: "
            print(f"{prefix}{err.format_message()}", file=sys.stderr)
            return err.exit_code or 2
        if debug:
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"error: unexpected {type(err).__name__}: {message} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
