"""C51 (Bellemare, Dabney & Munos 2017): algos/dqn.py with the return's distribution as
probabilities on a fixed support of K atoms z_k = v_min + k (v_max - v_min) / (K - 1).

The network outputs logits per action; Q is the expectation sum_k p_k z_k. The target
distribution moves the next state's atoms (at the greedy action) to r + gamma (1 - terminal) z_j,
clipped to the support, and projects each onto its two neighbouring atoms in proportion to
closeness; the loss is the cross-entropy from it. The change is the Head.
"""
import jax
import jax.numpy as jnp

from algos import dqn

ACTIONS = "discrete"


def support(config):
    return jnp.linspace(config.v_min, config.v_max, config.num_atoms)


def expectation(config, logits):
    return jnp.sum(jax.nn.softmax(logits, -1) * support(config), -1)


def project(config, next_logits, batch):
    """The categorical projection of the shifted next distribution onto the support: (B, K).
    Atom j's mass goes to atom i by the hat function max(0, 1 - |Tz_j - z_i| / dz), which is
    Bellemare et al.'s floor/ceil split (and all of it to z_i when Tz_j lands on z_i)."""
    z = support(config)
    dz = (config.v_max - config.v_min) / (config.num_atoms - 1)
    shifted = dqn.SCALAR.backup(config, jnp.broadcast_to(z, next_logits.shape), batch)
    shifted = jnp.clip(shifted, config.v_min, config.v_max)                        # (B, K)
    share = jnp.clip(1.0 - jnp.abs(shifted[:, None, :] - z[None, :, None]) / dz, 0.0, 1.0)  # (B, i, j)
    return jnp.einsum("bij,bj->bi", share, jax.nn.softmax(next_logits, -1))


CATEGORICAL = dqn.Head(
    outputs=lambda config: config.num_atoms,
    values=expectation,
    greedy=lambda config, out: jnp.broadcast_to(jnp.argmax(expectation(config, out), -1)[:, None],
                                                (out.shape[0], out.shape[-1])),
    backup=project,
    loss=lambda config, logits, target: -jnp.sum(target * jax.nn.log_softmax(logits, -1), -1),
    target_mean=lambda config, target: jnp.sum(target * support(config), -1),
)

init = dqn.make_init(CATEGORICAL)
update = dqn.make_update(CATEGORICAL)
act = dqn.make_act(CATEGORICAL)
