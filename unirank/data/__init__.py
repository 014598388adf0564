"""Data: FeatureSpec, readers, preprocessing, cached tensor splits and batches."""
from unirank.data.batches import Batch, TensorSplit
from unirank.data.dataset import Dataset, build_dataset, load_prepared, prepare_dataset
from unirank.data.features import FeatureSpec, SparseFeature

__all__ = ["Batch", "Dataset", "FeatureSpec", "SparseFeature", "TensorSplit", "build_dataset",
           "load_prepared", "prepare_dataset"]
