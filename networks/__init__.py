"""Network building blocks shared by every algorithm (Flax linen)."""
from networks.mlp import MLP, ensemble, default_init
from networks.policies import DeterministicPolicy, TanhGaussianPolicy, GaussianPolicy
from networks.critics import QNetwork, DiscreteQNetwork, ValueNetwork, QEnsemble, ensemble_min
from networks.torsos import TORSOS, Torso, TorsoSpec, torso_spec

__all__ = [
    "MLP", "ensemble", "default_init",
    "DeterministicPolicy", "TanhGaussianPolicy", "GaussianPolicy",
    "QNetwork", "DiscreteQNetwork", "ValueNetwork", "QEnsemble", "ensemble_min",
    "TORSOS", "Torso", "TorsoSpec", "torso_spec",
]
