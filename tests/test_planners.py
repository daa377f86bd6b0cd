"""Diffuser and Decision Diffuser: the temporal U-Net, the segments sampler, the guided sampler,
classifier-free guidance, the EMA, each against hand numbers; and that each update learns."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import dd, diffuser
from algos.common import Spec, StitchError
from data import discretise, samplers
from networks.diffusion import guided_sample, make_schedule, posterior, respace
import flax.linen as nn

from networks.unet import Conv1d, TemporalUNet, TemporalValue
from tests.conftest import tiny_config

SPEC = Spec((3,), "float32", 2, False)


def _diffuser(**overrides):
    fields = dict(planning_horizon=4, unet_dim=8, unet_dim_mults=(1, 2), diffusion_steps=5, plan_samples=3,
                  ema_start=0)
    return tiny_config("diffuser", **{**fields, **overrides})


def _dd(**overrides):
    fields = dict(planning_horizon=4, unet_dim=8, unet_dim_mults=(1, 2), diffusion_steps=5, inverse_hidden=16,
                  ema_start=0)
    return tiny_config("dd", **{**fields, **overrides})


def test_unet_keeps_the_trajectory_shape_and_refuses_a_horizon_it_cannot_halve():
    x, t = jnp.ones((2, 8, 5)), jnp.array([0, 3])
    net = TemporalUNet(dim=8, dim_mults=(1, 2, 4))
    assert net.apply(net.init(jax.random.PRNGKey(0), x, t), x, t).shape == (2, 8, 5)
    value = TemporalValue(dim=8, dim_mults=(1, 2, 4))
    assert value.apply(value.init(jax.random.PRNGKey(0), x, t), x, t).shape == (2,)
    with pytest.raises(ValueError, match="multiple of 4"):
        net.init(jax.random.PRNGKey(0), jnp.ones((2, 6, 5)), t)
    with pytest.raises(StitchError, match="planning_horizon"):
        diffuser.init(_diffuser(planning_horizon=3), SPEC, jax.random.PRNGKey(0))


@pytest.mark.parametrize("kernel,strides,padding,transpose", [
    (5, 1, "SAME", False), (1, 1, "SAME", False), (2, 1, "SAME", False), (3, 1, "VALID", False),
    (3, 2, ((1, 1),), False), (3, 2, "SAME", False),  # the U-Net's downsampling, and odd horizons
    (4, 2, "SAME", True), (4, 2, "VALID", True), (3, 2, "SAME", True)])  # its upsampling
def test_conv1d_as_a_matmul_is_flax_convolution(kernel, strides, padding, transpose):
    """Conv1d (patches @ kernel) has flax's parameters and gives its outputs and gradients."""
    flax_conv = (nn.ConvTranspose if transpose else nn.Conv)(7, (kernel,), strides=(strides,), padding=padding)
    ours = Conv1d(7, kernel, strides=strides, padding=padding, transpose=transpose)
    for horizon in (4, 5, 32):
        x = jax.random.normal(jax.random.PRNGKey(horizon), (2, horizon, 3))
        params = flax_conv.init(jax.random.PRNGKey(1), x)
        assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, params)
        want, got = flax_conv.apply(params, x), ours.apply(params, x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)
        grad = lambda m: jax.grad(lambda p, x: jnp.sum(jnp.sin(m.apply(p, x))), argnums=(0, 1))(params, x)  # noqa: E731
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4), grad(ours), grad(flax_conv))


@pytest.mark.parametrize("padding,message", [
    ("same", "not one this convolution implements"), ("CIRCULAR", "not one this convolution implements"),
    (((1, 1), (0, 0)), "one \\(low, high\\) pair"), (((1, 1, 1),), "one \\(low, high\\) pair")])
def test_conv1d_rejects_a_padding_it_does_not_implement(padding, message):
    """An unknown padding raises, where it used to fall through to SAME silently."""
    with pytest.raises(ValueError, match=message):
        Conv1d(2, 3, padding=padding).init(jax.random.PRNGKey(0), jnp.ones((1, 4, 2)))


def test_a_dropped_return_condition_is_the_unconditional_model():
    net = TemporalUNet(dim=8, dim_mults=(1, 2), returns_condition=True)
    x, t = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 3)), jnp.array([1, 2])
    params = net.init(jax.random.PRNGKey(0), x, t, jnp.ones(2), jnp.ones(2))
    dropped = [net.apply(params, x, t, jnp.full(2, r), jnp.zeros(2)) for r in (0.3, 5.0)]
    np.testing.assert_array_equal(dropped[0], dropped[1])
    kept = [net.apply(params, x, t, jnp.full(2, r), jnp.ones(2)) for r in (0.3, 5.0)]
    assert not np.allclose(kept[0], kept[1])
    # classifier-free guidance: w = 0 is the unconditional model, w = 1 the conditional one
    unet = TemporalUNet(dim=8, dim_mults=(1, 2), returns_condition=True)
    p = params["params"]
    # (one batched call of both halves: float sums reassociate by ~1e-5)
    close = dict(rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dd.guided_noise(unet, p, x, t, jnp.full(2, 5.0), 0.0), dropped[1], **close)
    np.testing.assert_allclose(dd.guided_noise(unet, p, x, t, jnp.full(2, 5.0), 1.0), kept[1], **close)
    w = 1.2
    np.testing.assert_allclose(dd.guided_noise(unet, p, x, t, jnp.full(2, 5.0), w),
                               dropped[1] + w * (kept[1] - dropped[1]), **close)


def test_segments_by_hand():
    """Two episodes of 3 and 4 rows; H = 3 from row 1 runs into the first episode's end."""
    config = _diffuser(planning_horizon=3, discount=0.5, termination_penalty=-10.0)
    data = {"observations": np.arange(7, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
            "next_observations": np.zeros((7, 3), np.float32),
            "actions": np.arange(14, dtype=np.float32).reshape(7, 2) + 1,
            "rewards": np.array([1, 2, 3, 4, 5, 6, 7], np.float32),
            "terminals": np.array([0, 0, 1, 0, 0, 0, 0], np.float32),
            "episode_ends": np.array([0, 0, 1, 0, 0, 0, 1], np.float32)}
    data.update(samplers.segments.prepare(config, data))
    # returns from each row, discount 0.5, the terminal row's reward 3 - 10 = -7
    np.testing.assert_allclose(data["segment_returns"][:3], [1 + 0.5 * 2 + 0.25 * -7, 2 + 0.5 * -7, -7])
    np.testing.assert_allclose(data["segment_returns"][3], 4 + 0.5 * 5 + 0.25 * 6 + 0.125 * 7)
    batch = samplers.segments.gather(config, {k: jnp.asarray(v) for k, v in data.items()}, jnp.array([1, 4]))
    np.testing.assert_array_equal(batch["observations"][0, :, 0], [1, 2, 2])   # absorbing past the end
    np.testing.assert_array_equal(batch["actions"][0], [[3, 4], [5, 6], [0, 0]])
    np.testing.assert_array_equal(batch["mask"], [[1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(batch["observations"][1, :, 0], [4, 5, 6])
    np.testing.assert_allclose(batch["returns"], data["segment_returns"][[1, 4]])


def test_guided_sampler_by_hand():
    """The denoiser x_0 = x (it trusts its input) at temperature 0, from x = 0, guided up
    sum(x[..., 0]): each step adds guide_scale * posterior variance per guide step (none below
    guide_t_stop), then takes the posterior mean (c0 + ct) x. Channel 0 follows that recursion;
    the conditioned entry stays written in; the other channels stay 0."""
    schedule = make_schedule("cosine", 6)
    scale, steps, stop = 0.7, 2, 2
    x = guided_sample(lambda x, t: x, schedule, jax.random.PRNGKey(0), (2, 4, 3),
                      condition=lambda x: x.at[:, 0, 2].set(0.25), predict_epsilon=False, temperature=0.0,
                      guide=lambda x, t: jnp.sum(x[..., 0], axis=-1), guide_steps=steps, guide_scale=scale,
                      guide_t_stop=stop)
    abar = np.cumprod(1 - np.asarray(schedule.betas, np.float64))
    value = 0.0
    for k in range(5, -1, -1):
        prev = abar[k - 1] if k > 0 else 1.0
        beta = 1 - abar[k] / prev
        var = beta * (1 - prev) / (1 - abar[k])
        if k >= stop:
            value += steps * scale * var
        c0 = np.sqrt(prev) * beta / (1 - abar[k])
        ct = np.sqrt(1 - beta) * (1 - prev) / (1 - abar[k])
        value = (c0 + ct) * value
    np.testing.assert_allclose(x[..., 0], value, rtol=1e-5)
    np.testing.assert_array_equal(x[:, 0, 2], 0.25)
    np.testing.assert_array_equal(x[:, 1:, 1:], 0.0)
    assert value > 0.01


def test_posterior_variance_the_guidance_scales_by():
    schedule = make_schedule("cosine", 5)
    _, var = posterior(schedule, jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.array([0]))
    assert float(var[0, 0]) == 0.0  # no guidance and no noise at the last step


def test_ema_by_hand():
    config = _diffuser(ema_decay=0.9, ema_every=2, ema_start=4)
    p, e = {"w": jnp.array(1.0)}, {"w": jnp.array(0.0)}
    assert float(diffuser.ema_update(config, 3, p, e)["w"]) == 1.0        # before the start: a copy
    assert float(diffuser.ema_update(config, 5, p, e)["w"]) == 0.0        # not a multiple of 2
    np.testing.assert_allclose(diffuser.ema_update(config, 6, p, e)["w"], 0.1)


def test_loss_weights_by_hand():
    w = diffuser.loss_weights(_diffuser(action_weight=10.0, predict_epsilon=False), 3, 2, 5)
    np.testing.assert_array_equal(w, [[10, 10, 1, 1, 1], [1] * 5, [1] * 5])
    w = diffuser.loss_weights(_diffuser(action_weight=10.0, predict_epsilon=True), 3, 2, 5)
    np.testing.assert_array_equal(w[0], [10, 10, 0, 0, 0])


def _segments_batch(config, n=64, seed=0):
    """Segments of a linear system s' = s + 0.5 a with rewards -|s|^2 (episodes of 20 rows)."""
    r = np.random.default_rng(seed)
    rows, episodes = 20 * 20, 20
    s = np.zeros((rows, 3), np.float32)
    a = r.uniform(-1, 1, (rows, 2)).astype(np.float32)
    for i in range(rows):
        if i % 20:
            s[i] = s[i - 1] + 0.5 * np.r_[a[i - 1], a[i - 1, :1]]
        else:
            s[i] = r.normal(size=3)
    data = {"observations": s, "next_observations": s, "actions": a,
            "rewards": -np.sum(s ** 2, 1).astype(np.float32), "terminals": np.zeros(rows, np.float32),
            "episode_ends": np.tile(np.r_[np.zeros(19), 1.0], episodes).astype(np.float32)}
    data.update(samplers.segments.prepare(config, data))
    device = {k: jnp.asarray(v) for k, v in data.items()}
    return data, lambda key: samplers.sample(samplers.segments, config, device, key)


def test_diffuser_update_learns_and_acts_with_the_best_valued_plan():
    config = _diffuser(batch_size=32, actor_lr=3e-3, critic_lr=3e-3)
    _, sample = _segments_batch(config)
    state = diffuser.init(config, SPEC, jax.random.PRNGKey(0))
    step = jax.jit(lambda s, k: diffuser.update(config, s, sample(k), jax.random.fold_in(k, 1)))
    first = None
    for i in range(150):
        state, m = step(state, jax.random.PRNGKey(i))
        first = first or (float(m["diffusion_loss"]), float(m["value_loss"]))
    last = [float(m["diffusion_loss"]), float(m["value_loss"])]
    assert last[0] < 0.5 * first[0] and last[1] < 0.5 * first[1], (first, last)

    obs = jnp.asarray([[0.5, -0.2, 0.1], [1.0, 1.0, 1.0]])
    plans, values = diffuser.plan(config, state, obs, jax.random.PRNGKey(7))
    assert plans.shape == (2, 3, 4, 5) and values.shape == (2, 3)
    np.testing.assert_array_equal(plans[:, :, 0, 2:], np.repeat(np.asarray(obs)[:, None], 3, 1))  # inpainted
    action = diffuser.act(config, state, obs, jax.random.PRNGKey(7))
    best = np.argmax(np.asarray(values), 1)
    np.testing.assert_allclose(action, np.clip(np.asarray(plans)[[0, 1], best, 0, :2], -1, 1))
    # fewer sampling steps (respaced) plan too
    fast = _diffuser(diffusion_sample_steps=2)
    act = jax.jit(lambda s, o, k: diffuser.act(fast, s, o, k))  # as the evaluator calls it
    assert act(state, obs, jax.random.PRNGKey(0)).shape == (2, 2)
    assert len(diffuser.schedules(fast)[1].betas) == 2 and np.asarray(diffuser.schedules(fast)[1].timesteps).tolist() == [0, 4]


def test_decision_diffuser_learns_inverse_dynamics_and_the_denoiser():
    config = _dd(batch_size=32, actor_lr=3e-3, returns_scale=50.0)
    data, sample = _segments_batch(config)
    aux = dd.prepare(config, data, None)
    state = dd.init(config, SPEC, jax.random.PRNGKey(0), aux)
    step = jax.jit(lambda s, k: dd.update(config, s, sample(k), jax.random.fold_in(k, 1)))
    losses = []
    for i in range(200):
        state, m = step(state, jax.random.PRNGKey(i))
        losses.append((float(m["diffusion_loss"]), float(m["inverse_loss"])))
    first, last = np.mean(losses[:10], 0), np.mean(losses[-10:], 0)  # the denoising loss is noisy per batch
    assert last[0] < 0.8 * first[0] and last[1] < 0.3 * first[1], (first, last)  # measured 0.72 and 0.20
    obs = jnp.asarray(data["observations"][:5])
    plans = dd.plan(config, state, obs, jax.random.PRNGKey(3))
    np.testing.assert_allclose(plans[:, 0], discretise.cdf_encode(discretise.CDFNormaliser(state.quantiles), obs),
                               atol=1e-6)
    assert np.all(np.abs(np.asarray(plans)) <= 1.0 + 1e-6)
    action = dd.act(config, state, obs, jax.random.PRNGKey(3))
    assert action.shape == (5, 2) and np.all(np.abs(np.asarray(action)) <= 1.0)
    fast = _dd(batch_size=32, returns_scale=50.0, diffusion_sample_steps=2)
    assert jax.jit(lambda s, o, k: dd.act(fast, s, o, k))(state, obs, jax.random.PRNGKey(0)).shape == (5, 2)


def test_cdf_normaliser_round_trip_and_uniform_marginals():
    x = np.random.default_rng(0).exponential(size=(4000, 2))
    n = discretise.fit_cdf(x)
    y = np.asarray(discretise.cdf_encode(n, jnp.asarray(x, jnp.float32)))
    assert y.min() >= -1.0 and y.max() <= 1.0
    np.testing.assert_allclose(np.histogram(y[:, 0], 4, (-1, 1))[0], 1000, atol=5)  # quarters hold a quarter
    np.testing.assert_allclose(discretise.cdf_decode(n, jnp.asarray(y)), x, rtol=1e-3, atol=1e-3)


def test_bad_inputs_are_refused_with_their_fix():
    with pytest.raises(StitchError, match="observation_transform=none"):
        dd.prepare(_dd(observation_transform="zscore"), {}, None)
    for module, config in ((diffuser, _diffuser()), (dd, _dd())):
        with pytest.raises(StitchError, match="discrete"):
            module.init(config, Spec((3,), "float32", 4, True), jax.random.PRNGKey(0))
    with pytest.raises(StitchError, match=">= 2"):
        dd.init(_dd(planning_horizon=1, unet_dim_mults=(1,)), SPEC, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="Cannot sample in 9 steps"):
        respace(make_schedule("cosine", 5), 9)


def test_config_checks_name_the_field_and_its_valid_values():
    from configs import dd as dd_config, diffuser as diffuser_config
    from configs.base import validate
    config = diffuser_config.get_config()
    assert validate(config) == []
    config.plan_samples = 0
    (problem,) = validate(config)
    assert "config.plan_samples=0 is invalid" in problem and "plans sampled per state" in problem
    config = dd_config.get_config()
    assert validate(config) == []
    config.condition_dropout = 1.0
    (problem,) = validate(config)
    assert "config.condition_dropout=1.0 is invalid" in problem and "[0, 1)" in problem
