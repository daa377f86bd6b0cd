"""SAC-N: uncertainty-based offline RL with diversified Q-ensembles (An et al., NeurIPS 2021).

Soft actor-critic with N critics instead of two, and nothing else. Pessimism comes from the
ensemble: the clipped target min_i Q'_i(s', a') - alpha log pi(a'|s') is lower the more the
critics disagree, and they disagree most on actions the data does not cover, so with enough
critics (N = 10 ... 500 in the paper, `num_critics`) the policy is kept in-distribution
without any behaviour-cloning term.
  critic  sum_i E[(Q_i(s, a) - y)^2],   y = r + gamma * (1 - done) * (min_i Q'_i(s', a') - alpha log pi(a'|s'))
  actor   E[alpha log pi(a|s) - min_i Q_i(s, a)],  a ~ pi(.|s) (reparameterised tanh-Gaussian)
  alpha   tuned so the policy's entropy tracks -action_dim.
The N critics are one `nn.vmap`ed network (networks.QEnsemble): one batched computation for
any N.

EDAC (algos/edac.py) is this file plus a gradient-diversity term in the critic loss; CQL
(algos/cql.py) is this file with N = 2 plus the conservative regulariser. Both pass their
critic loss to `make_update`. For a variant change `critic_target` or `actor_loss`.
"""
import jax
import jax.numpy as jnp
from flax import struct
from flax.training.train_state import TrainState

from algos.common import Spec, actor_log_prob, create_train_state, make_optimizer, network_inputs, polyak_update
from networks import QEnsemble, TanhGaussianPolicy, ensemble_min

ACTIONS = "continuous"


class SACNState(struct.PyTreeNode):
    actor: TrainState
    critic: TrainState
    log_alpha: TrainState  # entropy temperature, params {"log_alpha": scalar}
    target_critic_params: dict
    step: jnp.ndarray


def init_fields(config, spec: Spec, rng) -> dict:
    """The SAC fields every SAC-based state holds (CQL adds its own)."""
    actor_rng, critic_rng = jax.random.split(rng)
    obs, act, torso = network_inputs(config, spec)
    hidden = tuple(config.hidden_dims)
    actor = create_train_state(TanhGaussianPolicy(spec.action_dim, hidden, torso=torso), actor_rng, (obs,),
                               make_optimizer(config.actor_lr))
    critic = create_train_state(QEnsemble(hidden, num_critics=config.num_critics, torso=torso), critic_rng,
                                (obs, act), make_optimizer(config.critic_lr))
    log_alpha = TrainState.create(apply_fn=None, params={"log_alpha": jnp.zeros(())},
                                  tx=make_optimizer(config.alpha_lr))
    return dict(actor=actor, critic=critic, log_alpha=log_alpha,
                target_critic_params=critic.params, step=jnp.zeros((), jnp.int32))


def init(config, spec: Spec, rng) -> SACNState:
    return SACNState(**init_fields(config, spec, rng))


def alpha(state) -> jnp.ndarray:
    return jnp.exp(state.log_alpha.params["log_alpha"])


def critic_target(config, state, batch, rng, next_dist=None):
    """y = r + gamma (1 - done) (min_i Q'_i(s', a') [- alpha log pi(a'|s')]),  a' ~ pi(.|s').

    next_dist: pi(.|s') if the caller already has it (CQL's proposals use the same one)."""
    dist = next_dist
    if dist is None:
        dist = state.actor.apply_fn({"params": state.actor.params}, batch["next_observations"])
    next_actions, next_log_prob = dist.sample_and_log_prob(rng)
    next_q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                                batch["next_observations"], next_actions))
    if config.backup_entropy:
        next_q = next_q - alpha(state) * next_log_prob
    return batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q


def critic_loss(critic_params, config, state, batch, rng):
    target = jax.lax.stop_gradient(critic_target(config, state, batch, rng))
    qs = state.critic.apply_fn({"params": critic_params}, batch["observations"], batch["actions"])
    return td_loss(qs, target)


def td_loss(qs, target):
    """sum_i E[(Q_i(s, a) - y)^2] for qs (num_critics, batch), and its diagnostics."""
    loss = jnp.sum(jnp.mean(jnp.square(qs - target), axis=1))  # sum over critics (axis 0)
    return loss, {"critic_loss": loss, "q_data": qs.mean(), "td_error": jnp.abs(qs - target).mean(),
                  "q_std": qs.std(axis=0).mean()}


def actor_loss(actor_params, config, state, batch, rng, step=None):
    """E[alpha log pi(a|s) - min_i Q_i(s, a)]. `step` (the phase's update index) is for
    variants whose actor objective changes over training (CQL's warm-up); SAC's does not."""
    del step
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    actions, log_prob = dist.sample_and_log_prob(rng)
    q = ensemble_min(state.critic.apply_fn({"params": state.critic.params},
                                           batch["observations"], actions))
    loss = jnp.mean(alpha(state) * log_prob - q)
    return loss, {"actor_loss": loss, "q_policy": q.mean(), "entropy": -log_prob.mean(),
                  "log_prob": log_prob}


def alpha_loss(log_alpha_params, target_entropy, log_prob):
    """Raise alpha when the entropy -log pi is below the target, lower it when above."""
    return -jnp.mean(log_alpha_params["log_alpha"] * jax.lax.stop_gradient(log_prob + target_entropy))


def make_update(critic_loss_fn, actor_loss_fn=actor_loss):
    """SAC's update (actor, temperature, critics, targets) around a critic and an actor loss.

    The steps run in that order, each seeing the ones before: the actor steps with the current
    alpha, and the critic's target and (CQL) proposals use the freshly updated actor. CORL's
    SAC-N steps alpha before the actor; the CQL paper's code computes every loss before any step.
    A one-update lag either way.
    """

    def update(config, state, batch, rng, step=None):
        actor_rng, critic_rng = jax.random.split(rng)
        (_, actor_info), grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(
            state.actor.params, config, state, batch, actor_rng, step)
        actor = state.actor.apply_gradients(grads=grads)

        target_entropy = -batch["actions"].shape[-1]
        log_prob = actor_info.pop("log_prob")
        grads = jax.grad(alpha_loss)(state.log_alpha.params, target_entropy, log_prob)
        log_alpha = state.log_alpha.apply_gradients(grads=grads)
        state = state.replace(actor=actor, log_alpha=log_alpha)

        (_, critic_info), grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic.params, config, state, batch, critic_rng)
        critic = state.critic.apply_gradients(grads=grads)
        state = state.replace(
            critic=critic, step=state.step + 1,
            target_critic_params=polyak_update(critic.params, state.target_critic_params, config.tau))
        return state, {**actor_info, **critic_info, "alpha": alpha(state)}

    return update


update = make_update(critic_loss)


def act(config, state, observations, rng, deterministic: bool = True):
    del config
    dist = state.actor.apply_fn({"params": state.actor.params}, observations)
    return dist.mode() if deterministic else dist.sample(rng)


log_prob = actor_log_prob  # the Gaussian policy's density (importance-sampling OPE)
