"""Trajectory Transformer: the discretiser, the model's two output paths, beam-search planning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algos import tt
from algos.common import Spec, StitchError
from data import discretise
from networks.gpt import TrajectoryModel
from tests.conftest import tiny_config


def test_discretiser_by_hand():
    x = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0], [4.0, 40.0]])
    d = discretise.fit_discretiser(x, 2, "uniform")
    np.testing.assert_allclose(d.edges, [[0, 10], [2, 25], [4, 40]])
    np.testing.assert_array_equal(discretise.encode(d, jnp.array([[1.9, 25.0], [4.0, 9.0]])), [[0, 1], [1, 0]])
    np.testing.assert_allclose(discretise.decode(d, jnp.array([[0, 1]])), [[1.0, 32.5]])
    q = discretise.fit_discretiser(x, 3, "quantile")  # rows 0, 1, 2, 3 of the sorted columns
    np.testing.assert_allclose(q.edges[:, 0], [0, 1, 2, 4])
    np.testing.assert_allclose(discretise.expectation(q, jnp.array([0.5, 0.0, 0.5]), 0), 0.5 * 0.5 + 0.5 * 3.0)
    with pytest.raises(ValueError, match="discretisation 'log'"):
        discretise.fit_discretiser(x, 3, "log")


@pytest.mark.parametrize("kind", ["uniform", "quantile"])
def test_discretiser_round_trip_error_is_within_half_a_bin(kind):
    rng = np.random.default_rng(0)
    x = np.c_[rng.normal(size=5000), rng.exponential(size=5000) * 100, np.round(rng.uniform(size=5000), 1)]
    d = discretise.fit_discretiser(x, 100, kind)
    idx = discretise.encode(d, jnp.asarray(x, jnp.float32))
    assert idx.min() >= 0 and idx.max() <= 99
    error = np.abs(np.asarray(discretise.decode(d, idx)) - x)
    widths = np.diff(np.asarray(d.edges, np.float64), axis=0)
    own = widths[np.asarray(idx), np.arange(3)]  # each value's own bin
    assert np.all(error <= own / 2 + 1e-4 * (1 + np.abs(x)))
    assert np.all(error.max(0) <= widths.max(0) / 2 + 1e-4 * (1 + np.abs(x).max(0)))
    if kind == "quantile":  # equal-count bins: a dense region gets fine bins
        assert widths[:, 1].min() < widths[:, 1].max() / 50


def test_training_and_planning_paths_give_the_same_logits():
    model = TrajectoryModel(num_bins=7, transition_dim=3, max_len=12, embed_dim=16, num_layers=2, num_heads=2, dropout=0.0)
    tokens = jax.random.randint(jax.random.PRNGKey(0), (2, 11), 0, 7)
    positions, mask = jnp.tile(jnp.arange(11)[None], (2, 1)), jnp.ones((2, 11))
    params = model.init(jax.random.PRNGKey(1), tokens, positions, mask)
    every = model.apply(params, tokens, positions, mask)
    assert every.shape == (2, 11, 7)
    for n in (1, 4, 8, 11):  # the logits of token n from the first n tokens
        last = model.apply(params, tokens[:, :n], positions[:, :n], mask[:, :n], last_only=True)
        np.testing.assert_allclose(last, every[:, n - 1], atol=1e-5)


def test_filter_cdf_by_hand():
    logits = jnp.log(jnp.array([[0.05, 0.15, 0.3, 0.5]]))
    kept = np.asarray(tt.filter_cdf(logits, 0.6)) > -1e8
    np.testing.assert_array_equal(kept, [[False, False, True, True]])  # 0.8 of the mass kept
    assert np.all(np.asarray(tt.filter_cdf(logits, 1.0)) > -1e8)


def _toy_logits(tokens, n):
    """A hand-made model (1 state dim, 1 action dim, J = 4, 3 bins). Actions: bin 0 with p 0.7,
    bin 1 with p 0.3. Step 0: action 0 earns reward 1 and value 0; action 1 earns 0 but value
    5; at step 1 the reward is 10 if the first action was 1, else 0. States always bin 0."""
    dim, k = n % 4, n // 4
    a0 = tokens[:, 1]
    sharp = lambda b: 20.0 * jax.nn.one_hot(b, 3)
    reward0 = jnp.where(tokens[:, jnp.maximum(n - 1, 0)] == 1, 0, 1)
    reward = jnp.where(k == 0, reward0, jnp.where(a0 == 1, 2, 0))
    value = jnp.where((k == 0) & (a0 == 1), 1, 0)
    action = jnp.log(jnp.array([0.7, 0.3, 1e-9]))
    return jnp.select([dim == 0, dim == 1, dim == 2], [sharp(jnp.zeros_like(a0)), jnp.broadcast_to(action, (tokens.shape[0], 3)),
                                                       sharp(reward)], sharp(value))


def test_beam_search_finds_the_best_plan_on_a_toy_model():
    reward_centres, value_centres = jnp.array([0.0, 1.0, 10.0]), jnp.array([0.0, 5.0, 0.0])
    expect = lambda pr, pv: (pr @ reward_centres, pv @ value_centres)
    sequence = jnp.zeros((12,), jnp.int32)  # the current state's token at 0, room for 2 transitions
    kwargs = dict(dims=(1, 1, 4), horizon=2, discount=0.99, cdf_act=1.0, expect_reward_value=expect)
    best, score = tt.plan(_toy_logits, sequence, 1, jax.random.PRNGKey(0), beam_width=8, n_expand=4, **kwargs)
    assert int(best[1]) == 1  # the first action forgoes reward 1 for the value behind it
    np.testing.assert_allclose(score, 0 + 0.99 * 10, rtol=1e-4)  # r0 + g r1 + g^2 V1, by hand
    # ranking by immediate reward alone would have chosen action 0: a beam of one that keeps
    # the best of r + g V still finds it, and the score of the other first action is 1
    _, score0 = tt.plan(_toy_logits, sequence.at[1].set(0), 1, jax.random.PRNGKey(0), beam_width=1, n_expand=1,
                        **{**kwargs, "horizon": 1, "cdf_act": 0.5})  # cdf 0.5 keeps action 0 only
    np.testing.assert_allclose(score0, 1.0, rtol=1e-4)


def _small(**overrides):
    return tiny_config("tt", embed_dim=16, num_layers=1, num_heads=2, context_len=3, tt_bins=11, tt_horizon=2,
                       tt_beam_width=3, tt_n_expand=2, tt_max_context=2, dropout=0.0, warmup_steps=2, **overrides)


def test_update_lowers_the_loss_and_acting_keeps_the_context():
    config = _small(actor_lr=1e-2)
    spec = Spec((3,), "float32", 2, False)
    r = np.random.default_rng(0)
    B, K = 8, 3
    batch = {"observations": jnp.asarray(r.normal(size=(B, K, 3)), jnp.float32),
             "actions": jnp.asarray(r.uniform(-1, 1, (B, K, 2)), jnp.float32),
             "rewards": jnp.asarray(r.normal(size=(B, K)), jnp.float32),
             "values": jnp.asarray(r.normal(size=(B, K)), jnp.float32),
             "mask": jnp.asarray(np.r_[[[0, 1, 1]], np.ones((B - 1, K))], jnp.float32)}
    rows = tt.transition_values(config, batch["observations"], batch["actions"], batch["rewards"], batch["values"])
    edges = discretise.fit_discretiser(np.asarray(rows).reshape(-1, 7), 11, "uniform").edges
    state = tt.init(config, spec, jax.random.PRNGKey(0), {"edges": np.asarray(edges)})
    step = jax.jit(lambda s, k: tt.update(config, s, batch, k))
    losses = []
    for i in range(40):
        state, m = step(state, jax.random.PRNGKey(i))
        losses.append(float(m["actor_loss"]))
    assert losses[-1] < 0.6 * losses[0], losses

    memory = tt.init_memory(config, spec, 2)
    act = jax.jit(lambda o, m, k: tt.act(config, state, o, k, memory=m))
    obs = jnp.ones((2, 3))
    actions = []
    for t in range(4):
        a, memory = act(obs * t, {**memory, "reward": jnp.full((2,), float(t))}, jax.random.PRNGKey(t))
        assert a.shape == (2, 2) and np.all(np.abs(np.asarray(a)) <= 1.0)
        actions.append(np.asarray(a))
    np.testing.assert_array_equal(memory["count"], [2, 2])  # at most tt_max_context transitions
    # the context's last transition is step 2's state, action and reward, discretised
    disc = discretise.Discretiser(state.edges)
    expected = discretise.encode(disc, jnp.concatenate([obs * 2, jnp.asarray(actions[2]), jnp.full((2, 1), 3.0),
                                                        jnp.zeros((2, 1))], -1))
    np.testing.assert_array_equal(memory["context"][:, 7:], expected)
    with pytest.raises(StitchError, match="plans from its context"):
        tt.act(config, state, obs, jax.random.PRNGKey(0))


def test_transformed_data_is_refused():
    with pytest.raises(StitchError, match="observation_transform=none"):
        tt.prepare(_small(observation_transform="zscore"), {}, None)


def test_bad_inputs_are_refused_with_their_fix():
    from configs import idql as idql_config, tt as tt_config
    from configs.base import validate
    with pytest.raises(StitchError, match="discretised continuous actions"):
        tt.init(_small(), Spec((3,), "float32", 4, True), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"\(rows >= 2, dims\) data"):
        discretise.fit_discretiser(np.zeros(5), 10)
    config = tt_config.get_config()
    assert validate(config) == []
    config.tt_cdf_act = 0.0
    (problem,) = validate(config)
    assert "config.tt_cdf_act=0.0 is invalid" in problem and "(0, 1]" in problem
    config = idql_config.get_config()
    assert validate(config) == []
    config.policy_head = "gaussian"
    (problem,) = validate(config)
    assert "IDQL's policy is a diffusion model" in problem


def test_termination_penalty_reaches_the_reward_tokens_and_values():
    """TT's -100 at terminal rows is added to their rewards: the discretiser's reward column
    spans it, and the windows' rewards and values carry it (data/samplers windows)."""
    config = _small(termination_penalty=-100.0, tt_discretiser="uniform")
    n = 12
    data = {"observations": np.zeros((n, 3), np.float32), "actions": np.zeros((n, 2), np.float32),
            "rewards": np.ones(n, np.float32), "terminals": np.r_[np.zeros(5), 1, np.zeros(5), 0].astype(np.float32),
            "episode_ends": np.r_[np.zeros(5), 1, np.zeros(5), 1].astype(np.float32)}
    edges = tt.prepare(config, data, None)["edges"]
    reward_column = edges[:, 3 + 2]
    np.testing.assert_allclose([reward_column[0], reward_column[-1]], [-99.0, 1.0], atol=1e-5)
    off = tt.prepare(_small(termination_penalty=0.0, tt_discretiser="uniform"), data, None)["edges"]
    assert np.ptp(off[:, 5]) < 1e-3  # without it every reward is 1
