"""The math with numbers: loss values against hand-computed ones."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax.training.train_state import TrainState
from ml_collections import ConfigDict

from algos import iql, td3_bc
from algos.common import polyak_update
from data.dataset import normalized_score, reward_affine, top_fraction_episodes


def test_expectile_loss_values():
    diff = jnp.array([2.0, -2.0, 0.5, -1.0])
    # tau=0.7: positive residuals weigh 0.7, negative 0.3.
    expected = [0.7 * 4.0, 0.3 * 4.0, 0.7 * 0.25, 0.3 * 1.0]
    np.testing.assert_allclose(iql.expectile_loss(diff, 0.7), expected, rtol=1e-6)
    # tau=0.5 is half the squared error.
    np.testing.assert_allclose(iql.expectile_loss(diff, 0.5), 0.5 * diff ** 2, rtol=1e-6)


def _linear_state():
    """TD3+BC state whose networks are hand-readable: pi(s) = w*s, Q_i(s, a) = c_i*s*a."""
    actor = TrainState.create(apply_fn=lambda v, s: v["params"]["w"] * s,
                              params={"w": jnp.array(0.5)}, tx=optax.sgd(0.0))
    critic = TrainState.create(
        apply_fn=lambda v, s, a: jnp.stack([v["params"]["c"][i] * (s * a).sum(-1) for i in range(2)]),
        params={"c": jnp.array([2.0, 3.0])}, tx=optax.sgd(0.0))
    return td3_bc.TD3BCState(actor=actor, critic=critic, target_actor_params={"w": jnp.array(1.0)},
                             target_critic_params={"c": jnp.array([1.0, 4.0])},
                             step=jnp.zeros((), jnp.int32))


def test_td3_bc_actor_loss_value():
    state = _linear_state()
    config = ConfigDict(dict(alpha=2.5))
    batch = {"observations": jnp.array([[1.0], [2.0]]), "actions": jnp.array([[1.0], [0.0]])}
    # pi = [0.5, 1.0]; Q1(s, pi) = 2*s*pi = [1.0, 4.0]; mean|Q| = 2.5 -> lambda = 1.0
    # bc = mean((0.5-1)^2, (1-0)^2) = 0.625; loss = -1.0 * 2.5 + 0.625 = -1.875
    loss, info = td3_bc.actor_loss(state.actor.params, config, state, batch)
    np.testing.assert_allclose(loss, -1.875, rtol=1e-6)
    np.testing.assert_allclose(info["lambda"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(info["bc_mse"], 0.625, rtol=1e-6)


def test_td3_bc_critic_loss_value():
    state = _linear_state()
    config = ConfigDict(dict(policy_noise=0.0, noise_clip=0.5, discount=0.9))
    batch = {"observations": jnp.array([[1.0]]), "actions": jnp.array([[0.5]]),
             "rewards": jnp.array([1.0]), "terminals": jnp.array([0.0]),
             "next_observations": jnp.array([[0.5]])}
    # next action = clip(target w * s') = 0.5; target Q' = [1*0.25, 4*0.25] -> min 0.25
    # target = 1 + 0.9 * 0.25 = 1.225; Q(s, a) = [2*0.5, 3*0.5] = [1.0, 1.5]
    # loss = (1.0-1.225)^2 + (1.5-1.225)^2 = 0.050625 + 0.075625 = 0.12625
    loss, _ = td3_bc.critic_loss(state.critic.params, config, state, batch, rng=jnp.zeros(2, jnp.uint32))
    np.testing.assert_allclose(loss, 0.12625, rtol=1e-5)
    batch["terminals"] = jnp.array([1.0])  # termination: no bootstrap, target = 1
    loss, _ = td3_bc.critic_loss(state.critic.params, config, state, batch, rng=jnp.zeros(2, jnp.uint32))
    np.testing.assert_allclose(loss, 0.0 + 0.25, rtol=1e-5)


def test_polyak_update():
    out = polyak_update({"a": jnp.array(1.0)}, {"a": jnp.array(3.0)}, 0.25)
    np.testing.assert_allclose(out["a"], 0.25 * 1.0 + 0.75 * 3.0)


def test_normalized_score_and_missing_refs():
    np.testing.assert_allclose(normalized_score(50.0, 0.0, 200.0), 25.0)
    assert normalized_score(50.0, None, 200.0) is None


def test_reward_transforms():
    returns = np.array([-100.0, 400.0, 150.0])
    assert reward_affine(ConfigDict(dict(reward_transform="iql_locomotion")), returns) == (2.0, 0.0)
    cfg = ConfigDict(dict(reward_transform="scale_shift", reward_scale=0.5, reward_shift=-1.0))
    assert reward_affine(cfg, returns) == (0.5, -1.0)
    assert reward_affine(ConfigDict(dict(reward_transform="none")), returns) == (1.0, 0.0)


def test_top_fraction_keeps_best_episodes():
    arrays = {"rewards": np.arange(6.0), "episode_ends": np.array([0, 1, 0, 1, 0, 1.0])}
    returns = np.array([1.0, 5.0, 9.0])  # episode 2 is best, then 1
    kept = top_fraction_episodes(arrays, returns, 2 / 3)
    np.testing.assert_array_equal(kept["rewards"], [2.0, 3.0, 4.0, 5.0])


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    import jax
    from networks.policies import GaussianDist
    mean, log_std = jnp.array([[0.3]]), jnp.array([[-0.5]])
    dist = GaussianDist(mean, log_std, squash=True)
    a = jnp.array([[0.6]])
    u, std = np.arctanh(0.6), np.exp(-0.5)
    expected = (-0.5 * ((u - 0.3) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)) - np.log(1 - 0.6 ** 2)
    np.testing.assert_allclose(dist.log_prob(a)[0], expected, rtol=1e-5)
    sample, log_prob = dist.sample_and_log_prob(jax.random.PRNGKey(0))
    np.testing.assert_allclose(log_prob, dist.log_prob(sample), rtol=1e-4)
    assert np.all(np.abs(sample) < 1)
