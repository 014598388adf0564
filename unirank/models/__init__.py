"""Models built from an ArchSpec: embeddings, interaction blocks, sharing patterns."""
from unirank.models.ranker import UnifiedRanker, build_model

__all__ = ["UnifiedRanker", "build_model"]
