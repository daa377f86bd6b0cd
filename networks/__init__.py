"""Network building blocks shared by every algorithm (Flax linen)."""
from networks.mlp import MLP, ensemble, default_init
from networks.policies import (POLICY_HEADS, DeterministicPolicy, GaussianPolicy, MixtureDist, MixtureGaussianPolicy,
                               PerturbationPolicy, TanhGaussianPolicy, likelihood_policy)
from networks.generative import ActionVAE, vae_loss
from networks.divergences import gaussian_kl, mmd, sampled_kl
from networks.critics import QNetwork, DiscreteQNetwork, ValueNetwork, QEnsemble, ensemble_min
from networks.torsos import TORSOS, Torso, TorsoSpec, torso_spec

__all__ = [
    "MLP", "ensemble", "default_init",
    "DeterministicPolicy", "TanhGaussianPolicy", "GaussianPolicy", "MixtureDist", "MixtureGaussianPolicy",
    "PerturbationPolicy", "POLICY_HEADS", "likelihood_policy", "ActionVAE", "vae_loss", "gaussian_kl", "mmd",
    "sampled_kl",
    "QNetwork", "DiscreteQNetwork", "ValueNetwork", "QEnsemble", "ensemble_min",
    "TORSOS", "Torso", "TorsoSpec", "torso_spec",
]
