"""Training and evaluation: fit, evaluate, metrics per portfolio."""
from unirank.train.fit import FitResult, TrainingDiverged, evaluate, fit, predict, seed_everything
from unirank.train.metrics import EvalResult, auc, log_loss, normalized_entropy, portfolio_metrics

__all__ = ["EvalResult", "FitResult", "TrainingDiverged", "auc", "evaluate", "fit", "log_loss",
           "normalized_entropy", "portfolio_metrics", "predict", "seed_everything"]
