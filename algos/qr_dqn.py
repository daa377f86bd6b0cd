"""QR-DQN (Dabney et al. 2018): algos/dqn.py with the return's distribution as N quantiles.

The network outputs theta_1..N(s, a) at the midpoints tau_i = (2i + 1) / 2N; Q is their mean.
The target is the next state's quantiles at the greedy action, r + gamma (1 - terminal) theta'_j,
and the loss is the quantile Huber loss summed over i and averaged over j:
  rho_i(u_ij) = |tau_i - 1{u_ij < 0}| L_kappa(u_ij) / kappa,   u_ij = y_j - theta_i(s, a).
On Atari's logged replay it beats offline DQN (Agarwal et al. 2020). The change is the Head.
"""
import jax.numpy as jnp
import optax

from algos import dqn

ACTIONS = "discrete"


def quantile_midpoints(n):
    return (2 * jnp.arange(n) + 1) / (2.0 * n)


def quantile_huber_loss(theta, target, kappa):
    """theta (B, N) predicted quantiles, target (B, N') samples: (B,) loss."""
    u = target[:, None, :] - theta[:, :, None]                      # (B, N, N')
    tau = quantile_midpoints(theta.shape[-1])[None, :, None]
    huber = optax.huber_loss(u, delta=kappa) if kappa > 0 else jnp.abs(u)
    weight = jnp.abs(tau - (u < 0).astype(u.dtype))
    return (weight * huber / (kappa if kappa > 0 else 1.0)).mean(-1).sum(-1)


QUANTILE = dqn.SCALAR._replace(
    outputs=lambda config: config.num_quantiles,
    greedy=lambda config, out: jnp.broadcast_to(jnp.argmax(out.mean(-1), -1)[:, None], (out.shape[0], out.shape[-1])),
    loss=lambda config, sa, target: quantile_huber_loss(sa, target, config.kappa),
)

init = dqn.make_init(QUANTILE)
update = dqn.make_update(QUANTILE)
act = dqn.make_act(QUANTILE)
