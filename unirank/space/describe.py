"""`unirank space`: the dimensions, the conditional structure, the size, a few samples with cost."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unirank.config import StudyConfig
from unirank.data.dataset import prepare_dataset
from unirank.data.preprocess import PreprocessState
from unirank.proxies.cost import measure_cost
from unirank.space.search_space import SearchSpace, format_size


def print_space(cfg: StudyConfig, samples: int = 5) -> None:
    import optuna

    console = Console()
    cache = prepare_dataset(cfg.data, cfg.output_dir / "cache")
    features = PreprocessState.model_validate_json((cache / "preprocess.json").read_text()).feature_spec()
    space = SearchSpace(cfg.space, features)
    table = Table(title=f"search space of {cfg.name} (indented = conditional on the row above)")
    table.add_column("dimension")
    table.add_column("choices")
    for name, choices in space.describe():
        table.add_row(name, choices)
    console.print(table)
    console.print(f"features: {len(features.dense)} dense, {len(features.sparse)} sparse in groups "
                  f"{features.groups}; {features.num_domains} domains × {features.num_objectives} objectives")
    console.print(f"space size: {format_size(space.size())} architectures")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=cfg.search.seed))
    samples_table = Table(title=f"{samples} random samples")
    samples_table.add_column("architecture")
    samples_table.add_column("MFLOPs", justify="right")
    samples_table.add_column("params", justify="right")
    for _ in range(samples):
        trial = study.ask()
        arch = space.suggest(trial)
        cost = measure_cost(arch, features)
        samples_table.add_row(escape(arch.summary()), f"{cost.mflops:.4f}", f"{cost.params:,}")
        study.tell(trial, 0.0)
    console.print(samples_table)
