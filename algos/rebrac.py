"""ReBRAC: revisiting the minimalist approach to offline RL (Tarasov et al., NeurIPS 2023).

TD3+BC (algos/td3_bc.py) with the paper's changes and nothing else:
  actor   maximise Q(s, pi(s)) / mean|Q| - beta_actor * ||pi(s) - a||^2     (min over the twin Q)
  critic  target r + gamma * (1 - done) * (min_i Q'_i(s', a') - beta_critic * ||a' - a_next||^2)
          with a' = target policy + clipped noise and a_next the dataset's next action,
plus LayerNorm in the critics, deeper networks, a larger batch and learning rate (configs/rebrac.py).
The two penalty weights are the paper's per-dataset tuning knobs (`actor_bc_coef`,
`critic_bc_coef`; table in configs/rebrac.py). Everything else -- twin critics, target-policy
smoothing, policy delay, Polyak targets -- is TD3+BC's code, imported.

For a variant change `actor_loss` or the penalty in `critic_loss`.
"""
import jax
import jax.numpy as jnp

from algos.td3_bc import (ACTIONS, TD3BCState, act, init, make_update,  # noqa: F401
                           saturated, smoothed_target)
from networks import ensemble_min


def critic_loss(critic_params, config, state: TD3BCState, batch, rng):
    next_actions, next_q = smoothed_target(config, state, batch, rng)
    # The paper's critic change: penalise the backed-up action's distance from the data's.
    penalty = jnp.sum(jnp.square(next_actions - batch["next_actions"]), axis=-1)
    next_q = next_q - config.critic_bc_coef * penalty
    target = jax.lax.stop_gradient(batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q)
    qs = state.critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    loss = jnp.mean(jnp.sum(jnp.square(qs - target), axis=0))
    return loss, {"critic_loss": loss, "q_data": qs.mean(), "td_error": jnp.abs(qs - target).mean(),
                  "critic_bc_penalty": penalty.mean()}


def actor_loss(actor_params, config, state: TD3BCState, batch):
    pi = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    q = ensemble_min(state.critic.apply_fn({"params": state.critic.params}, batch["observations"], pi))
    lmbda = jax.lax.stop_gradient(1.0 / jnp.mean(jnp.abs(q))) if config.normalize_q else 1.0
    penalty = jnp.sum(jnp.square(pi - batch["actions"]), axis=-1)
    loss = jnp.mean(config.actor_bc_coef * penalty - lmbda * q)
    return loss, {"actor_loss": loss, "actor_bc_penalty": penalty.mean(), "q_policy": q.mean(),
                  "actor_saturated": saturated(pi)}


update = make_update(critic_loss, actor_loss)
