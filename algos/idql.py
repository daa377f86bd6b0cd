"""IDQL: implicit Q-learning as an actor-critic with diffusion policies (Hansen-Estruch et al. 2023).

The critic is IQL's, unchanged (algos/iql.py): V by expectile regression of the target double Q
on the data's actions, Q regressed on r + gamma V(s'). The policy is a diffusion model of the
data's actions (networks/diffusion.DiffusionPolicy, `policy_head=diffusion`) fitted by the plain
denoising loss: behaviour cloning, no advantage weights (the reference's actor_objective "bc").
Its parameters are also kept as an EMA (rate `actor_tau`), which is what samples.

Acting resamples the behaviour policy with the critic: draw `num_samples` actions per state from
the diffusion model, score each with min_i Q_i and V, and keep one:
  argmax    the highest Q (the reference code's evaluation, `eval_actions`): deterministic acting;
  weighted  index ~ |tau - 1(Q - V < 0)|, the implicit policy the expectile critic defines
            (the paper's Eq. 8 with a uniform behaviour density), sampled when not deterministic
            or when `idql_select=weighted`.
The critic sees the batch's first `critic_batch_size` rows and the diffusion model the whole batch
(the reference: 256 and 512). A variant changes `select` or gives `denoising_loss` weights.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos import iql
from algos.common import Spec, polyak_update
from networks import ensemble_min

ACTIONS = "continuous"


class IDQLState(struct.PyTreeNode):
    actor: TrainState              # the diffusion model (its noise network)
    target_actor_params: dict      # its EMA, which acts
    critic: TrainState
    value: TrainState
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> IDQLState:
    s = iql.init(config, spec, rng)  # IQL's networks, the actor the config's diffusion head
    return IDQLState(actor=s.actor, target_actor_params=s.actor.params, critic=s.critic, value=s.value,
                     target_critic_params=s.target_critic_params, step=s.step)


def denoising_loss(actor_params, config, state: IDQLState, batch, rng):
    """The DDPM loss E ||eps_hat(x_t, t | s) - eps||^2 on the data's actions (the head's
    negative surrogate log-likelihood, one step t and noise per row)."""
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    loss = -jnp.mean(dist.log_prob(batch["actions"], rng))
    return loss, {"actor_loss": loss}


def update(config, state: IDQLState, batch, rng):
    (_, actor_info), grads = jax.value_and_grad(denoising_loss, has_aux=True)(
        state.actor.params, config, state, batch, rng)
    actor = state.actor.apply_gradients(grads=grads)
    state = state.replace(actor=actor,
                          target_actor_params=polyak_update(actor.params, state.target_actor_params, config.actor_tau))

    critic_batch = jax.tree_util.tree_map(lambda x: x[:config.critic_batch_size], batch)
    (_, value_info), grads = jax.value_and_grad(iql.value_loss, has_aux=True)(
        state.value.params, config, state, critic_batch)
    state = state.replace(value=state.value.apply_gradients(grads=grads))
    (_, critic_info), grads = jax.value_and_grad(iql.critic_loss, has_aux=True)(
        state.critic.params, config, state, critic_batch)
    critic = state.critic.apply_gradients(grads=grads)
    state = state.replace(critic=critic, step=state.step + 1,
                          target_critic_params=polyak_update(critic.params, state.target_critic_params, config.tau))
    return state, {**actor_info, **value_info, **critic_info}


def select(config, q, v, rng, greedy: bool):
    """Index (per state) of the candidate to act with; q: (N, batch), v: (batch,)."""
    if greedy:
        return jnp.argmax(q, axis=0)
    weights = jnp.where(q - v > 0, config.expectile, 1.0 - config.expectile)
    return jax.random.categorical(rng, jnp.log(weights).T, axis=-1)


def act(config, state: IDQLState, observations, rng, deterministic: bool = True):
    sample_rng, pick_rng = jax.random.split(rng)
    dist = state.actor.apply_fn({"params": state.target_actor_params}, observations)
    candidates = dist.sample_many(sample_rng, config.num_samples)        # (N, batch, action_dim)
    q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params}, observations, candidates))
    v = state.value.apply_fn({"params": state.value.params}, observations)
    index = select(config, q, v, pick_rng, greedy=deterministic and config.idql_select == "argmax")
    return jnp.take_along_axis(candidates, index[None, :, None], axis=0)[0]


__all__ = ["IDQLState", "init", "update", "act", "denoising_loss", "select"]
