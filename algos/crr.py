"""CRR: critic-regularised regression (Wang, Novikov, Zolna et al., NeurIPS 2020).

Behaviour cloning filtered by a learned critic: the policy regresses onto the data's actions
weighted by how much the critic prefers them to the policy's own:
  critic  y = r + gamma (1 - done) min_k Q'_k(s', a'),  a' ~ pi'(.|s')  (a policy evaluation critic,
          plain regression: the paper's distributional critic is not used)
  A(s, a) = Q(s, a) - V(s),  V(s) = mean_j Q(s, a_j) ("mean") or max_j Q(s, a_j) ("max"),
          a_j ~ pi(.|s), j = 1..m (4)
  actor   maximise E[ f(A) log pi(a|s) ],  f = 1[A > 0] ("binary") or min(exp(A / beta), 20) ("exp")
Targets (critic and policy) are copied every `crr_target_interval` updates (100), as the paper.
Acting: the critic-weighted policy ("cwp": m policy samples, one drawn with probabilities
softmax(Q)), or the policy's mode ("mode").

For a variant change `advantage_filter` or `advantage`.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, actor_log_prob, create_train_state, critic_regression, make_optimizer, network_inputs, policy_head
from networks import QEnsemble

ACTIONS = "continuous"


class CRRState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    target_actor_params: dict
    target_critic_params: dict
    step: jnp.ndarray


def init(config, spec: Spec, rng) -> CRRState:
    actor_rng, critic_rng = jax.random.split(rng)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(
        policy_head(config, spec, hidden, torso),
        actor_rng, (obs,), make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(hidden, num_critics=config.num_critics, torso=torso), critic_rng,
                                (obs, act), make_optimizer(config.critic_lr))
    return CRRState(actor=actor, critic=critic, target_actor_params=actor.params,
                    target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def _samples(dist, rng, num):
    return jnp.clip(jax.vmap(dist.sample)(jax.random.split(rng, num)), -1.0, 1.0)  # (num, B, d)


def critic_loss(critic_params, config, state: CRRState, batch, rng):
    next_obs = batch["next_observations"]
    next_dist = state.actor.apply_fn({"params": state.target_actor_params}, next_obs)
    next_actions = jnp.clip(next_dist.sample(rng), -1.0, 1.0)
    next_q = jnp.min(state.critic.apply_fn({"params": state.target_critic_params}, next_obs, next_actions), axis=0)
    target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q
    return critic_regression(state.critic, critic_params, batch, target)


def advantage(config, state: CRRState, observations, actions, rng):
    """(A(s, a), V(s)): A = Q(s, a) - V(s), V from m policy samples (mean or max); Q the critics' minimum."""
    q = lambda a: jnp.min(state.critic.apply_fn({"params": state.critic.params}, observations, a), axis=0)
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    q_samples = q(_samples(dist, rng, config.crr_n_samples))  # (m, B)
    value = jnp.mean(q_samples, axis=0) if config.crr_advantage == "mean" else jnp.max(q_samples, axis=0)
    return q(actions) - value, value


def advantage_filter(advantages, kind: str, beta: float, max_weight: float):
    """CRR's f: the binary indicator 1[A > 0], or min(exp(A / beta), max_weight)."""
    if kind == "binary":
        return (advantages > 0).astype(jnp.float32)
    return jnp.minimum(jnp.exp(advantages / beta), max_weight)


def actor_loss(actor_params, config, state: CRRState, batch, rng):
    advantages, value = advantage(config, state, batch["observations"], batch["actions"], rng)
    weights = jax.lax.stop_gradient(advantage_filter(advantages, config.crr_filter, config.crr_beta,
                                                     config.crr_max_weight))
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    loss = -jnp.mean(weights * dist.log_prob(batch["actions"], jax.random.fold_in(rng, 1)))
    return loss, {"actor_loss": loss, "adv_weight": weights.mean(), "advantage": advantages.mean(),
                  "q_policy": value.mean()}


def update(config, state: CRRState, batch, rng, step):
    critic_rng, actor_rng = jax.random.split(rng)
    (_, critic_info), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, config, state, batch, critic_rng)
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))
    (_, actor_info), grads = jax.value_and_grad(actor_loss, has_aux=True)(
        state.actor.params, config, state, batch, actor_rng)
    actor = state.actor.apply_gradients(grads=grads)
    copy = (step + 1) % config.crr_target_interval == 0
    refresh = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(copy, n, o), new, old)
    state = state.replace(actor=actor, step=state.step + 1,
                          target_actor_params=refresh(actor.params, state.target_actor_params),
                          target_critic_params=refresh(state.critic.params, state.target_critic_params))
    return state, {**critic_info, **actor_info}


def act(config, state: CRRState, observations, rng, deterministic: bool = True):
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    if config.crr_act == "mode":
        return jnp.clip(dist.mode() if deterministic else dist.sample(rng), -1.0, 1.0)
    sample_rng, pick_rng = jax.random.split(rng)
    candidates = _samples(dist, sample_rng, config.crr_n_samples)  # (m, B, d)
    q = jnp.min(state.critic.apply_fn({"params": state.critic.params}, observations, candidates), axis=0)
    pick = jax.random.categorical(pick_rng, q, axis=0)  # one of m per state, p = softmax(Q)
    return jnp.take_along_axis(candidates, pick[None, :, None], axis=0)[0]


log_prob = actor_log_prob  # the policy's density; with crr_act=cwp the acting policy is a resampling of it
