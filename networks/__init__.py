"""Network building blocks shared by every algorithm (Flax linen)."""
from networks.mlp import MLP, ensemble, default_init
from networks.policies import DeterministicPolicy, TanhGaussianPolicy, GaussianPolicy
from networks.critics import QNetwork, ValueNetwork, QEnsemble, ensemble_min

__all__ = [
    "MLP", "ensemble", "default_init",
    "DeterministicPolicy", "TanhGaussianPolicy", "GaussianPolicy",
    "QNetwork", "ValueNetwork", "QEnsemble", "ensemble_min",
]
