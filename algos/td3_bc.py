"""TD3+BC: a minimalist approach to offline RL (Fujimoto & Gu, NeurIPS 2021).

TD3 with one change to the actor: maximise lambda * Q(s, pi(s)) - (pi(s) - a)^2, where
lambda = alpha / mean|Q(s, pi(s))| (stop-gradient) keeps the two terms on the same scale, so
one alpha (2.5) works across datasets. Critics are TD3's: twin Q with clipped double-Q
targets and target-policy smoothing noise; the actor and targets update every
`policy_delay` critic steps. Observations are normalised by the driver.

For a variant, change `actor_loss` (the BC term or lambda) or `critic_loss` (the target).
ReBRAC is this file plus separate actor/critic BC penalties and LayerNorm critics.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, create_train_state, make_optimizer, network_inputs, polyak_update
from networks import DeterministicPolicy, QEnsemble, ensemble_min

ACTIONS = "continuous"


class TD3BCState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    target_actor_params: dict
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> TD3BCState:
    actor_rng, critic_rng = jax.random.split(rng)
    obs, act, torso = network_inputs(config, spec)
    actor = create_train_state(DeterministicPolicy(spec.action_dim, tuple(config.hidden_dims), torso=torso),
                               actor_rng, (obs,), make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(tuple(config.hidden_dims), num_critics=2,
                                          layer_norm=config.critic_layer_norm, torso=torso),
                                critic_rng, (obs, act), make_optimizer(config.critic_lr))
    return TD3BCState(actor=actor, critic=critic, target_actor_params=actor.params,
                      target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def smoothed_target(config, state: TD3BCState, batch, rng):
    """(a', min_i Q'_i(s', a')) with a' = clip(target policy(s') + clipped noise)."""
    next_obs = batch["next_observations"]
    noise = jnp.clip(config.policy_noise * jax.random.normal(rng, batch["actions"].shape),
                     -config.noise_clip, config.noise_clip)
    next_actions = state.actor.apply_fn({"params": state.target_actor_params}, next_obs)
    next_actions = jnp.clip(next_actions + noise, -1.0, 1.0)
    next_q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                                next_obs, next_actions))
    return next_actions, next_q


def critic_loss(critic_params, config, state: TD3BCState, batch, rng):
    _, next_q = smoothed_target(config, state, batch, rng)
    target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q
    qs = state.critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    loss = jnp.mean(jnp.sum(jnp.square(qs - jax.lax.stop_gradient(target)), axis=0))
    return loss, {"critic_loss": loss, "q_data": qs.mean(),
                  "td_error": jnp.abs(qs - target).mean()}


def saturated(actions):
    """The fraction of action entries at exactly +-1: there float32 tanh has rounded its output to
    1 and passes back a gradient of exactly 0 (from |pre-tanh| of about 8), so an actor with
    nearly every entry saturated stalls there, for thousands of updates or for good
    (scripts/rebrac_saturation.py; the trainer warns and the report flags it)."""
    return jnp.mean(jnp.abs(actions) == 1.0)


def actor_loss(actor_params, config, state: TD3BCState, batch):
    pi = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    q = state.critic.apply_fn({"params": state.critic.params}, batch["observations"], pi)[0]
    lmbda = jax.lax.stop_gradient(config.alpha / jnp.mean(jnp.abs(q)))
    bc = jnp.mean(jnp.square(pi - batch["actions"]))
    loss = -lmbda * jnp.mean(q) + bc
    return loss, {"actor_loss": loss, "bc_mse": bc, "q_policy": q.mean(), "lambda": lmbda,
                  "actor_saturated": saturated(pi)}


def make_update(critic_loss_fn, actor_loss_fn):
    """TD3's update for a pair of losses; ReBRAC reuses it with its own two."""

    def update(config, state: TD3BCState, batch, rng, step=None):
        (_, critic_info), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic.params, config, state, batch, rng)
        state = state.replace(critic=state.critic.apply_gradients(grads=grads))

        def actor_step(state):
            (_, actor_info), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
                state.actor.params, config, state, batch)
            actor = state.actor.apply_gradients(grads=grads)
            return state.replace(
                actor=actor,
                target_actor_params=polyak_update(actor.params, state.target_actor_params, config.tau),
                target_critic_params=polyak_update(state.critic.params, state.target_critic_params,
                                                   config.tau),
            ), actor_info

        def no_actor_step(state):  # the same metrics, from the loss alone (no backward pass)
            return state, actor_loss_fn(state.actor.params, config, state, batch)[1]

        # Delayed actor + target update on every `policy_delay`-th step. With the trainer's
        # shared `step` the cond really skips the actor's backward pass and Adam step; with a
        # per-run counter (a direct call under vmap) JAX evaluates both branches and selects.
        count = state.step if step is None else step
        state, actor_info = jax.lax.cond(count % config.policy_delay == 0, actor_step, no_actor_step,
                                         state)
        return state.replace(step=state.step + 1), {**critic_info, **actor_info}

    return update


update = make_update(critic_loss, actor_loss)


def act(config, state: TD3BCState, observations, rng, deterministic: bool = True):
    del config, rng, deterministic
    return state.actor.apply_fn({"params": state.actor.params}, observations)
