"""The search space: ArchSpec (the contract), SearchSpace (define-by-run), presets."""
from unirank.space.arch import (SCHEMA_VERSION, ArchSpec, EmbeddingSpec, LayerSpec, ModuleSpec,
                                SharingSpec)
from unirank.space.presets import PRESETS, get_preset
from unirank.space.search_space import SearchSpace

__all__ = ["ArchSpec", "EmbeddingSpec", "LayerSpec", "ModuleSpec", "PRESETS", "SCHEMA_VERSION",
           "SearchSpace", "SharingSpec", "get_preset"]
