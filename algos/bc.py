"""Behaviour cloning (and %BC).

Pomerleau 1991; the deterministic MSE form used as the baseline in TD3+BC (Fujimoto & Gu,
2021) and CORL. The policy regresses the dataset action: loss = ||pi(s) - a||^2. %BC
(Chen et al. 2021, "Decision Transformer") is the same loss on the top `config.bc_top_fraction`
of episodes by return; the driver does that filtering in `data/` before training.

`config.policy_head = "gaussian"` fits a Gaussian with state-dependent std by maximum likelihood
instead (loss = -log pi(a|s), acting with its mean), and "mixture" a mixture of Gaussians
(networks/policies.MixtureGaussianPolicy: several modes, acting with the heaviest one's mean):
a behaviour policy with a density, which importance-sampling OPE divides by (scripts/ope.py fits
one so). Variants change `actor_loss`.
"""
import functools

import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, StitchError, actor_log_prob, create_train_state, make_optimizer, network_inputs, policy_head
from networks import DeterministicPolicy

ACTIONS = "continuous"


class BCState(struct.PyTreeNode):
    actor: TrainState
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> BCState:
    obs, _, torso = network_inputs(config, spec)
    if config.get("policy_head", "deterministic") != "deterministic":  # gaussian | mixture | latent | diffusion
        actor = policy_head(config, spec, config.hidden_dims, torso, state_dependent_std=True)
    else:
        actor = DeterministicPolicy(spec.action_dim, tuple(config.hidden_dims), torso=torso)
    actor_state = create_train_state(actor, rng, (obs,), make_optimizer(config.actor_lr))
    return BCState(actor=actor_state, step=jnp.zeros((), jnp.int32))


def actor_loss(params, actor: TrainState, batch, rng=None):
    pred = actor.apply_fn({"params": params}, batch["observations"])
    if not isinstance(pred, jnp.ndarray):  # the Gaussian head: maximum likelihood
        return -jnp.mean(pred.log_prob(batch["actions"], rng))  # rng: the latent head's ELBO noise
    return jnp.mean(jnp.square(pred - batch["actions"]))


def update(config, state: BCState, batch, rng):
    del config
    loss, grads = jax.value_and_grad(actor_loss)(state.actor.params, state.actor, batch, rng)
    actor = state.actor.apply_gradients(grads=grads)
    return state.replace(actor=actor, step=state.step + 1), {"actor_loss": loss}


def act(config, state: BCState, observations, rng, deterministic: bool = True):
    del config
    pred = state.actor.apply_fn({"params": state.actor.params}, observations)
    if isinstance(pred, jnp.ndarray):
        return pred
    return jnp.clip(pred.mode() if deterministic else pred.sample(rng), -1.0, 1.0)


def log_prob(config, state: BCState, observations, actions):
    if config.get("policy_head", "deterministic") == "deterministic":
        raise StitchError("A deterministic BC policy has no density. Fix: train it with "
                          "--config.policy_head=gaussian (or mixture).")
    return actor_log_prob(config, state, observations, actions)
