"""The separate-pass forms that issue 12's shared passes replaced, kept as references: the tests
check the library's forms against them (tests/test_less_work.py), and
`scripts/benchmark.py less_work` times both in one process.

Each computes the same loss as the library's function of the same name, the way stitch did
before: CQL scores the data's actions and the 3n proposals in two critic calls on explicitly
broadcast states, with pi(.|s') computed again for the target; EDAC runs the critics forward
once for the TD loss and once more for the action gradients. FQE's update evaluates V at every
initial state on every update, as it did before its rotating batch (algos/fqe.py initial_rows).
"""
import functools

import jax
import jax.numpy as jnp

from algos import cql, edac, fqe, sac_n
from algos.common import polyak_update


def cql_critic_loss(critic_params, config, state, batch, rng):
    target_rng, rand_rng, pi_rng, next_rng = jax.random.split(rng, 4)
    obs, next_obs = batch["observations"], batch["next_observations"]
    actor = functools.partial(state.actor.apply_fn, {"params": state.actor.params})
    if config.cql_max_backup:
        target = cql.max_backup_target(config, state, batch, target_rng, actor(next_obs))
    else:
        target = sac_n.critic_target(config, state, batch, target_rng)  # its own actor pass
    target = jax.lax.stop_gradient(target)
    critic = functools.partial(state.critic.apply_fn, {"params": critic_params})
    q_data = critic(obs, batch["actions"])
    n, (b, d) = config.cql_n_actions, batch["actions"].shape
    rand = jax.random.uniform(rand_rng, (n, b, d), minval=-1.0, maxval=1.0)
    pi, lp_pi = jax.vmap(actor(obs).sample_and_log_prob)(jax.random.split(pi_rng, n))
    nxt, lp_next = jax.vmap(actor(next_obs).sample_and_log_prob)(jax.random.split(next_rng, n))
    proposals = jax.lax.stop_gradient(jnp.concatenate([rand, pi, nxt]))
    q_ood = critic(jnp.broadcast_to(obs, (3 * n, *obs.shape)), proposals)
    q_rand, q_pi, q_next = jnp.split(q_ood, 3, axis=1)
    gap = cql.conservative_gap(q_rand, -d * jnp.log(2.0), q_pi, lp_pi, q_next, lp_next, q_data,
                               config.cql_temperature)
    return cql.penalised_loss(config, state, q_data, target, gap)


def edac_critic_loss(critic_params, config, state, batch, rng):
    loss, info = sac_n.critic_loss(critic_params, config, state, batch, rng)
    actions = jnp.broadcast_to(batch["actions"], (config.num_critics, *batch["actions"].shape))
    grads = jax.grad(lambda a: state.critic.apply_fn(
        {"params": critic_params}, batch["observations"], a, per_member_actions=True).sum())(actions)
    diversity = edac.diversity_loss(grads)
    loss = loss + config.eta * diversity
    return loss, {**info, "critic_loss": loss, "diversity": diversity}


def fqe_update_all_initial_states(config, state, batch, rng):
    del rng
    def critic_loss(params):
        next_q = fqe.q_values(state.critic, state.target_params, batch["next_observations"],
                              fqe.target_next_actions(config, batch))
        target = batch["rewards"] + config.discount * (1.0 - batch["terminals"]) * next_q
        q = fqe.q_values(state.critic, params, batch["observations"], batch["actions"])
        loss = jnp.mean(jnp.square(q - jax.lax.stop_gradient(target)))
        return loss, {"fqe_loss": loss, "q_data": q.mean(), "td_error": jnp.abs(q - target).mean()}
    (_, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic.params)
    critic = state.critic.apply_gradients(grads=grads)
    value = fqe.q_values(critic, critic.params, state.initial_observations, state.initial_actions).mean()
    target = polyak_update(critic.params, state.target_params, config.tau)
    return state.replace(critic=critic, target_params=target, step=state.step + 1), {**metrics, "fqe_value": value}
