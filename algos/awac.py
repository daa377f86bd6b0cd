"""AWAC: accelerating online RL with offline datasets (Nair, Gupta, Dalal & Levine, 2020).

An off-policy actor-critic whose actor is fit by advantage-weighted regression onto the
dataset's actions, so it never leaves the data's support, while the critic bootstraps from the
current policy (unlike IQL's in-sample value):
  critic  sum_i E[(Q_i(s, a) - y)^2],  y = r + gamma * (1 - done) * min_i Q'_i(s', a'),  a' ~ pi(.|s')
  actor   maximise E_(s,a)~D[ w * log pi(a|s) ],
          w = min(exp(A(s, a) / lambda), 100),  A = min_i Q_i(s, a) - min_i Q_i(s, a_pi),  a_pi ~ pi(.|s)
`lambda` (`awac_lambda`) trades policy improvement against staying close to the data. The
policy is IQL's Gaussian (tanh mean, state-independent std). The same update keeps working
online, which is what AWAC is for (offline-to-online fine-tuning).

For a variant change the weights in `actor_loss` (e.g. a softmax over the batch, as in the
paper, or CRR's binary indicator).
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, actor_log_prob, create_train_state, make_optimizer, network_inputs, policy_head, polyak_update
from networks import QEnsemble, ensemble_min

ACTIONS = "continuous"
EXP_ADV_MAX = 100.0


class AWACState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> AWACState:
    actor_rng, critic_rng = jax.random.split(rng)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    head = policy_head(config, spec, hidden, torso)
    actor = create_train_state(head, actor_rng, (obs,),
                               make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(hidden, num_critics=2, torso=torso), critic_rng, (obs, act),
                                make_optimizer(config.critic_lr))
    return AWACState(actor=actor, critic=critic, target_critic_params=critic.params,
                     step=jnp.zeros((), jnp.int32))


def _policy_action(state: AWACState, observations, rng):
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    return jnp.clip(dist.sample(rng), -1.0, 1.0)


def critic_loss(critic_params, config, state: AWACState, batch, rng):
    next_actions = _policy_action(state, batch["next_observations"], rng)
    next_q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                                batch["next_observations"], next_actions))
    target = jax.lax.stop_gradient(
        batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q)
    qs = state.critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    loss = jnp.sum(jnp.mean(jnp.square(qs - target), axis=1))
    return loss, {"critic_loss": loss, "q_data": qs.mean(), "td_error": jnp.abs(qs - target).mean()}


def advantage_weights(q_data, q_policy, awac_lambda):
    return jnp.minimum(jnp.exp((q_data - q_policy) / awac_lambda), EXP_ADV_MAX)


def actor_loss(actor_params, config, state: AWACState, batch, rng):
    obs = batch["observations"]
    critic = lambda a: ensemble_min(state.critic.apply_fn({"params": state.critic.params}, obs, a))
    q_data, q_policy = critic(batch["actions"]), critic(_policy_action(state, obs, rng))
    weights = jax.lax.stop_gradient(advantage_weights(q_data, q_policy, config.awac_lambda))
    dist = state.actor.apply_fn({"params": actor_params}, obs)
    loss = -jnp.mean(weights * dist.log_prob(batch["actions"], jax.random.fold_in(rng, 1)))
    return loss, {"actor_loss": loss, "q_policy": q_policy.mean(), "adv_weight": weights.mean(),
                  "advantage": (q_data - q_policy).mean()}


def update(config, state: AWACState, batch, rng):
    critic_rng, actor_rng = jax.random.split(rng)
    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch, critic_rng)
    critic = state.critic.apply_gradients(grads=grads)
    state = state.replace(critic=critic)

    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, actor_rng)
    state = state.replace(
        actor=state.actor.apply_gradients(grads=grads), step=state.step + 1,
        target_critic_params=polyak_update(critic.params, state.target_critic_params, config.tau))
    return state, {**critic_info, **actor_info}


def act(config, state: AWACState, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    actions = dist.mode() if deterministic else dist.sample(rng)
    return jnp.clip(actions, -1.0, 1.0)


log_prob = actor_log_prob  # the Gaussian policy's density (importance-sampling OPE)
