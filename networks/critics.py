"""State-action (Q) and state (V) value networks, and the ensemble of Q networks."""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from networks.mlp import MLP, default_init, ensemble
from networks.torsos import Torso, TorsoSpec, matmul_dtype


class QNetwork(nn.Module):
    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, actions):
        """Q(s, a), shape actions.shape[:-1]. `actions` may have extra leading axes over the
        observations' batch axes (several actions per state, e.g. (n, batch, d) for (batch, ...)
        states): then the torso runs once per state, and so does the state's share of the first
        layer where the state's features are at least as wide as that layer (an image torso's,
        a wide state's; for a few-dim state one first-layer product over the broadcast state
        is faster: BENCHMARKS.md)."""
        features = Torso(self.torso)(observations)
        batch, action_batch = features.shape[:-1], actions.shape[:-1]
        if len(action_batch) < len(batch) or action_batch[len(action_batch) - len(batch):] != batch:
            raise ValueError(f"Q(s, a) needs actions {actions.shape} whose batch axes end with the "
                             f"observations' batch axes {batch}.")
        mlp = MLP((*self.hidden_dims, 1), activate_final=False, layer_norm=self.layer_norm,
                  init_scheme=self.torso.init, dtype=matmul_dtype(self.torso))
        if action_batch != batch and features.shape[-1] >= self.hidden_dims[0]:
            x = mlp((features, actions))  # the state's share of the first layer once per state
        else:  # narrow features (a flat state of a few dims): the broadcast is cheaper on CPU
            features = jnp.broadcast_to(features, (*action_batch, features.shape[-1]))
            x = mlp(jnp.concatenate([features, actions], axis=-1))
        return jnp.squeeze(x, -1)


def _state_head(module, observations, outputs):
    """Torso then MLP to `outputs` values, as submodules of `module` (called in its compact call)."""
    x = Torso(module.torso)(observations)
    return MLP((*module.hidden_dims, outputs), activate_final=False, layer_norm=module.layer_norm,
               init_scheme=module.torso.init, dtype=matmul_dtype(module.torso))(x)


class ValueNetwork(nn.Module):
    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations):
        return jnp.squeeze(_state_head(self, observations, 1), -1)


class DiscreteQNetwork(nn.Module):
    """Q(s, .) over `num_actions` discrete actions: shape (*batch, num_actions). With
    `per_action` = K >= 1, K outputs per action from one shared trunk, shape (*batch, num_actions,
    K): the heads of Ensemble-DQN and REM, QR-DQN's quantiles, C51's atom logits."""

    num_actions: int
    hidden_dims: Sequence[int] = (256, 256)
    layer_norm: bool = False
    torso: TorsoSpec = TorsoSpec()
    per_action: int = 0

    @nn.compact
    def __call__(self, observations):
        if not self.per_action:
            return _state_head(self, observations, self.num_actions)
        x = _state_head(self, observations, self.num_actions * self.per_action)
        return x.reshape(*x.shape[:-1], self.num_actions, self.per_action)


class QEnsemble(nn.Module):
    """`num_critics` independent Q networks; output shape (num_critics, batch).

    With `per_member_actions=True`, `actions` has a leading (num_critics,) axis and member i
    scores actions[i]: then one backward pass gives every member's own grad_a Q_i (EDAC).
    """

    hidden_dims: Sequence[int] = (256, 256)
    num_critics: int = 2
    layer_norm: bool = False
    torso: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations, actions, per_member_actions: bool = False):
        in_axes = (None, 0) if per_member_actions else None
        qs = ensemble(QNetwork, self.num_critics, in_axes=in_axes)(self.hidden_dims, self.layer_norm,
                                                                      self.torso)
        return qs(observations, actions)


def ensemble_min(qs):
    """Pessimistic value: minimum over the ensemble axis (axis 0)."""
    return jnp.min(qs, axis=0)


__all__ = ["QNetwork", "DiscreteQNetwork", "ValueNetwork", "QEnsemble", "ensemble_min", "default_init"]
