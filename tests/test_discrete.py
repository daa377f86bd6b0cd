"""The discrete-action family (algos/dqn.py and its variants) against hand computations: the
quantile Huber loss, C51's projection, REM's mixture, BCQ's thresholded argmax, the discrete CQL
term, SPIBB's projection, KL-control's limits, and FQI reaching the exact optimal Q of a tabular
chain's dataset (value iteration)."""
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from algos import ALGOS, bcq_discrete, c51, cql_discrete, ddqn, dqn, fqi, kl_control, qr_dqn, rem, spibb
from algos.common import Spec, contract
from configs import base as config_base


def config_of(algo, **overrides):
    import importlib
    c = importlib.import_module(f"configs.{algo}").get_config()
    c.update({"hidden_dims": (16, 16), **overrides})
    return c


SPEC = Spec((3,), "float32", 3, True)


def batch_of(rng, B=5, A=3):
    r = np.random.default_rng(rng)
    return {"observations": jnp.asarray(r.normal(size=(B, 3)), jnp.float32),
            "next_observations": jnp.asarray(r.normal(size=(B, 3)), jnp.float32),
            "actions": jnp.asarray(r.integers(A, size=B), jnp.int32),
            "rewards": jnp.asarray(r.normal(size=B), jnp.float32),
            "terminals": jnp.asarray([0, 1, 0, 0, 1][:B], jnp.float32)}


def test_every_discrete_algorithm_is_registered_as_discrete():
    names = ["dqn", "ddqn", "qr_dqn", "c51", "ensemble_dqn", "rem", "bc_discrete", "bcq_discrete",
             "cql_discrete", "fqi", "kl_control", "spibb"]
    for name in names:
        assert contract(ALGOS[name]).actions == "discrete", name
        assert config_base.validate(config_of(name)) == [], name


def test_quantile_huber_loss_by_hand():
    theta = np.array([[0.0, 1.0, 3.0]])            # N = 3 quantiles at tau = 1/6, 1/2, 5/6
    target = np.array([[0.5, 2.5]])
    kappa = 1.0
    want = 0.0
    for i, tau in enumerate([1 / 6, 1 / 2, 5 / 6]):
        per_j = []
        for y in target[0]:
            u = y - theta[0, i]
            huber = 0.5 * u * u if abs(u) <= kappa else kappa * (abs(u) - 0.5 * kappa)
            per_j.append(abs(tau - (u < 0)) * huber / kappa)
        want += np.mean(per_j)
    got = qr_dqn.quantile_huber_loss(jnp.asarray(theta), jnp.asarray(target), kappa)
    np.testing.assert_allclose(np.asarray(got), [want], rtol=1e-6)
    # kappa = 0: the plain quantile (pinball) loss
    got0 = qr_dqn.quantile_huber_loss(jnp.asarray(theta), jnp.asarray(target), 0.0)
    want0 = sum(np.mean([abs(tau - (y - theta[0, i] < 0)) * abs(y - theta[0, i]) for y in target[0]])
                for i, tau in enumerate([1 / 6, 1 / 2, 5 / 6]))
    np.testing.assert_allclose(np.asarray(got0), [want0], rtol=1e-6)


def c51_projection_by_hand(probs, reward, discount, z):
    """Bellemare et al.'s algorithm 1, with floor/ceil and the l == u case."""
    v_min, v_max, dz = z[0], z[-1], z[1] - z[0]
    m = np.zeros(len(z))
    for j, p in enumerate(probs):
        tz = np.clip(reward + discount * z[j], v_min, v_max)
        b = (tz - v_min) / dz
        lo, hi = int(np.floor(b)), int(np.ceil(b))
        if lo == hi:
            m[lo] += p
        else:
            m[lo] += p * (hi - b)
            m[hi] += p * (b - lo)
    return m


def test_c51_projection_by_hand():
    config = config_of("c51", num_atoms=5, v_min=-2.0, v_max=2.0, discount=0.9)
    z = np.linspace(-2, 2, 5)
    logits = np.array([[0.1, -0.3, 0.7, 0.0, 1.2], [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.5, 0.3, -0.2]])
    batch = {"rewards": jnp.asarray([0.35, 1.0, -5.0]), "terminals": jnp.asarray([0.0, 0.0, 1.0])}
    got = np.asarray(c51.project(config, jnp.asarray(logits, jnp.float32), batch))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for b in range(3):
        gamma = 0.9 * (1 - float(batch["terminals"][b]))
        want = c51_projection_by_hand(probs[b], float(batch["rewards"][b]), gamma, z)
        np.testing.assert_allclose(got[b], want, atol=1e-6)
        assert abs(got[b].sum() - 1.0) < 1e-6
    # r = 1.0, gamma 0.9: Tz = 1 + 0.9 z lands on atoms only at z = 0 -> 1 (the l == u case)
    assert got[2][0] == pytest.approx(1.0)  # terminal, r = -5: all mass clipped to v_min


def test_rem_mixes_the_heads_with_one_convex_combination():
    config = config_of("rem", num_heads=4)
    w = rem.random_convex_weights(config, jax.random.PRNGKey(3))
    assert w.shape == (4,) and np.all(np.asarray(w) > 0) and abs(float(w.sum()) - 1.0) < 1e-6
    state = rem.init(config, SPEC, jax.random.PRNGKey(0))
    batch = batch_of(1)
    rng = jax.random.PRNGKey(7)
    weights = np.asarray(rem.random_convex_weights(config, rng))
    heads = lambda params, obs: np.asarray(state.q.apply_fn({"params": params}, obs))  # (B, A, K)
    q = heads(state.q.params, batch["observations"]) @ weights                  # (B, A)
    q_next = heads(state.target_params, batch["next_observations"]) @ weights
    y = np.asarray(batch["rewards"]) + 0.99 * (1 - np.asarray(batch["terminals"])) * q_next.max(-1)
    u = q[np.arange(5), np.asarray(batch["actions"])] - y
    want = np.mean(np.where(np.abs(u) <= 1, 0.5 * u * u, np.abs(u) - 0.5))
    _, metrics = rem.update(config, state, batch, rng)
    np.testing.assert_allclose(float(metrics["td_loss"]), want, rtol=1e-5)


def test_ensemble_heads_back_up_their_own_greedy_values():
    config = config_of("ensemble_dqn", num_heads=3)
    out = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 3)), jnp.float32)  # (B, A, K)
    got = np.asarray(dqn.greedy_value(config, None, None, None, lambda: out, dqn.SCALAR))
    np.testing.assert_allclose(got, np.asarray(out).max(axis=1), rtol=1e-6)


def test_double_dqn_values_the_online_argmax_with_the_target():
    config = config_of("ddqn")
    online = jnp.asarray([[[1.0], [3.0], [2.0]]])   # online argmax: action 1
    target = jnp.asarray([[[5.0], [0.5], [9.0]]])   # target's own argmax would be action 2
    got = ddqn.next_value(config, None, None, lambda: online, lambda: target, dqn.SCALAR)
    assert float(got[0, 0]) == 0.5
    assert float(dqn.greedy_value(config, None, None, lambda: online, lambda: target, dqn.SCALAR)[0, 0]) == 9.0


def _bcq_state(config, behaviour_logits_value, q_value):
    """A BCQ state whose classifier and Q return fixed numbers (the last layer's bias)."""
    state = bcq_discrete.init(config, SPEC, jax.random.PRNGKey(0))
    def fixed(params, value):
        params = jax.tree_util.tree_map(jnp.zeros_like, params)
        last = sorted(params["MLP_0"].keys())[-1]
        params["MLP_0"][last]["bias"] = jnp.asarray(value, jnp.float32)
        return params
    return state.replace(q=state.q.replace(params=fixed(state.q.params, q_value)),
                         behaviour=state.behaviour.replace(params=fixed(state.behaviour.params, behaviour_logits_value)))


@pytest.mark.parametrize("tau, want", [(0.0, 2), (1.0, 0), (0.3, 1)])
def test_bcq_thresholded_argmax(tau, want):
    """G = softmax(logits) = (0.6, 0.3, 0.1): ratios to the max 1, 0.5, 1/6; Q = (1, 2, 3).
    tau = 0: every action, argmax Q (Q-learning); tau = 1: only G's argmax (BC); tau = 0.3: {0, 1}."""
    config = config_of("bcq_discrete", bcq_threshold=tau)
    state = _bcq_state(config, np.log([0.6, 0.3, 0.1]), [1.0, 2.0, 3.0])
    obs = jnp.zeros((2, 3))
    assert np.all(np.asarray(bcq_discrete.act(config, state, obs, jax.random.PRNGKey(0))) == want)
    batch = {"next_observations": obs}
    target = lambda: jnp.asarray([[[10.0], [20.0], [30.0]]] * 2)
    got = bcq_discrete.next_value(config, state, batch, lambda: state.q.apply_fn({"params": state.q.params}, obs),
                                  target, dqn.SCALAR)
    assert np.all(np.asarray(got)[:, 0] == [10.0, 20.0, 30.0][want])


def test_discrete_cql_term_by_hand():
    config = config_of("cql_discrete", cql_alpha=2.0)
    q = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    actions = np.array([2, 1])
    want = 2.0 * np.mean(np.log(np.exp(q).sum(-1)) - q[np.arange(2), actions])
    got, metrics = cql_discrete.conservative_penalty(config, jnp.asarray(q), {"actions": jnp.asarray(actions)})
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    # and it is in the update's loss: the total minus the TD part is alpha x the gap
    state = cql_discrete.init(config, SPEC, jax.random.PRNGKey(0))
    _, m = cql_discrete.update(config, state, batch_of(2), jax.random.PRNGKey(1))
    np.testing.assert_allclose(float(m["critic_loss"] - m["td_loss"]), 2.0 * float(m["cql_gap"]), rtol=1e-5)


@pytest.mark.parametrize("base", ["dqn", "qr_dqn"])
def test_discrete_cql_runs_on_dqn_and_qr_dqn(base):
    config = config_of("cql_discrete", base=base, num_quantiles=8)
    state = cql_discrete.init(config, SPEC, jax.random.PRNGKey(0))
    out = state.q.apply_fn({"params": state.q.params}, jnp.zeros((1, 3)))
    assert out.shape == ((1, 3, 8) if base == "qr_dqn" else (1, 3, 1))
    _, m = cql_discrete.update(config, state, batch_of(3), jax.random.PRNGKey(1))
    assert np.isfinite(float(m["cql_gap"]))


def test_spibb_projection_on_a_toy_state():
    """pi_b = (0.5, 0.3, 0.2), counts (20, 3, 15) with N_wedge 10: action 1 is bootstrapped
    (keeps 0.3); the other 0.7 goes to the better of actions 0 and 2 by Q."""
    config = config_of("spibb", spibb_n_wedge=10.0, count_bins=1, count_table_size=4)
    aux = {"low": jnp.zeros(3), "high": jnp.ones(3), "table": jnp.asarray([[20.0, 3.0, 15.0]] * 4)}
    state = spibb.init(config, SPEC, jax.random.PRNGKey(0), aux)
    state = _bcq_state_like(state, np.log([0.5, 0.3, 0.2]))
    obs = jnp.zeros((1, 3))
    pi = spibb.spibb_policy(config, state, obs, jnp.asarray([[1.0, 9.0, 2.0]]))  # action 1 best but bootstrapped
    np.testing.assert_allclose(np.asarray(pi), [[0.0, 0.3, 0.7]], atol=1e-6)
    pi = spibb.spibb_policy(config, state, obs, jnp.asarray([[4.0, 9.0, 2.0]]))
    np.testing.assert_allclose(np.asarray(pi), [[0.7, 0.3, 0.0]], atol=1e-6)
    # N_wedge 0: nothing bootstrapped, greedy (Q-learning); huge: pi_b itself
    for n, want in ((0.0, [0.0, 1.0, 0.0]), (1e9, [0.5, 0.3, 0.2])):
        config.spibb_n_wedge = n
        np.testing.assert_allclose(np.asarray(spibb.spibb_policy(config, state, obs, jnp.asarray([[1.0, 9.0, 2.0]]))),
                                   [want], atol=1e-6)


def test_spibb_backup_on_a_toy_mdp_by_hand():
    """Two next states in different grid cells: s'_0 well covered (counts 20, 15, 12: nothing
    bootstrapped, the backup is max Q'), s'_1 with counts (20, 3, 0) (actions 1 and 2 follow
    pi_b = (0.5, 0.3, 0.2), the rest 0.5 goes to action 0): y = r + gamma * sum_a pi(a) Q'(s', a)."""
    config = config_of("spibb", spibb_n_wedge=10.0, count_bins=2, count_table_size=8, discount=0.9)
    table = np.zeros((8, 3), np.float32)
    table[0] = [20, 15, 12]   # cell of (0, 0, 0)
    table[7] = [20, 3, 0]     # cell of (1, 1, 1)
    aux = {"low": jnp.zeros(3), "high": jnp.ones(3), "table": jnp.asarray(table)}
    state = _bcq_state_like(spibb.init(config, SPEC, jax.random.PRNGKey(0), aux), np.log([0.5, 0.3, 0.2]))
    next_obs = jnp.asarray([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(np.asarray(spibb.cells(config, aux, next_obs)), [0, 7])
    q_next = np.array([[1.0, 4.0, 2.0], [3.0, 8.0, 6.0]])
    batch = {"next_observations": next_obs, "rewards": jnp.asarray([1.0, 0.5]), "terminals": jnp.zeros(2)}
    got = dqn.SCALAR.backup(config, spibb.next_value(config, state, batch, None, lambda: jnp.asarray(q_next)[..., None],
                                                     dqn.SCALAR), batch)
    want = [1.0 + 0.9 * 4.0, 0.5 + 0.9 * (0.5 * 3.0 + 0.3 * 8.0 + 0.2 * 6.0)]
    np.testing.assert_allclose(np.asarray(got)[:, 0], want, rtol=1e-6)


def _bcq_state_like(state, logits):
    params = jax.tree_util.tree_map(jnp.zeros_like, state.behaviour.params)
    last = sorted(params["MLP_0"].keys())[-1]
    params["MLP_0"][last]["bias"] = jnp.asarray(logits, jnp.float32)
    return state.replace(behaviour=state.behaviour.replace(params=params))


def test_spibb_counts_are_exact_on_a_grid():
    config = config_of("spibb", count_bins=4, count_table_size=4 ** 3, spibb_n_wedge=1.0)
    obs = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 0, 0]], np.float32)
    data = {"observations": jnp.asarray(obs), "next_observations": jnp.asarray(obs),
            "rewards": jnp.zeros(4), "actions": jnp.asarray([0, 0, 2, 1], jnp.int32)}
    info = type("Info", (), {"spec": SPEC})()
    aux = spibb.prepare(config, data, info)
    counts = np.asarray(aux["table"])[np.asarray(spibb.cells(config, aux, jnp.asarray(obs)))]
    np.testing.assert_array_equal(counts, [[2, 0, 0], [2, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_kl_control_limits():
    """Large c: the backup is the prior's expectation of Q' and acting follows the prior; small c:
    the max (Q-learning)."""
    state = kl_control.init(config_of("kl_control"), SPEC, jax.random.PRNGKey(0))
    state = _bcq_state_like(state, np.log([0.7, 0.2, 0.1]))
    target = lambda: jnp.asarray([[[1.0], [5.0], [2.0]]])
    batch = {"next_observations": jnp.zeros((1, 3))}
    big = kl_control.next_value(config_of("kl_control", kl_coef=1e4), state, batch, None, target, dqn.SCALAR)
    small = kl_control.next_value(config_of("kl_control", kl_coef=1e-3), state, batch, None, target, dqn.SCALAR)
    np.testing.assert_allclose(float(big[0, 0]), 0.7 * 1 + 0.2 * 5 + 0.1 * 2, rtol=1e-3)
    np.testing.assert_allclose(float(small[0, 0]), 5.0, atol=1e-2)
    c = 0.5
    want = c * np.log(np.sum(np.array([0.7, 0.2, 0.1]) * np.exp(np.array([1.0, 5.0, 2.0]) / c)))
    got = kl_control.next_value(config_of("kl_control", kl_coef=c), state, batch, None, target, dqn.SCALAR)
    np.testing.assert_allclose(float(got[0, 0]), want, rtol=1e-5)


# ---------------------------------------------------------------- FQI on a tabular chain

S, A, GAMMA = 5, 2, 0.9


def chain_step(s, a):
    """A chain: action 1 moves right, 0 moves left; reward 1 for staying at the right end, 0.1 for
    moving left from the left end."""
    nxt = min(s + 1, S - 1) if a == 1 else max(s - 1, 0)
    reward = 1.0 if (s == S - 1 and a == 1) else (0.1 if (s == 0 and a == 0) else 0.0)
    return nxt, reward


def test_fqi_reaches_the_exact_optimal_q_of_its_dataset():
    # the dataset: every (s, a) once (a deterministic chain, so its empirical MDP is the chain)
    rows = [(s, a, *chain_step(s, a)) for s in range(S) for a in range(A)]
    eye = np.eye(S, dtype=np.float32)
    batch = {"observations": jnp.asarray(eye[[r[0] for r in rows]]),
             "actions": jnp.asarray([r[1] for r in rows], jnp.int32),
             "next_observations": jnp.asarray(eye[[r[2] for r in rows]]),
             "rewards": jnp.asarray([r[3] for r in rows], jnp.float32),
             "terminals": jnp.zeros(len(rows))}
    q_star = np.zeros((S, A))          # value iteration
    for _ in range(500):
        q_star = np.array([[chain_step(s, a)[1] + GAMMA * q_star[chain_step(s, a)[0]].max() for a in range(A)]
                           for s in range(S)])
    config = config_of("fqi", discount=GAMMA, hidden_dims=(64,), target_update_interval=300, critic_lr=3e-3)
    state = fqi.init(config, Spec((S,), "float32", A, True), jax.random.PRNGKey(0))
    step = jax.jit(lambda st: fqi.update(config, st, batch, jax.random.PRNGKey(0))[0])
    for _ in range(300 * 60):  # 60 iterations: gamma^60 ~ 2e-3 of the values' scale
        state = step(state)
    q = np.asarray(state.q.apply_fn({"params": state.q.params}, jnp.asarray(eye)))[..., 0]
    np.testing.assert_allclose(q, q_star, atol=0.05)
    assert np.all(q.argmax(-1) == q_star.argmax(-1))


# ---------------------------------------------------------------- Discrete(n, start) actions

def test_actions_of_a_shifted_discrete_space_are_shifted_back(minari_root, tmp_path):
    """Discrete(3, start=-1): the data's actions are stored 0..2 on the device and must reach the
    env (evaluation, collection from a checkpoint) as -1..1 again."""
    from algos.trainer import train_and_evaluate
    from algos.workdir import load_batched_policy, load_policy
    from data.collect import collect
    from tests import discrete_env
    discrete_env.register()
    rng = np.random.default_rng(0)
    expert = lambda obs, r, ep: -1 if r.random() < 0.9 else int(r.integers(-1, 2))
    collect("StitchPickStart-v0", expert, 400, "shift/pick-start/expert-v0", seed=0,
            ref_min_score=5 / 3, ref_max_score=5.0)
    config = config_of("bc_discrete", dataset="shift/pick-start/expert-v0", num_seeds=1, num_updates=300,
                       batch_size=64, log_interval=100, eval_interval=300, eval_episodes=4, progress_bar=False,
                       tensorboard=False, behaviour_lr=1e-2)
    results = train_and_evaluate(config, str(tmp_path / "run"))
    assert np.asarray(results["final_return"]).mean() == pytest.approx(5.0)  # every step action -1
    policy, _, meta = load_batched_policy(str(tmp_path / "run"))
    assert meta["policy_io"]["action_start"] == -1
    actions = policy(rng.uniform(-1, 1, (8, 2)).astype(np.float32))
    assert actions.dtype == np.int64 and np.all(actions == -1)
    assert load_policy(str(tmp_path / "run"))(np.zeros(2, np.float32), rng, 0) == -1
    del rng


def test_epsilon_random_action_noise_on_discrete_spaces():
    from data.collect import with_action_noise
    space = gym.spaces.Discrete(3, start=-1)
    noisy = with_action_noise(lambda obs, rng, ep: -1, space, 0.3)
    rng = np.random.default_rng(0)
    actions = np.array([noisy(None, rng, 0) for _ in range(3000)])
    assert set(np.unique(actions)) == {-1, 0, 1}
    # a random action replaces the policy's with probability 0.3 (and is -1 itself a third of the time)
    assert abs(np.mean(actions != -1) - 0.3 * 2 / 3) < 0.03
    with pytest.raises(Exception, match="probability"):
        with_action_noise(lambda obs, rng, ep: 0, space, 1.5)


# ---------------------------------------------------------------- refusals

def test_action_kind_mismatches_are_refused_both_ways(pendulum, discrete_data, tmp_path):
    from algos.common import StitchError
    from algos.trainer import train_and_evaluate
    from tests.conftest import tiny_config
    with pytest.raises(StitchError, match="continuous actions.*'dqn' needs discrete actions.*Fix"):
        train_and_evaluate(tiny_config("dqn"), str(tmp_path / "a"))
    with pytest.raises(StitchError, match="discrete actions.*'td3_bc' needs continuous actions.*Fix"):
        train_and_evaluate(tiny_config("td3_bc", dataset=discrete_data), str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def minatar_episodes(game="Breakout", steps=120, seed=0):
    import minatar.gym
    from data.collect import random_policy, roll_episodes
    if f"MinAtar/{game}-v1" not in gym.registry:
        minatar.gym.register_envs()
    env = gym.make(f"MinAtar/{game}-v1")
    return env, roll_episodes(env, random_policy(env.action_space), steps, seed)


def test_minatar_grids_train_through_the_cnn_and_an_mlp_config_is_refused(minari_root, tmp_path):
    pytest.importorskip("minatar")
    from algos.common import StitchError
    from algos.trainer import train_and_evaluate
    from data.tools import write_episodes
    env, episodes = minatar_episodes()
    write_episodes("minatar-test/breakout/random-v0", episodes, env.spec, env.action_space, env.observation_space,
                   (0.0, 10.0), {"tool": "test"}, "test")
    config = config_of("dqn", dataset="minatar-test/breakout/random-v0", observation_transform="none",
                       num_seeds=1, num_updates=20, log_interval=10, eval_interval=20, eval_episodes=1,
                       batch_size=16, progress_bar=False, tensorboard=False)
    with pytest.raises(StitchError, match="torso='mlp'.*\\(10, 10, 4\\).*--config.torso=cnn.*flatten"):
        train_and_evaluate(config, str(tmp_path / "mlp"))
    assert not (tmp_path / "mlp").exists()
    config.torso = "cnn"
    results = train_and_evaluate(config, str(tmp_path / "cnn"))
    assert results["env_id"] == "MinAtar/Breakout-v1" and np.isfinite(results["final_return"][0])
    from algos.trainer import restore
    import flax
    _, carry, _ = restore(str(tmp_path / "cnn"))
    assert any("Conv_0" in k for k in flax.traverse_util.flatten_dict(carry[0].q.params))


def test_the_minatar_preset_sizes_the_behaviour_classifier_like_the_q_network():
    """A preset that narrows the Q-network (minatar: the CNN then 128 units) narrows BCQ's and BC's
    classifier too; classic keeps 256x256 for both, and an explicit classifier width stays."""
    from configs import bc_discrete, bcq_discrete, dqn
    for module in (bcq_discrete, bc_discrete):
        c = module.get_config("minatar")
        assert c.torso == "cnn" and tuple(c.hidden_dims) == tuple(c.behaviour_hidden_dims) == (128,)
        assert tuple(module.get_config("classic").behaviour_hidden_dims) == (256, 256)
    dqn.PRESETS["test-both"] = {"hidden_dims": (64,), "behaviour_hidden_dims": (32,)}
    try:
        assert tuple(bcq_discrete.get_config("test-both").behaviour_hidden_dims) == (32,)
    finally:
        del dqn.PRESETS["test-both"]
