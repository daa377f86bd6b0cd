"""One-step RL (Brandfonbrener, Whitney, Ranganath & Bruna, NeurIPS 2021).

One step of policy iteration from the behaviour policy, in three phases:
  behaviour  fit pi_b by maximum likelihood (algos/common.fit_behaviour)
  evaluate   SARSA: Q_b(s, a) <- r + gamma (1 - done) Q_b'(s', a'), a' the *logged* next action,
             so Q estimates the behaviour policy's value without querying unseen actions
             (Polyak 0.005 every second update, as the authors' code)
  improve    pi starts as a copy of pi_b, then one improvement against the frozen Q_b:
             "reverse_kl": minimise E_s[ -Q_b(s, a) + alpha KL(pi || pi_b) ],  a ~ pi (reparameterised),
                           the KL from n samples of pi (alpha 1, n 10: the code's default)
             "exp":        maximise E[ w log pi(a|s) ],  w = min(exp(temperature (Q_b(s, a) - V_b(s))), 100),
                           V_b(s) = mean_j Q_b(s, a_j), a_j ~ pi_b  (the code's MARWIL learner and
                           value-sample baseline)
The last logged transition of an episode cut by a time limit has no logged next action; the data
loader repeats its own action there (data/dataset.py), a bias on one row per such episode.
Acting: the policy's mode.

For a variant change `improve_loss` (e.g. onestep_improvement="greedy", -Q only).
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import (Phase, Spec, actor_log_prob, behaviour_log_prob, create_train_state, critic_regression,
                          fit_behaviour, init_behaviour, make_optimizer, network_inputs, polyak_update)
from networks import QEnsemble, sampled_kl

ACTIONS = "continuous"
MAX_WEIGHT = 100.0


class OneStepState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    behaviour: TrainState
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> OneStepState:
    behaviour_rng, critic_rng = jax.random.split(rng)
    obs, act, torso = network_inputs(config, spec)
    behaviour = init_behaviour(config, spec, behaviour_rng)
    actor = TrainState.create(apply_fn=behaviour.apply_fn, params=behaviour.params, tx=make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(tuple(config.hidden_dims), num_critics=config.num_critics, torso=torso),
                                critic_rng, (obs, act), make_optimizer(config.critic_lr))
    return OneStepState(actor=actor, critic=critic, behaviour=behaviour, target_critic_params=critic.params,
                        step=jnp.zeros((), jnp.int32))


def sarsa_loss(critic_params, config, state: OneStepState, batch):
    next_q = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, batch["next_observations"],
                                           batch["next_actions"]), axis=0)
    target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q
    return critic_regression(state.critic, critic_params, batch, target)


def evaluate(config, state: OneStepState, batch, rng, step):
    del rng
    (_, info), grads = jax.value_and_grad(sarsa_loss, has_aux=True)(state.critic.params, config, state, batch)
    critic = state.critic.apply_gradients(grads=grads)
    every_other = step % 2 == 0
    target = jax.tree_util.tree_map(lambda n, o: jnp.where(every_other, n, o),
                                    polyak_update(critic.params, state.target_critic_params, config.tau),
                                    state.target_critic_params)
    return state.replace(critic=critic, target_critic_params=target), info


def _q(state: OneStepState, observations, actions):
    return jnp.min(state.critic.apply_fn({"params": state.critic.params}, observations, actions), axis=0)


def improve_loss(actor_params, config, state: OneStepState, batch, rng):
    obs = batch["observations"]
    dist = state.actor.apply_fn({"params": actor_params}, obs)
    if config.onestep_improvement == "exp":
        behaviour = state.behaviour.apply_fn({"params": state.behaviour.params}, obs)
        samples = jnp.clip(jax.vmap(behaviour.sample)(jax.random.split(rng, config.onestep_n_samples)), -1.0, 1.0)
        advantage = _q(state, obs, batch["actions"]) - jnp.mean(_q(state, obs, samples), axis=0)
        weights = jax.lax.stop_gradient(jnp.minimum(jnp.exp(config.onestep_temperature * advantage), MAX_WEIGHT))
        actions = jnp.clip(batch["actions"], -1.0 + 1e-4, 1.0 - 1e-4)  # the code's stable_action
        loss = -jnp.mean(weights * dist.log_prob(actions, jax.random.fold_in(rng, 1)))
        return loss, {"actor_loss": loss, "adv_weight": weights.mean(), "advantage": advantage.mean()}
    action_rng, kl_rng = jax.random.split(rng)
    q = _q(state, obs, dist.sample(action_rng))
    samples, log_pi = jax.vmap(dist.sample_and_log_prob)(jax.random.split(kl_rng, config.onestep_n_samples))
    kl = sampled_kl(log_pi, behaviour_log_prob(config, state.behaviour, state.behaviour.params, obs, samples))
    loss = jnp.mean(-q + config.onestep_alpha * kl)
    return loss, {"actor_loss": loss, "q_policy": q.mean(), "kl": kl.mean()}


def improve(config, state: OneStepState, batch, rng, step):
    # pi starts from pi_b as fitted by the first phase (the code's load_from_pilearner), fresh Adam
    start = step == 0
    fresh = state.actor.replace(params=state.behaviour.params, opt_state=state.actor.tx.init(state.behaviour.params))
    actor = jax.tree_util.tree_map(lambda f, o: jnp.where(start, f, o), fresh, state.actor)
    state = state.replace(actor=actor)
    (_, info), grads = jax.value_and_grad(improve_loss, has_aux=True)(state.actor.params, config, state, batch, rng)
    return state.replace(actor=state.actor.apply_gradients(grads=grads), step=state.step + 1), info


PHASES = (Phase("behaviour", fit_behaviour, steps="behaviour_steps", evaluate=False),
          Phase("evaluate", evaluate, steps="q_steps", evaluate=False),
          Phase("improve", improve))

update = improve  # the contract's `update`: the phase that trains the policy


def act(config, state: OneStepState, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    return jnp.clip(dist.mode() if deterministic else dist.sample(rng), -1.0, 1.0)


log_prob = actor_log_prob
