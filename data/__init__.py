"""Offline data: Minari loading and validation, transforms, on-device sampling, collection."""
from data.dataset import DataInfo, load_dataset, denormalize_actions, normalized_score

__all__ = ["DataInfo", "load_dataset", "denormalize_actions", "normalized_score"]
