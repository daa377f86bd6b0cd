"""EDAC: ensemble-diversified actor-critic (An et al., NeurIPS 2021).

SAC-N (algos/sac_n.py) plus one term in the critic loss, and nothing else. With few critics
SAC-N's ensemble often agrees on out-of-distribution actions because the critics' action
gradients align; EDAC pushes the gradients apart on the dataset's actions:
  diversity = 1/(N-1) * E_(s,a)~D [ sum_{i != j} cos(grad_a Q_i(s, a), grad_a Q_j(s, a)) ]
  critic loss = SAC-N's critic loss + eta * diversity
so N = 10 critics do the work of SAC-N's 50-500. `eta` is the paper's weight
(configs/edac.py). For a variant change `diversity_loss`.

With a 1-d action space the term is degenerate: every cosine is +1 or -1 (the sign of dQ/da),
its gradient is zero except where some dQ_i/da is near 0, and there it is huge, so it cannot
diversify and destabilises the critics (on the built-in Pendulum data EDAC fell below the
data while SAC-N did not; BENCHMARKS.md). The paper's tasks all have 3+ action dimensions.
"""
import jax
import jax.numpy as jnp

from algos import sac_n
from algos.sac_n import ACTIONS, SACNState, act, init, log_prob  # noqa: F401


def diversity_loss(action_grads):
    """Mean over the batch of the summed off-diagonal cosine similarities, / (N - 1).

    action_grads: (num_critics, batch, action_dim), member i's grad_a Q_i(s, a).
    """
    num_critics = action_grads.shape[0]
    # sqrt(|g|^2 + eps) rather than jnp.linalg.norm: the latter's gradient is NaN at g = 0, which
    # a ReLU critic reaches (all units reading the action dead) -- it killed a Pendulum run.
    norm = jnp.sqrt(jnp.sum(jnp.square(action_grads), axis=-1, keepdims=True) + 1e-12)
    unit = action_grads / norm
    cosine = jnp.einsum("ibk,jbk->bij", unit, unit)
    off_diagonal = 1.0 - jnp.eye(num_critics)
    return jnp.mean(jnp.sum(cosine * off_diagonal, axis=(1, 2))) / (num_critics - 1)


def critic_loss(critic_params, config, state: SACNState, batch, rng):
    target = jax.lax.stop_gradient(sac_n.critic_target(config, state, batch, rng))

    # Each member scores its own copy of the actions, so one backward pass of the summed Q
    # gives grad_a Q_i for every i (a jacobian over members would cost N backward passes), and
    # the same forward pass gives the Q_i(s, a) of SAC-N's TD loss.
    def summed_q(member_actions):
        qs = state.critic.apply_fn({"params": critic_params}, batch["observations"],
                                   member_actions, per_member_actions=True)
        return qs.sum(), qs

    member_actions = jnp.broadcast_to(batch["actions"], (config.num_critics, *batch["actions"].shape))
    action_grads, qs = jax.grad(summed_q, has_aux=True)(member_actions)
    loss, info = sac_n.td_loss(qs, target)
    diversity = diversity_loss(action_grads)
    loss = loss + config.eta * diversity
    return loss, {**info, "critic_loss": loss, "diversity": diversity}


update = sac_n.make_update(critic_loss)
