"""DDPM pieces (networks/diffusion.py) against the formulas, and the diffusion policy head."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from networks import diffusion as dm


def test_vp_schedule_by_hand():
    betas = np.asarray(dm.make_schedule("vp", 5).betas)
    # beta_t = 1 - exp(-0.1 / 5 - 0.5 * 9.9 * (2t - 1) / 25), t = 1..5
    expected = [1 - np.exp(-0.02 - 0.198 * (2 * t - 1)) for t in range(1, 6)]
    np.testing.assert_allclose(betas, expected, rtol=1e-6)
    s = dm.make_schedule("vp", 5)
    np.testing.assert_allclose(s.alpha_bars, np.cumprod(1 - np.asarray(expected)), rtol=1e-6)
    np.testing.assert_array_equal(s.timesteps, np.arange(5))


def test_cosine_and_linear_schedules_by_hand():
    T, eps = 4, 0.008
    f = lambda t: np.cos((t / T + eps) / (1 + eps) * np.pi / 2) ** 2
    abar = [f(t) / f(0) for t in range(1, T + 1)]
    np.testing.assert_allclose(dm.make_schedule("cosine", T).alpha_bars[:3], abar[:3], rtol=1e-5)
    assert float(dm.make_schedule("cosine", T).betas[-1]) == pytest.approx(0.999)  # clipped
    np.testing.assert_allclose(dm.make_schedule("linear", 3).betas, [1e-4, 0.01005, 0.02], rtol=1e-6)
    with pytest.raises(ValueError, match="beta schedule 'sigmoid'"):
        dm.make_schedule("sigmoid", 5)


def test_posterior_is_the_conditional_of_the_joint_gaussian():
    """q(x_{t-1} | x_t, x_0) by Gaussian conditioning, computed independently of the formula:
    x_{t-1} ~ N(sqrt(abar_{t-1}) x0, 1 - abar_{t-1}), x_t = sqrt(alpha_t) x_{t-1} + N(0, beta_t)."""
    s = dm.make_schedule("linear", 6)
    x0, x_t = jnp.array([[0.3, -0.7]]), jnp.array([[1.1, 0.2]])
    betas = np.linspace(1e-4, 2e-2, 6)  # float64, by hand
    for t in (1, 3, 5):
        abar_prev, alpha, beta = np.prod(1 - betas[:t]), 1 - betas[t], betas[t]
        mu_prev, var_prev = np.sqrt(abar_prev) * np.asarray(x0), 1 - abar_prev
        mu_t, var_t = np.sqrt(alpha) * mu_prev, alpha * var_prev + beta
        cov = np.sqrt(alpha) * var_prev
        mean = mu_prev + cov / var_t * (np.asarray(x_t) - mu_t)
        var = var_prev - cov ** 2 / var_t
        got_mean, got_var = dm.posterior(s, x0, x_t, jnp.array([t]))
        np.testing.assert_allclose(got_mean, mean, rtol=1e-5)
        np.testing.assert_allclose(got_var[0, 0], var, rtol=1e-5)
        assert var > 0
    # at t = 0 the posterior is x_0 itself
    mean0, var0 = dm.posterior(s, x0, x_t, jnp.array([0]))
    np.testing.assert_allclose(mean0, x0, rtol=1e-6)
    assert float(var0[0, 0]) == 0.0


def test_step_mean_is_the_posterior_mean_at_the_predicted_x0():
    s = dm.make_schedule("vp", 5)
    x_t = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    eps = jax.random.normal(jax.random.PRNGKey(1), (4, 3))
    t = jnp.array([0, 1, 2, 4])
    expected, _ = dm.posterior(s, dm.predict_x0(s, x_t, t, eps), x_t, t)
    np.testing.assert_allclose(dm.step_mean(s, x_t, t, eps), expected, rtol=1e-4, atol=1e-5)
    # q_sample inverts predict_x0
    x0 = jnp.ones((4, 3)) * 0.5
    np.testing.assert_allclose(dm.predict_x0(s, dm.q_sample(s, x0, t, eps), t, eps), x0, rtol=1e-4, atol=1e-5)


def test_respacing_keeps_the_alpha_bars_of_the_kept_steps():
    s = dm.make_schedule("cosine", 100)
    r = dm.respace(s, 10)
    kept = np.asarray(r.timesteps)
    assert kept[0] == 0 and kept[-1] == 99 and len(kept) == 10
    np.testing.assert_allclose(r.alpha_bars, np.asarray(s.alpha_bars)[kept], rtol=1e-6)
    np.testing.assert_allclose(np.cumprod(r.alphas), r.alpha_bars, rtol=1e-5)
    full = dm.respace(s, 100)
    np.testing.assert_allclose(full.betas, s.betas, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="in 0 steps"):
        dm.respace(s, 0)


@pytest.mark.parametrize("steps", [0, 3])
def test_sampler_with_the_exact_noise_of_a_point_mass_returns_the_point(steps):
    """Data all at c: the ideal noise prediction is (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t), and
    the sampler (full or respaced to 3 steps) must end exactly at c from any start."""
    s = dm.make_schedule("vp", 5)
    s = dm.respace(s, steps) if steps else s
    c = jnp.array([0.4, -0.6])
    full = dm.make_schedule("vp", 5)

    def oracle(x, timesteps):  # timesteps are the training indices
        abar, rest = full.alpha_bars[timesteps][..., None], full.one_minus_alpha_bars[timesteps][..., None]
        return (x - jnp.sqrt(abar) * c) / jnp.sqrt(rest)

    out = dm.ddpm_sample(oracle, s, jax.random.PRNGKey(3), (16, 2), clip=False)
    np.testing.assert_allclose(out, jnp.broadcast_to(c, (16, 2)), atol=1e-5)


def test_diffusion_head_shapes_and_surrogate_log_prob():
    head = dm.DiffusionPolicy(2, width=16, num_blocks=2, dropout=0.0, steps=5, sample_steps=3)
    obs = jnp.ones((4, 3))
    params = head.init(jax.random.PRNGKey(0), obs)
    dist = head.apply(params, obs)
    a = dist.sample(jax.random.PRNGKey(1))
    assert a.shape == (4, 2) and float(jnp.max(jnp.abs(a))) <= 1.0
    many = dist.sample_many(jax.random.PRNGKey(1), 8)  # several actions per state
    assert many.shape == (8, 4, 2)
    np.testing.assert_array_equal(dist.mode(), dist.mode())  # deterministic
    lp = dist.log_prob(a, jax.random.PRNGKey(2))
    assert lp.shape == (4,) and np.all(np.asarray(lp) <= 0)
    # the surrogate is -||eps_hat - eps||^2 at the drawn step and noise: recompute it by hand
    step_rng, noise_rng, _ = jax.random.split(jax.random.PRNGKey(5), 3)
    t = jax.random.randint(step_rng, (4,), 0, 5)
    noise = jax.random.normal(noise_rng, (4, 2))
    x_t = dm.q_sample(dist.schedule, a, t, noise)
    eps = dist.model.apply(dist.variables, obs, x_t, t, True)
    np.testing.assert_allclose(dist.log_prob(a, jax.random.PRNGKey(5)), -jnp.sum((eps - noise) ** 2, -1), rtol=1e-5)
    assert len(dist.sample_schedule.betas) == 3 and len(dist.schedule.betas) == 5


# ---------------------------------------------------------------- IDQL

def _idql(**overrides):
    from tests.conftest import tiny_config
    return tiny_config("idql", actor_hidden_dims=(16, 16), num_samples=8, critic_batch_size=16, **overrides)


def _batch(n=32, seed=0):
    r = np.random.default_rng(seed)
    obs = jnp.asarray(r.normal(size=(n, 3)), jnp.float32)
    return {"observations": obs, "actions": 0.8 * jnp.tanh(obs[:, :2]), "next_observations": obs[::-1],
            "rewards": jnp.asarray(r.normal(size=n), jnp.float32), "terminals": jnp.zeros(n)}


def test_idql_weighted_selection_follows_the_expectile_weights():
    from algos import idql
    config = _idql(expectile=0.7)
    q = jnp.array([[1.0], [3.0], [0.0], [2.5]])  # 4 candidates, one state; V = 2: two above
    draws = jax.vmap(lambda k: idql.select(config, q, jnp.array([2.0]), k, greedy=False))(
        jax.random.split(jax.random.PRNGKey(0), 20000))
    freq = np.bincount(np.asarray(draws)[:, 0], minlength=4) / 20000
    np.testing.assert_allclose(freq, np.array([0.3, 0.7, 0.3, 0.7]) / 2.0, atol=0.015)
    assert int(idql.select(config, q, jnp.array([2.0]), None, greedy=True)[0]) == 1


def test_idql_update_is_iqls_critic_plus_the_denoising_loss():
    from algos import idql, iql
    from algos.common import Spec
    config = _idql(actor_lr=3e-3)
    state = idql.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    batch = _batch()
    head = jax.tree_util.tree_map(lambda x: x[:16], batch)
    new, metrics = jax.jit(lambda s, r: idql.update(config, s, batch, r))(state, jax.random.PRNGKey(1))
    # V and Q move exactly as IQL's losses say on the critic's rows
    _, expected = iql.value_loss(state.value.params, config, state, head)
    np.testing.assert_allclose(metrics["value_loss"], expected["value_loss"], rtol=1e-5)
    # the acting copy moved by actor_tau of the step
    leaf = lambda t: jax.tree_util.tree_leaves(t)[0]
    np.testing.assert_allclose(leaf(new.target_actor_params),
                               (1 - config.actor_tau) * leaf(state.actor.params) + config.actor_tau * leaf(new.actor.params),
                               rtol=1e-5, atol=1e-7)
    step = jax.jit(lambda s, r: idql.update(config, s, batch, r))
    key = jax.random.PRNGKey(9)
    before = float(idql.denoising_loss(state.actor.params, config, state, batch, key)[0])
    for k in range(150):
        state, _ = step(state, jax.random.PRNGKey(10 + k))
    assert float(idql.denoising_loss(state.actor.params, config, state, batch, key)[0]) < 0.7 * before


def test_idql_acts_with_the_highest_q_candidate():
    from algos import idql
    from algos.common import Spec
    from networks import ensemble_min
    config = _idql()
    state = idql.init(config, Spec((3,), "float32", 2, False), jax.random.PRNGKey(0))
    obs = jnp.ones((5, 3))
    rng = jax.random.PRNGKey(4)
    action = idql.act(config, state, obs, rng, deterministic=True)
    sample_rng, _ = jax.random.split(rng)
    dist = state.actor.apply_fn({"params": state.target_actor_params}, obs)
    candidates = dist.sample_many(sample_rng, config.num_samples)
    q = ensemble_min(state.critic.apply_fn({"params": state.target_critic_params}, obs, candidates))
    np.testing.assert_allclose(action, candidates[jnp.argmax(q, 0), jnp.arange(5)], atol=1e-6)
    assert action.shape == (5, 2)
