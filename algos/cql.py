"""CQL: conservative Q-learning for offline RL (Kumar, Zhou, Tucker & Levine, NeurIPS 2020).

SAC (algos/sac_n.py with N = 2 twin critics) whose critic loss adds the CQL(H) regulariser,
which pushes Q down on actions the policy or a uniform proposal would pick and up on the
dataset's actions:
  gap_i = E_s[ T * logsumexp_j( Q_i(s, a_j) / T - log mu(a_j|s) ) ] - E_(s,a)~D[ Q_i(s, a) ]
with importance-sampled proposals a_j (n = `cql_n_actions` of each): uniform on [-1, 1]^d
(log mu = -d log 2), pi(.|s) and pi(.|s') (log mu = their stop-gradient log-probs; the pi(.|s')
actions are scored at s, as in the paper's code). T = `cql_temperature`.
  critic loss = SAC TD loss + cql_alpha * sum_i gap_i                     (fixed weight), or
              = SAC TD loss + alpha' * cql_alpha * sum_i (gap_i - target_action_gap)
with alpha' = exp(log alpha') >= 0 trained to maximise that term (`cql_lagrange`): alpha' grows
while the gap exceeds `cql_target_action_gap` and shrinks once it is below. This is CORL's
form; the paper's code uses alpha' * (cql_alpha * gap_i - target_action_gap), whose effective
gap target is target_action_gap / cql_alpha.
Options: `cql_max_backup` (target = max over n policy samples at s' of the min over critics),
`backup_entropy` (the SAC entropy term in the target; off, as in the paper's locomotion runs).
The regulariser is part of the differentiated loss: its gradient reaches the critic
(tests/test_losses.py checks this).

Warm-up (`bc_steps`, the paper code's `policy_eval_start`): for the first bc_steps updates the
actor minimises alpha log pi(a~|s) - log pi(a|s) on the data's actions a (behaviour cloning
with SAC's entropy term) while the critics already train; then SAC's actor loss. The authors'
command line uses 40k, CORL none (configs/cql.py's two presets).
For a variant change `conservative_gap`, `critic_loss` or `actor_loss`.
"""
import functools

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from algos import sac_n
from algos.common import Spec, make_optimizer
from algos.sac_n import ACTIONS, SACNState, act, log_prob  # noqa: F401
from networks import ensemble_min

MAX_ALPHA_PRIME = 1e6


class CQLState(SACNState):
    cql_log_alpha: TrainState  # log alpha' of the Lagrange variant, params {"log_alpha": scalar}


def init(config, spec: Spec, rng) -> CQLState:
    cql_log_alpha = TrainState.create(apply_fn=None, params={"log_alpha": jnp.zeros(())},
                                      tx=make_optimizer(config.cql_alpha_lr))
    return CQLState(**sac_n.init_fields(config, spec, rng), cql_log_alpha=cql_log_alpha)


def alpha_prime(state: CQLState) -> jnp.ndarray:
    return jnp.clip(jnp.exp(state.cql_log_alpha.params["log_alpha"]), 0.0, MAX_ALPHA_PRIME)


def conservative_gap(q_rand, log_density_rand, q_pi, log_prob_pi, q_next_pi, log_prob_next_pi,
                     q_data, temperature):
    """Per-critic CQL(H) gap, shape (num_critics,).

    q_rand, q_pi, q_next_pi: (num_critics, n, batch) Q of the uniform, pi(.|s) and pi(.|s')
    proposals at s; log_density_rand: the uniform proposal's log density (a scalar);
    log_prob_*: (n, batch); q_data: (num_critics, batch).
    """
    proposals = jnp.concatenate([
        q_rand - log_density_rand,
        q_pi - jax.lax.stop_gradient(log_prob_pi),
        q_next_pi - jax.lax.stop_gradient(log_prob_next_pi),
    ], axis=1)
    ood = temperature * jax.nn.logsumexp(proposals / temperature, axis=1)
    return jnp.mean(ood - q_data, axis=1)


def _policy_samples(dist, n, rng):
    return jax.vmap(dist.sample_and_log_prob)(jax.random.split(rng, n))  # (n, B, d), (n, B)


def max_backup_target(config, state, batch, rng, next_dist):
    """y = r + gamma (1 - done) max_j min_i Q'_i(s', a_j),  a_j ~ pi(.|s'), j = 1..n."""
    actions, log_prob = _policy_samples(next_dist, config.cql_n_actions, rng)
    q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params},
                                           batch["next_observations"], actions))
    best = jnp.argmax(q, axis=0)
    next_q = jnp.take_along_axis(q, best[None], axis=0)[0]
    if config.backup_entropy:
        next_q = next_q - sac_n.alpha(state) * jnp.take_along_axis(log_prob, best[None], axis=0)[0]
    return batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q


def critic_loss(critic_params, config, state: CQLState, batch, rng):
    target_rng, rand_rng, pi_rng, next_rng = jax.random.split(rng, 4)
    obs = batch["observations"]
    # pi(.|s) and pi(.|s'): one actor pass each, shared by the target and the proposals.
    actor = functools.partial(state.actor.apply_fn, {"params": state.actor.params})
    dist, next_dist = actor(obs), actor(batch["next_observations"])
    target = (max_backup_target if config.cql_max_backup else sac_n.critic_target)(
        config, state, batch, target_rng, next_dist=next_dist)
    target = jax.lax.stop_gradient(target)

    n, (batch_size, action_dim) = config.cql_n_actions, batch["actions"].shape
    rand_actions = jax.random.uniform(rand_rng, (n, batch_size, action_dim), minval=-1.0, maxval=1.0)
    pi_actions, log_prob_pi = _policy_samples(dist, n, pi_rng)
    next_pi_actions, log_prob_next_pi = _policy_samples(next_dist, n, next_rng)
    # The data's actions and all 3n proposals through the critics in one call, (num_critics,
    # 1 + 3n, B): the critics' torso and the states' share of the first layer run once per state.
    actions = jnp.concatenate([batch["actions"][None], jax.lax.stop_gradient(
        jnp.concatenate([rand_actions, pi_actions, next_pi_actions]))])
    q_all = state.critic.apply_fn({"params": critic_params}, obs, actions)
    q_data, q_ood = q_all[:, 0], q_all[:, 1:]
    q_rand, q_pi, q_next_pi = jnp.split(q_ood, 3, axis=1)
    uniform_log_density = -action_dim * jnp.log(2.0)
    gap = conservative_gap(q_rand, uniform_log_density, q_pi, log_prob_pi, q_next_pi,
                           log_prob_next_pi, q_data, config.cql_temperature)
    return penalised_loss(config, state, q_data, target, gap)


def penalised_loss(config, state: CQLState, q_data, target, gap):
    """TD loss + the weighted conservative gap (fixed or Lagrange weight), and the diagnostics."""
    td_loss = jnp.sum(jnp.mean(jnp.square(q_data - target), axis=1))
    if config.cql_lagrange:
        weight = jax.lax.stop_gradient(alpha_prime(state)) * config.cql_alpha
        penalty = weight * jnp.sum(gap - config.cql_target_action_gap)
    else:
        penalty = config.cql_alpha * jnp.sum(gap)
    loss = td_loss + penalty
    return loss, {"critic_loss": loss, "td_loss": td_loss, "q_data": q_data.mean(),
                  "td_error": jnp.abs(q_data - target).mean(), "cql_gap": gap.mean(),
                  "q_ood_logsumexp": (gap + q_data.mean(axis=1)).mean()}


def lagrange_loss(cql_log_alpha_params, config, gap):
    """Minimising -alpha' * cql_alpha * (gap - target) raises alpha' while gap > target."""
    a = jnp.clip(jnp.exp(cql_log_alpha_params["log_alpha"]), 0.0, MAX_ALPHA_PRIME)
    return -a * config.cql_alpha * (jax.lax.stop_gradient(gap) - config.cql_target_action_gap)


def actor_loss(actor_params, config, state, batch, rng, step=None):
    """SAC's actor loss, or during the warm-up (step < bc_steps) the behaviour-cloning one.

    `step` is the trainer's shared update index, so the choice is one per update for every run;
    the SAC loss's policy pass and the warm-up's are the same pass (XLA computes it once)."""
    loss, info = sac_n.actor_loss(actor_params, config, state, batch, rng)
    if isinstance(config.bc_steps, int) and not config.bc_steps:  # (a swept value is traced)
        return loss, info
    dist = state.actor.apply_fn({"params": actor_params}, batch["observations"])
    bc_loss = jnp.mean(sac_n.alpha(state) * info["log_prob"] - dist.log_prob(batch["actions"]))
    count = state.step if step is None else step
    loss = jnp.where(count < config.bc_steps, bc_loss, loss)
    return loss, {**info, "actor_loss": loss, "actor_bc_loss": bc_loss}


def make_update(critic_loss_fn, actor_loss_fn=actor_loss):
    """CQL's update (SAC's, then the Lagrange multiplier's step) around a critic and an actor loss."""
    sac_update = sac_n.make_update(critic_loss_fn, actor_loss_fn)

    def update(config, state: CQLState, batch, rng, step=None):
        state, info = sac_update(config, state, batch, rng, step)
        if config.cql_lagrange:
            grads = jax.grad(lagrange_loss)(state.cql_log_alpha.params, config, info["cql_gap"])
            state = state.replace(cql_log_alpha=state.cql_log_alpha.apply_gradients(grads=grads))
        return state, {**info, "alpha_prime": alpha_prime(state)}

    return update


update = make_update(critic_loss)
