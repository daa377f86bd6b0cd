"""Policy heads for continuous actions in [-1, 1] (actions are rescaled by the driver)."""
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from networks.inits import layer_init
from networks.mlp import MLP, dense
from networks.torsos import Torso, TorsoSpec, matmul_dtype

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class DeterministicPolicy(nn.Module):
    """a = tanh(MLP(s)) (TD3, TD3+BC, BC)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        return jnp.tanh(head(self.action_dim, self.torso, x.shape[-1])(x))


def head(action_dim, torso, fan_in):
    """An action head (a mean or a log-std) over `fan_in` features, initialised as the scheme's
    "policy" layers, in the networks' compute dtype (its output is float32 either way)."""
    kernel_init, bias_init = layer_init(torso.init, "policy", fan_in)
    return dense(action_dim, kernel_init, matmul_dtype(torso), bias_init=bias_init)


def _gaussian_log_prob(x, mean, log_std):
    return jnp.sum(
        -0.5 * jnp.square((x - mean) / jnp.exp(log_std)) - log_std - 0.5 * jnp.log(2 * jnp.pi),
        axis=-1,
    )


class GaussianDist:
    """Diagonal Gaussian over actions (pre-squash or not), with a small explicit API."""

    def __init__(self, mean, log_std, squash: bool):
        self.mean, self.log_std, self.squash = mean, log_std, squash

    def mode(self):
        return jnp.tanh(self.mean) if self.squash else self.mean

    def sample_and_log_prob(self, rng):
        u = self.mean + jnp.exp(self.log_std) * jax.random.normal(rng, self.mean.shape)
        log_prob = _gaussian_log_prob(u, self.mean, self.log_std)
        if not self.squash:
            return u, log_prob
        # log|d tanh(u)/du| written in the numerically stable softplus form.
        log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
        return jnp.tanh(u), log_prob - log_det

    def sample(self, rng):
        return self.sample_and_log_prob(rng)[0]

    def log_prob(self, actions):
        if not self.squash:
            return _gaussian_log_prob(actions, self.mean, self.log_std)
        actions = jnp.clip(actions, -1 + 1e-6, 1 - 1e-6)
        u = jnp.arctanh(actions)
        log_det = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
        return _gaussian_log_prob(u, self.mean, self.log_std) - log_det


class GaussianPolicy(nn.Module):
    """Gaussian with tanh-bounded mean and a state-independent log-std (IQL, AWAC).

    `temperature` scales the std at sampling time (1.0 in training).
    """

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    state_dependent_std: bool = False
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        mean = jnp.tanh(head(self.action_dim, self.torso, x.shape[-1])(x))
        if self.state_dependent_std:
            log_std = head(self.action_dim, self.torso, x.shape[-1])(x)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        log_std = jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
        log_std = jnp.broadcast_to(log_std, mean.shape) + jnp.log(temperature)
        return GaussianDist(mean, log_std, squash=False)


class TanhGaussianPolicy(nn.Module):
    """Squashed Gaussian with state-dependent std (SAC, CQL, SAC-N, EDAC)."""

    action_dim: int
    hidden_dims: Sequence[int] = (256, 256)
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, temperature: float = 1.0):
        x = MLP(self.hidden_dims, activate_final=True, init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))(
            Torso(self.torso)(observations))
        mean = head(self.action_dim, self.torso, x.shape[-1])(x)
        log_std = head(self.action_dim, self.torso, x.shape[-1])(x)
        log_std = jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX) + jnp.log(temperature)
        return GaussianDist(mean, log_std, squash=True)
