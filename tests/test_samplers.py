"""Samplers against hand-computed batches on a 9-row dataset of three episodes.

Rows  episode  reward  terminal  episode_end
 0-2     A      1 2 3   0 0 1     0 0 1      terminated
 3-6     B    4 5 6 7   0 0 0 0   0 0 0 1    truncated
 7-8     C      8 9     0 1       0 1        terminated
observations[t] = (10+t, 20+t), next_observations[t] = (100+t, 200+t), actions[t] = t/10.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

from data import samplers
from data.samplers import (SAMPLERS, TRANSITION_KEYS, Sampler, float_observations, mc_returns,
                           nstep, prepare_columns, sample, transitions, windows)

N = 9


def _arrays(episode_ends=None):
    t = np.arange(N, dtype=np.float32)
    return {
        "observations": np.stack([10 + t, 20 + t], 1),
        "actions": (t / 10)[:, None],
        "rewards": t + 1,
        "next_observations": np.stack([100 + t, 200 + t], 1),
        # next row's action inside an episode, own action at an episode's last row
        "next_actions": (np.array([1, 2, 2, 4, 5, 6, 6, 8, 8], np.float32) / 10)[:, None],
        "terminals": np.array([0, 0, 1, 0, 0, 0, 0, 0, 1], np.float32),
        "episode_ends": (np.array([0, 0, 1, 0, 0, 0, 1, 0, 1], np.float32)
                         if episode_ends is None else episode_ends),
    }


def _config(**overrides):
    c = ConfigDict(dict(batch_size=16, discount=0.5, n_step=3, context_len=3, planning_horizon=3,
                        termination_penalty=0.0, observation_transform="none"))
    c.update(overrides)
    return c


def _device(config, arrays, sampler):
    cols = dict(arrays, **prepare_columns(config, arrays, [sampler]))
    return {k: jnp.asarray(v) for k, v in cols.items()}


def _gather(sampler, config, data, indices):
    fn = jax.jit(functools.partial(sampler.gather, config))
    return jax.device_get(fn(data, jnp.asarray(indices, jnp.int32)))


# ---------------------------------------------------------------- prepare

def test_prepared_columns_by_hand():
    config, arrays = _config(), _arrays()
    cols = prepare_columns(config, arrays, list(SAMPLERS.values()))
    assert set(cols) == {"episode_last", "episode_first", "timesteps", "returns_to_go", "values",
                         "mc_returns", "segment_returns"}
    np.testing.assert_array_equal(cols["episode_first"], [0, 0, 0, 3, 3, 3, 3, 7, 7])
    np.testing.assert_array_equal(cols["episode_last"], [2, 2, 2, 6, 6, 6, 6, 8, 8])
    np.testing.assert_array_equal(cols["timesteps"], [0, 1, 2, 0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(cols["returns_to_go"], [6, 5, 3, 22, 18, 13, 7, 17, 9])
    # gamma = 0.5: A 1+.5*2+.25*3, 2+.5*3, 3; B 4+2.5+1.5+.875, 5+3+1.75, 6+3.5, 7; C 8+4.5, 9
    np.testing.assert_array_equal(cols["mc_returns"],
                                  [2.75, 3.5, 3, 8.875, 9.75, 9.5, 7, 12.5, 9])
    for k in ("episode_first", "episode_last", "timesteps"):
        assert cols[k].dtype == np.int32
    # TT's values: the discounted return from the next step, 0 at an episode's last row
    np.testing.assert_allclose(cols["values"], [3.5, 3, 0, 9.75, 9.5, 7, 0, 9, 0])
    # TT's termination penalty: added to terminal rows' rewards, in the batches and the values
    # (the rows of _arrays(): row 2 is a terminal; rewards t + 1)
    penalised = prepare_columns(_config(termination_penalty=-10.0), arrays, [windows])
    terminal = np.asarray(arrays["terminals"]) > 0
    np.testing.assert_array_equal(penalised["penalised_rewards"], np.asarray(arrays["rewards"]) - 10.0 * terminal)
    assert "penalised_rewards" not in cols  # no penalty, no column: DT's rewards untouched
    np.testing.assert_allclose(penalised["values"][:2], [3.5 - 5.0, 3 - 10.0])  # the terminal's reward 3 - 10
    np.testing.assert_array_equal(penalised["returns_to_go"], cols["returns_to_go"])  # DT's never carry it
    batch = windows.gather(_config(termination_penalty=-10.0), {k: jnp.asarray(v) for k, v in {**arrays, **penalised}.items()},
                           jnp.array([2]))
    np.testing.assert_array_equal(batch["rewards"][0], [1, 2, 3 - 10.0])
    # the planners' segment returns: the Monte-Carlo returns (no termination penalty here)
    np.testing.assert_array_equal(cols["segment_returns"], cols["mc_returns"])
    for k in ("returns_to_go", "mc_returns", "values", "segment_returns"):
        assert cols[k].dtype == np.float32


def test_prepare_columns_runs_each_sampler_once():
    calls = []
    counting = Sampler("counting", lambda c, a: calls.append(1) or {"x": np.zeros(N)},
                       transitions.gather, ())
    cols = prepare_columns(_config(), _arrays(), [counting, transitions, counting])
    assert len(calls) == 1 and set(cols) == {"x"}


def test_unmarked_final_row_closes_the_last_episode():
    ends = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0], np.float32)  # the data was cut off in C
    cols = prepare_columns(_config(), _arrays(ends), [windows, mc_returns])
    np.testing.assert_array_equal(cols["returns_to_go"][7:], [17, 9])
    np.testing.assert_array_equal(cols["mc_returns"][7:], [12.5, 9])


def test_mc_returns_fast_on_a_million_rows():
    import time
    rng = np.random.default_rng(0)
    ends = (rng.random(1_000_000) < 1e-3).astype(np.float32)
    arrays = {"rewards": rng.normal(size=1_000_000).astype(np.float32), "episode_ends": ends}
    start = time.perf_counter()
    g = mc_returns.prepare(_config(discount=0.99), arrays)["mc_returns"]
    assert time.perf_counter() - start < 2.0
    # spot-check the tail episode against a direct sum
    last_start = np.flatnonzero(ends[:-1])[-1] + 1
    r = arrays["rewards"][last_start:].astype(np.float64)
    np.testing.assert_allclose(g[last_start], np.sum(0.99 ** np.arange(len(r)) * r), rtol=1e-5)


# ---------------------------------------------------------------- transitions / sample

def test_transitions_bit_identical_to_plain_gather():
    rng = np.random.default_rng(1)
    data = {k: jnp.asarray(rng.normal(size=v.shape).astype(np.float32))
            for k, v in _arrays().items()}
    config = _config()
    idx = jax.random.randint(jax.random.PRNGKey(3), (config.batch_size,), 0, N)
    plain = jax.tree_util.tree_map(lambda x: x[idx], {k: data[k] for k in TRANSITION_KEYS})
    batch = _gather(transitions, config, data, idx)
    assert set(batch) == set(TRANSITION_KEYS)
    for k in TRANSITION_KEYS:
        np.testing.assert_array_equal(batch[k], plain[k])
        assert batch[k].dtype == plain[k].dtype


def test_sample_draws_randint_indices():
    config = _config()
    rng = jax.random.PRNGKey(7)
    idx = jax.random.randint(rng, (config.batch_size,), 0, N)
    assert int(idx.min()) >= 0 and int(idx.max()) < N
    for sampler in SAMPLERS.values():
        data = _device(config, _arrays(), sampler)
        got = jax.jit(lambda d, k, s=sampler: sample(s, config, d, k))(data, rng)
        want = sampler.gather(config, data, idx)
        assert set(got) == set(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    # rewards are t+1, so the sampled rows are readable back from them
    got = sample(transitions, config, data, rng)
    np.testing.assert_array_equal(got["rewards"], np.asarray(idx) + 1)


def test_float_observations():
    x = jnp.array([[0, 51, 255]], jnp.uint8)
    y = float_observations(_config(observation_transform="div255"), x)
    assert y.dtype == jnp.float32
    # exactly the host's transform (data.dataset.observations_for_policy): a multiply by 1/255
    np.testing.assert_array_equal(y, np.array([[0, 51, 255]], np.float32) * np.float32(1 / 255))
    np.testing.assert_allclose(y, [[0.0, 0.2, 1.0]], rtol=1e-6)
    z = float_observations(_config(observation_transform="none"), x)
    assert z.dtype == jnp.float32
    np.testing.assert_array_equal(z, [[0, 51, 255]])
    f = jnp.array([[0.5, 300.0]], jnp.float32)
    assert float_observations(_config(observation_transform="div255"), f) is f


# ---------------------------------------------------------------- n-step

def test_nstep_by_hand():
    config = _config(n_step=3)
    data = _device(config, _arrays(), nstep)
    b = _gather(nstep, config, data, [0, 1, 2, 3, 5, 6, 7, 8])
    # 0: 1+.5*2+.25*3 up to A's terminal; 1: 2+.5*3 stops at the terminal; 3: 4+.5*5+.25*6 full;
    # 5: 6+.5*7 stops at B's truncated end; 7: 8+.5*9 ends on C's terminal
    np.testing.assert_array_equal(b["rewards"], [2.75, 3.5, 3, 8, 9.5, 7, 12.5, 9])
    np.testing.assert_array_equal(b["n_steps"], [3, 2, 1, 3, 2, 1, 2, 1])
    np.testing.assert_array_equal(b["terminals"], [1, 1, 1, 0, 0, 0, 1, 1])
    # gamma^m, zeroed after a terminal; a truncation still bootstraps
    np.testing.assert_array_equal(b["discounts"], [0, 0, 0, 0.125, 0.25, 0.5, 0, 0])
    np.testing.assert_array_equal(b["next_observations"][:, 0],
                                  [102, 102, 102, 105, 106, 106, 108, 108])
    np.testing.assert_array_equal(b["observations"][:, 0], [10, 11, 12, 13, 15, 16, 17, 18])
    np.testing.assert_array_equal(b["actions"][:, 0], np.float32([0, 1, 2, 3, 5, 6, 7, 8]) / 10)
    # the bootstrap row's episode end and logged next action go with next_observations
    np.testing.assert_array_equal(b["episode_ends"], [1, 1, 1, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(b["next_actions"][:, 0], np.float32([2, 2, 2, 6, 6, 6, 8, 8]) / 10)
    assert b["n_steps"].dtype == np.int32 and b["discounts"].dtype == np.float32


def test_nstep_longer_than_the_episode():
    config = _config(n_step=5)
    b = _gather(nstep, config, _device(config, _arrays(), nstep), [3, 4])
    np.testing.assert_array_equal(b["rewards"], [8.875, 9.75])  # all of B from row 3 / 4
    np.testing.assert_array_equal(b["n_steps"], [4, 3])
    np.testing.assert_array_equal(b["discounts"], [0.0625, 0.125])


def test_nstep_stops_after_a_terminal_even_without_an_episode_end():
    # boundaries erased except the data's end: only the terminal at row 2 can stop the sum
    config = _config(n_step=3)
    arrays = _arrays(np.array([0, 0, 0, 0, 0, 0, 0, 0, 1], np.float32))
    b = _gather(nstep, config, _device(config, arrays, nstep), [1, 2])
    np.testing.assert_array_equal(b["rewards"], [3.5, 3])
    np.testing.assert_array_equal(b["discounts"], [0, 0])


def test_nstep_1_matches_transitions():
    config = _config(n_step=1)
    data = _device(config, _arrays(), nstep)
    idx = np.arange(N)
    b, t = _gather(nstep, config, data, idx), _gather(transitions, config, data, idx)
    for k in ("rewards", "next_observations", "terminals", "observations", "actions"):
        np.testing.assert_array_equal(b[k], t[k])
    np.testing.assert_array_equal(b["discounts"], 0.5 * (1 - t["terminals"]))
    np.testing.assert_array_equal(b["n_steps"], np.ones(N))


# ---------------------------------------------------------------- windows

def test_windows_by_hand():
    config = _config(context_len=3)
    data = _device(config, _arrays(), windows)
    b = _gather(windows, config, data, [0, 4, 6, 2, 7])
    assert set(b) == {"observations", "actions", "rewards", "returns_to_go", "values", "timesteps",
                      "terminals", "mask"}
    # the Trajectory Transformer's values: discounted (0.5) returns from the next step, 0 at an
    # episode's last step (episodes: rewards 1-3, 4-7, 8-9)
    np.testing.assert_allclose(b["values"], [[0, 0, 3.5], [0, 9.75, 9.5], [9.5, 7, 0], [3.5, 3, 0],
                                             [0, 0, 9]])
    np.testing.assert_array_equal(b["mask"], [[0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1],
                                              [0, 0, 1]])
    np.testing.assert_array_equal(b["rewards"], [[0, 0, 1], [0, 4, 5], [5, 6, 7], [1, 2, 3],
                                                 [0, 0, 8]])
    np.testing.assert_array_equal(b["returns_to_go"], [[0, 0, 6], [0, 22, 18], [18, 13, 7],
                                                       [6, 5, 3], [0, 0, 17]])
    np.testing.assert_array_equal(b["timesteps"], [[0, 0, 0], [0, 0, 1], [1, 2, 3], [0, 1, 2],
                                                   [0, 0, 0]])
    np.testing.assert_array_equal(b["terminals"], [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1],
                                                   [0, 0, 0]])
    np.testing.assert_array_equal(b["observations"][1], [[0, 0], [13, 23], [14, 24]])
    np.testing.assert_array_equal(b["observations"][4], [[0, 0], [0, 0], [17, 27]])
    np.testing.assert_array_equal(b["actions"][1, :, 0], np.float32([0, 3, 4]) / 10)
    assert b["observations"].shape == (5, 3, 2) and b["actions"].shape == (5, 3, 1)
    assert b["timesteps"].dtype == np.int32 and b["mask"].dtype == np.float32


def test_windows_pixels_and_discrete_actions():
    config = _config(context_len=2, observation_transform="div255")
    arrays = _arrays()
    arrays["observations"] = np.arange(N, dtype=np.uint8)[:, None, None] * np.uint8(10)
    arrays["actions"] = np.arange(N, dtype=np.int32) + 1
    b = _gather(windows, config, _device(config, arrays, windows), [3, 5])
    assert b["observations"].dtype == np.float32 and b["observations"].shape == (2, 2, 1, 1)
    np.testing.assert_allclose(b["observations"][:, :, 0, 0],
                               np.float32([[0, 30], [40, 50]]) / np.float32(255), rtol=1e-6)
    assert b["actions"].dtype == np.int32
    np.testing.assert_array_equal(b["actions"], [[0, 4], [5, 6]])


# ---------------------------------------------------------------- mc_returns

def test_mc_returns_gather():
    config = _config(discount=0.5)
    data = _device(config, _arrays(), mc_returns)
    b = _gather(mc_returns, config, data, np.arange(N))
    np.testing.assert_array_equal(b["mc_returns"], [2.75, 3.5, 3, 8.875, 9.75, 9.5, 7, 12.5, 9])
    assert set(b) == set(TRANSITION_KEYS) | {"mc_returns"}
    np.testing.assert_array_equal(b["rewards"], np.arange(N) + 1)


# ---------------------------------------------------------------- registry, vmap

def test_registry_and_fields():
    assert SAMPLERS == {"transitions": transitions, "nstep": nstep, "windows": windows,
                        "mc_returns": mc_returns, "segments": samplers.segments}
    assert transitions.fields == () and mc_returns.fields == ("discount",)
    assert "n_step" in nstep.fields and "context_len" in windows.fields
    assert all(s.name == name for name, s in SAMPLERS.items())
    assert samplers.__doc__


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_vmap_over_rng_keys(name):
    sampler, config = SAMPLERS[name], _config(batch_size=4)
    data = _device(config, _arrays(), sampler)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    batched = jax.jit(jax.vmap(lambda k: sample(sampler, config, data, k)))(keys)
    for i, k in enumerate(keys):
        one = sample(sampler, config, data, k)
        for col in one:
            assert batched[col].shape == (3,) + one[col].shape
            np.testing.assert_array_equal(batched[col][i], one[col])


def test_shared_frames_give_the_same_batches():
    from data.dataset import share_frames
    config, arrays = _config(), _arrays()
    # A consistent dataset: within an episode the next observation is the next row's; at an
    # episode's end a frame of its own.
    ends = arrays["episode_ends"].astype(bool)
    nxt = np.concatenate([arrays["observations"][1:], arrays["observations"][-1:]])
    nxt[ends] = 500 + np.flatnonzero(ends)[:, None]
    arrays["next_observations"] = nxt
    for sampler in SAMPLERS.values():
        cols = dict(arrays, **prepare_columns(config, arrays, [sampler]))
        shared = share_frames(dict(cols))
        assert shared["observations"].shape == (N + 3, 2) and "next_observations" not in shared
        np.testing.assert_array_equal(shared["obs_index"], [0, 1, 2, 4, 5, 6, 7, 9, 10])
        plain = {k: jnp.asarray(v) for k, v in cols.items()}
        shared = {k: jnp.asarray(v) for k, v in shared.items()}
        a, b = (_gather(sampler, config, d, np.arange(N)) for d in (plain, shared))
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{sampler.name}: {k}")
