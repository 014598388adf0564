"""unirank: AutoML / NAS for unified multi-domain multi-objective ranking models."""
from unirank.config import StudyConfig, load_config
from unirank.data.features import FeatureSpec
from unirank.models.ranker import build_model
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace

__all__ = ["ArchSpec", "FeatureSpec", "SearchSpace", "StudyConfig", "build_model", "load_config",
           "run_study"]
__version__ = "0.1.0"


def run_study(config: StudyConfig, show_progress: bool = True):
    """Run or resume the study described by ``config`` (see ``unirank.search.runner``)."""
    from unirank.search.runner import run_study as _run_study

    return _run_study(config, show_progress)
