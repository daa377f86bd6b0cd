"""BRAC: behaviour-regularised actor-critic (Wu, Tucker & Nachum, 2019), primal form with the KL.

First a behaviour policy pi_b is fitted to the data by maximum likelihood (its own phase,
algos/common.fit_behaviour); then SAC without its entropy term trains against a penalty of the
policy's divergence from pi_b, estimated from n samples of the policy:
  D(s)    = mean_j [log pi(a_j|s) - log pi_b(a_j|s)],  a_j ~ pi(.|s)   (networks/divergences.sampled_kl)
  critic  y = r + gamma (1 - done) (min_k Q'_k(s', a') - [value_penalty] alpha D(s')),  a' ~ pi(.|s')
          "BRAC-v" penalises the value (`brac_value_penalty=True`), "BRAC-p" only the policy
  actor   minimise E_s[ alpha D(s) - min_k Q_k(s, a) ],  a ~ pi(.|s)  (reparameterised); the
          Q term is off for the first `brac_warm_start` updates of the phase (20k), as the code
  alpha   fixed (`brac_alpha`, 0.1), or dual-learned (`brac_train_alpha`): ascends
          E[alpha (D - target_divergence)], clipped to [0, 500].
The behaviour policy's actions are clipped 1e-3 inside the bounds before its density (the code's
CLIP_EPS). Acting: the policy's mode.

For a variant change `divergence` (e.g. BEAR's MMD, networks/divergences.mmd).
"""

import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import (Phase, Spec, behaviour_log_prob, create_train_state, critic_regression, fit_behaviour,
                          init_behaviour, make_optimizer, network_inputs, polyak_update)
from networks import QEnsemble, TanhGaussianPolicy, sampled_kl

ACTIONS = "continuous"
ALPHA_MAX = 500.0


class BRACState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    behaviour: TrainState
    alpha: TrainState  # params {"alpha": scalar}, used by the dual variant
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> BRACState:
    actor_rng, critic_rng, behaviour_rng = jax.random.split(rng, 3)
    obs, act, torso = network_inputs(config, spec)
    actor = create_train_state(TanhGaussianPolicy(spec.action_dim, tuple(config.actor_hidden_dims), torso=torso),
                               actor_rng, (obs,), make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(tuple(config.hidden_dims), num_critics=config.num_critics, torso=torso),
                                critic_rng, (obs, act), make_optimizer(config.critic_lr))
    alpha = TrainState.create(apply_fn=None, params={"alpha": jnp.asarray(config.brac_alpha, jnp.float32)},
                              tx=make_optimizer(config.brac_alpha_lr))
    return BRACState(actor=actor, critic=critic, behaviour=init_behaviour(config, spec, behaviour_rng),
                     alpha=alpha, target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def alpha(state: BRACState):
    return jnp.clip(state.alpha.params["alpha"], 0.0, ALPHA_MAX)


def divergence(config, state: BRACState, actor_params, observations, rng):
    """Sampled KL(pi || pi_b) per state, (batch,); differentiable in the actor's parameters."""
    dist = state.actor.apply_fn({"params": actor_params}, observations)
    actions, log_pi = jax.vmap(dist.sample_and_log_prob)(jax.random.split(rng, config.brac_n_samples))
    log_b = behaviour_log_prob(config, state.behaviour, state.behaviour.params, observations, actions)
    return sampled_kl(log_pi, log_b)


def critic_loss(critic_params, config, state: BRACState, batch, rng):
    action_rng, div_rng = jax.random.split(rng)
    next_obs = batch["next_observations"]
    next_actions = state.actor.apply_fn({"params": state.actor.params}, next_obs).sample(action_rng)
    next_v = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, next_obs, next_actions), axis=0)
    if config.brac_value_penalty:
        next_v = next_v - alpha(state) * divergence(config, state, state.actor.params, next_obs, div_rng)
    target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_v
    return critic_regression(state.critic, critic_params, batch, target)


def actor_loss(actor_params, config, state: BRACState, batch, rng, step):
    action_rng, div_rng = jax.random.split(rng)
    obs = batch["observations"]
    actions = state.actor.apply_fn({"params": actor_params}, obs).sample(action_rng)
    q = jnp.min(state.critic.apply_fn({"params": state.critic.params}, obs, actions), axis=0)
    kl = divergence(config, state, actor_params, obs, div_rng)
    use_q = (step >= config.brac_warm_start).astype(jnp.float32)
    loss = jnp.mean(jax.lax.stop_gradient(alpha(state)) * kl - use_q * q)
    return loss, {"actor_loss": loss, "q_policy": q.mean(), "kl": kl.mean(), "alpha": alpha(state)}


def alpha_step(config, state: BRACState, kl):
    grads = jax.grad(lambda p: -jnp.clip(p["alpha"], 0.0, ALPHA_MAX) * (kl - config.brac_target_divergence))(
        state.alpha.params)
    new = state.alpha.apply_gradients(grads=grads)
    return new.replace(params={"alpha": jnp.clip(new.params["alpha"], 0.0, ALPHA_MAX)})


def update(config, state: BRACState, batch, rng, step):
    critic_rng, actor_rng = jax.random.split(rng)
    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch, critic_rng)
    critic = state.critic.apply_gradients(grads=grads)
    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, actor_rng, step)
    new_alpha = alpha_step(config, state, actor_info["kl"]) if config.brac_train_alpha else state.alpha
    state = state.replace(
        actor=state.actor.apply_gradients(grads=grads), critic=critic, alpha=new_alpha, step=state.step + 1,
        target_critic_params=polyak_update(critic.params, state.target_critic_params, config.tau))
    return state, {**critic_info, **actor_info}


PHASES = (Phase("behaviour", fit_behaviour, steps="behaviour_steps", evaluate=False),
          Phase("train", update))


def act(config, state: BRACState, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    return dist.mode() if deterministic else dist.sample(rng)


def log_prob(config, state: BRACState, observations, actions):
    del config
    return state.actor.apply_fn({"params": state.actor.params}, observations).log_prob(actions)
