"""Off-policy evaluation against exact values: FQE (algos/fqe.py, fqe_discrete.py) on small
tabular MDPs whose policy values a linear solve gives."""
import gymnasium as gym
import numpy as np
import pytest

from algos.trainer import train_and_evaluate
from tests.conftest import make_dataset

S, GAMMA = 4, 0.9
NEXT = np.array([[1, 2], [2, 3], [3, 0], [0, 1]])     # deterministic s' = NEXT[s, a]
REWARD = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, -1.0], [0.0, 1.0]])


def exact_values(policy):
    """V^pi by solving (I - gamma P_pi) V = R_pi."""
    p = np.zeros((S, S))
    p[np.arange(S), NEXT[np.arange(S), policy]] = 1.0
    return np.linalg.solve(np.eye(S) - GAMMA * p, REWARD[np.arange(S), policy])


def tabular_episodes(rng, episodes=60, length=15):
    out = []
    for _ in range(episodes):
        s = [int(rng.integers(S))]
        a = rng.integers(2, size=length)
        for t in range(length):
            s.append(int(NEXT[s[-1], a[t]]))
        s = np.asarray(s)
        trunc = np.zeros(length, bool)
        trunc[-1] = True
        out.append({"observations": np.eye(S, dtype=np.float32)[s], "actions": a.astype(np.int64),
                    "rewards": REWARD[s[:-1], a], "terminations": np.zeros(length, bool), "truncations": trunc})
    return out


def fqe_config(algo, dataset, **overrides):
    import importlib
    c = importlib.import_module(f"configs.{algo}").get_config()
    c.update(dict(dataset=dataset, num_seeds=1, num_updates=6000, log_interval=500, eval_interval=6000,
                  hidden_dims=(64, 64), batch_size=128, critic_lr=1e-3, tau=0.05, discount=GAMMA,
                  observation_transform="none", progress_bar=False, checkpoint=False, tensorboard=False))
    c.update(overrides)
    return c


def test_fqe_discrete_matches_the_linear_solve(minari_root, tmp_path):
    episodes = tabular_episodes(np.random.default_rng(0))
    make_dataset("ope/tabular/random-v0", episodes, env=None, action_space=gym.spaces.Discrete(2),
                 observation_space=gym.spaces.Box(0, 1, (S,)))
    policies = [np.array([1, 1, 0, 1]), np.array([0, 0, 0, 0])]
    rows = np.concatenate([np.argmax(e["observations"][:-1], 1) for e in episodes])
    next_rows = np.concatenate([np.argmax(e["observations"][1:], 1) for e in episodes])
    path = tmp_path / "targets.npz"
    np.savez(path, actions=np.stack([p[rows] for p in policies], 1),
             next_actions=np.stack([p[next_rows] for p in policies], 1), dataset="ope/tabular/random-v0")
    config = fqe_config("fqe_discrete", "ope/tabular/random-v0", target_actions=str(path), sweep="policy_index=0,1")
    results = train_and_evaluate(config, str(tmp_path / "w"))
    starts = [int(np.argmax(e["observations"][0])) for e in episodes]
    for k, policy in enumerate(policies):
        exact = exact_values(policy)[starts].mean()
        assert results["final_metrics"]["fqe_value"][k] == pytest.approx(exact, rel=0.03), (k, exact)
    # the two policies' values differ by far more than the tolerance: the check can fail
    assert abs(exact_values(policies[0])[starts].mean() - exact_values(policies[1])[starts].mean()) > 1.0


def test_fqe_continuous_matches_the_linear_solve(minari_root, tmp_path):
    # Dynamics ignore the action (s' = s + 1 mod 4); reward = R(s) - (a - c_s)^2 with a in [-1, 1].
    base, centre = np.array([1.0, 0.0, 2.0, -1.0]), np.array([0.5, -0.5, 0.0, 0.8])
    rng = np.random.default_rng(1)
    episodes = []
    for _ in range(80):
        s = (int(rng.integers(S)) + np.arange(16)) % S
        a = rng.uniform(-1, 1, size=(15, 1))
        trunc = np.zeros(15, bool)
        trunc[-1] = True
        episodes.append({"observations": np.eye(S, dtype=np.float32)[s], "actions": a.astype(np.float32),
                         "rewards": base[s[:-1]] - (a[:, 0] - centre[s[:-1]]) ** 2,
                         "terminations": np.zeros(15, bool), "truncations": trunc})
    make_dataset("ope/tabular/continuous-v0", episodes, env=None,
                 action_space=gym.spaces.Box(-1, 1, (1,)), observation_space=gym.spaces.Box(0, 1, (S,)))
    policy = np.array([0.2, -0.5, 0.9, 0.0])  # pi(s): its reward R(s) - (pi(s) - c_s)^2
    rows = np.concatenate([np.argmax(e["observations"][:-1], 1) for e in episodes])
    next_rows = np.concatenate([np.argmax(e["observations"][1:], 1) for e in episodes])
    path = tmp_path / "targets.npz"
    np.savez(path, actions=policy[rows][:, None, None], next_actions=policy[next_rows][:, None, None])
    results = train_and_evaluate(fqe_config("fqe", "ope/tabular/continuous-v0", target_actions=str(path)),
                                 str(tmp_path / "w"))
    p = np.roll(np.eye(S), 1, axis=1)  # s -> s + 1
    exact = np.linalg.solve(np.eye(S) - GAMMA * p, base - (policy - centre) ** 2)
    starts = [int(np.argmax(e["observations"][0])) for e in episodes]
    assert results["final_metrics"]["fqe_value"][0] == pytest.approx(exact[starts].mean(), rel=0.05)


# --- importance sampling on a two-step bandit, against the hand computation ---------------
# Three logged episodes of two steps; behaviour mu(a) = 0.5, target pi(1) = 0.8, pi(0) = 0.2,
# so the per-step ratio is 1.6 for a = 1 and 0.4 for a = 0.
#   ep1: a = (1, 1), r = (1, 2)   ep2: a = (0, 1), r = (0, 2)   ep3: a = (1, 0), r = (1, 0)
ACTIONS = np.array([1, 1, 0, 1, 1, 0])
REWARDS = np.array([1.0, 2.0, 0.0, 2.0, 1.0, 0.0])
ENDS = np.array([0, 1, 0, 1, 0, 1])
LOG_RATIO = np.log(np.where(ACTIONS == 1, 0.8, 0.2) / 0.5)


def test_importance_sampling_on_a_two_step_bandit():
    from algos import ope
    # PDIS, gamma 1: (1.6*1 + 2.56*2) + (0.4*0 + 0.64*2) + (1.6*1 + 0.64*0) = 9.6, over 3 episodes
    assert ope.per_decision_is(REWARDS, LOG_RATIO, ENDS, 1.0) == pytest.approx(3.2)
    # gamma 0.5: (1.6 + 0.5*5.12) + (0.5*1.28) + 1.6 = 6.4, over 3
    assert ope.per_decision_is(REWARDS, LOG_RATIO, ENDS, 0.5) == pytest.approx(6.4 / 3)
    # WIS: weights (2.56, 0.64, 0.64), returns (3, 2, 1): 9.6 / 3.84
    assert ope.weighted_is(REWARDS, LOG_RATIO, ENDS, 1.0) == pytest.approx(2.5)
    # DR with q(s, a) = a and v = E_pi q = 0.8:
    #   ep1 0.8 + (2.56*1 + 1.6*0.8) = 4.64, ep2 0.8 + (0.64*1 + 0.4*0.8) = 1.76, ep3 0.8 + 1.6*0.8 = 2.08
    q, v = ACTIONS.astype(float), np.full(6, 0.8)
    assert ope.doubly_robust(REWARDS, LOG_RATIO, ENDS, 1.0, q, v) == pytest.approx(8.48 / 3)
    # ESS of (2.56, 0.64, 0.64): 3.84^2 / 7.3728
    out = ope.estimates(REWARDS, LOG_RATIO, ENDS, 1.0, q, v)
    assert out["ess"] == pytest.approx(2.0) and out["episodes"] == 3 and out["warning"] is None


def test_importance_sampling_is_exact_on_policy_and_warns_when_weights_collapse():
    from algos import ope
    rng = np.random.default_rng(0)
    rewards, ends = rng.normal(size=400), (np.arange(400) % 20 == 19).astype(float)
    returns = np.add.reduceat(rewards * 0.9 ** (np.arange(400) % 20), np.arange(0, 400, 20))
    zero = np.zeros(400)  # pi = mu: every estimator is the Monte-Carlo mean, ESS every episode
    for f in (ope.per_decision_is, ope.weighted_is):
        assert f(rewards, zero, ends, 0.9) == pytest.approx(returns.mean())
    assert ope.effective_sample_size(ope.trajectory_log_weights(zero, ends)) == pytest.approx(20)
    far = rng.normal(scale=3.0, size=400)  # a target far from the data: the weights collapse
    out = ope.estimates(rewards, far, ends, 0.9)
    assert out["ess"] < 2 and "collapsed" in out["warning"]


def test_ope_command_ranks_a_runs_checkpoints(pendulum, tmp_path):
    """scripts/ope.py end to end on the built-in data: FQE of every kept checkpoint of a tiny
    TD3+BC run in one program, target actions equal to the checkpoints' own, and the selection
    figures computed from the estimates and the online scores."""
    import json
    import os
    import subprocess
    import sys
    from tests.conftest import REPO, tiny_config
    run = tmp_path / "td3"
    train_and_evaluate(tiny_config("td3_bc", num_seeds=1, num_updates=30, eval_interval=10,
                                   keep_checkpoints=0), str(run))
    proc = subprocess.run([sys.executable, "-m", "scripts.ope", f"--workdir={run}", "--fqe_updates=200",
                           f"--out={tmp_path}/ope"], capture_output=True, text=True, cwd=REPO,
                          env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "ope" / "ope.json").read_text())
    assert [r["step"] for r in report["checkpoints"]] == [10, 20, 30]
    online = json.loads((run / "results.json").read_text())["eval"]
    assert [r["online"] for r in report["checkpoints"]] == [e["normalized_score"][0] for e in online]
    fqe = json.loads((tmp_path / "ope" / "fqe" / "results.json").read_text())
    assert [r["fqe_value"] for r in report["checkpoints"]] == fqe["final_metrics"]["fqe_value"]
    values, scores = [r["fqe_value"] for r in report["checkpoints"]], [r["online"] for r in report["checkpoints"]]
    sel = report["selection"]["fqe"]
    assert sel["regret_at_1"] == pytest.approx(max(scores) - scores[int(np.argmax(values))])
    from scipy import stats
    assert sel["spearman"] == pytest.approx(stats.spearmanr(values, scores).statistic)
    # the targets are the checkpoints' own deterministic actions at the dataset's states
    from algos.workdir import load_batched_policy
    from data.dataset import read_columns
    targets = np.load(tmp_path / "ope" / "targets.npz")
    arrays, _, ds = read_columns("stitch/pendulum/mixed-v0")
    policy, _, _ = load_batched_policy(str(run), 0, 20)
    expected = policy(arrays["observations"][:50]) / ds.action_space.high  # Pendulum: [-2, 2] -> [-1, 1]
    np.testing.assert_allclose(targets["actions"][:50, 1], expected, rtol=1e-5, atol=1e-6)
    assert "model selection by FQE: Spearman" in proc.stdout
    # TD3+BC's deterministic actor has no density: FQE only, and the report says why
    assert not report["importance_sampling"]["available"]
    assert "td3_bc's policy has no density" in report["importance_sampling"]["why"]
    assert "no importance sampling: td3_bc's policy has no density" in proc.stdout


def test_fqe_refuses_target_actions_that_do_not_fit(minari_root, tmp_path):
    from data.spec import StitchError
    make_dataset("ope/tabular/refuse-v0", tabular_episodes(np.random.default_rng(2), episodes=4), env=None,
                 action_space=gym.spaces.Discrete(2), observation_space=gym.spaces.Box(0, 1, (S,)))
    short = tmp_path / "short.npz"  # 4 episodes x 15 rows = 60 transitions; the file has 59
    np.savez(short, actions=np.zeros((59, 1), np.int64), next_actions=np.zeros((59, 1), np.int64))
    with pytest.raises(StitchError, match="has 59 rows, but dataset ope/tabular/refuse-v0 has 60"):
        train_and_evaluate(fqe_config("fqe_discrete", "ope/tabular/refuse-v0", target_actions=str(short)),
                           str(tmp_path / "a"))
    two = tmp_path / "two.npz"
    np.savez(two, actions=np.zeros((60, 2), np.int64), next_actions=np.zeros((60, 2), np.int64),
             dataset="ope/tabular/refuse-v0")
    with pytest.raises(StitchError, match=r"policy_index \[2\] is out of range.*0\.\.1"):
        train_and_evaluate(fqe_config("fqe_discrete", "ope/tabular/refuse-v0", target_actions=str(two),
                                      sweep="policy_index=0,2"), str(tmp_path / "b"))
    np.savez(two, actions=np.zeros((60, 2), np.int64), next_actions=np.zeros((60, 2), np.int64),
             dataset="ope/tabular/other-v0")
    with pytest.raises(StitchError, match="was made for dataset ope/tabular/other-v0"):
        train_and_evaluate(fqe_config("fqe_discrete", "ope/tabular/refuse-v0", target_actions=str(two)),
                           str(tmp_path / "c"))


def _discounted_returns(arrays, gamma):
    from data.diagnostics import episode_bounds
    starts, stops = episode_bounds(arrays["episode_ends"])
    return np.array([np.sum(gamma ** np.arange(b - a) * arrays["rewards"][a:b]) for a, b in zip(starts, stops)])


def test_importance_sampling_of_the_behaviour_policy_itself(pendulum, tmp_path):
    """IS wired end to end: a Gaussian-BC run evaluated with itself as the behaviour policy has
    log-ratio 0 at its last checkpoint, so PDIS and WIS are the data's mean discounted return and
    the ESS is every episode; the earlier checkpoint's ratio is not 0, and each estimator gets
    its own model-selection figures against the online scores."""
    from algos import ope
    from data.dataset import read_columns
    from scripts import ope as ope_cli
    from tests.conftest import tiny_config
    run = tmp_path / "bc"
    train_and_evaluate(tiny_config("bc", policy_head="gaussian", num_seeds=1, num_updates=30, eval_interval=10,
                                   keep_checkpoints=0), str(run))
    report = ope_cli.evaluate(str(run), fqe_updates=50, out=str(tmp_path / "ope"), behaviour=str(run),
                              fqe_overrides={"hidden_dims": (16, 16)})
    assert report["importance_sampling"]["available"]
    arrays, _, _ = read_columns("stitch/pendulum/mixed-v0")
    returns = _discounted_returns(arrays, report["discount"])
    last, first = report["checkpoints"][-1], report["checkpoints"][0]
    assert last["step"] == 30
    assert last["per_decision_is"] == pytest.approx(returns.mean(), rel=1e-6)
    assert last["weighted_is"] == pytest.approx(returns.mean(), rel=1e-6)
    assert last["ess"] == pytest.approx(len(returns)) and last["episodes"] == len(returns)
    assert first["ess"] < len(returns) - 1e-6  # a different policy: unequal weights
    assert np.isfinite(last["doubly_robust"]) and np.isfinite(first["doubly_robust"])
    assert set(report["selection"]) == {"fqe", "per_decision_is", "weighted_is", "doubly_robust"}
    scores = [r["online"] for r in report["checkpoints"]]
    wis = [r["weighted_is"] for r in report["checkpoints"]]
    assert report["selection"]["weighted_is"]["regret_at_1"] == pytest.approx(max(scores) - scores[int(np.argmax(wis))])
    text = ope_cli.summary(report)
    assert "| step | FQE value | PDIS | WIS | DR | ESS | online score |" in text
    assert f"| 30 | {last['fqe_value']:.2f} | {last['per_decision_is']:.3g} |" in text
    assert "model selection by weighted_is: Spearman" in text and "IS, WIS and DR estimate" in text
    # a collapse is one line naming the checkpoints and their ESS
    rows = [dict(r, is_warning=None) for r in report["checkpoints"]]
    for r, ess in zip(rows[:2], (1.0, 1.5)):
        r.update(ess=ess, is_warning=ope.estimates(np.ones(4), np.array([0.0, 0.0, 9.0, 0.0]) * ess,
                                                   np.array([0, 1, 0, 1.0]), 1.0)["warning"])
    text = ope_cli.summary(dict(report, checkpoints=rows))
    assert text.count("warning:") == 1 and "warning: at 2 of 3 checkpoints importance weights collapsed: ESS" in text
    # FQE beyond max|r| / (1 - gamma) is flagged as diverged
    arrays_bound = np.max(np.abs(arrays["rewards"])) / (1 - report["discount"])
    assert report["value_bound"] == pytest.approx(arrays_bound)
    assert not any(r["fqe_diverged"] for r in report["checkpoints"])  # 50 updates from zero: far below
    rows[1].update(fqe_diverged=True, fqe_q_data=2 * arrays_bound)
    text = ope_cli.summary(dict(report, checkpoints=rows))
    assert f"warning: FQE diverged at 1 of 3 checkpoints: its Q exceeds max|r| / (1 - gamma) = {arrays_bound:.1f}" in text
    assert f"(Q on the data's actions up to {2 * arrays_bound:.1f})" in text


def test_ope_fits_a_behaviour_policy_and_refuses_a_mismatched_one(pendulum, minari_root, tmp_path):
    """Without --behaviour, a Gaussian BC is fitted on the dataset (its own workdir, the given
    number of updates) and the IS estimates are finite; a behaviour run of another dataset, a
    step that was not kept, and a run that has not finished (no results.json) get clear answers."""
    import json
    import shutil
    from algos.workdir import load_config
    from data.spec import StitchError
    from scripts import ope as ope_cli
    from tests.conftest import tiny_config
    run = tmp_path / "iql"
    train_and_evaluate(tiny_config("iql", num_seeds=1, num_updates=20, eval_interval=10, keep_checkpoints=0),
                       str(run))
    report = ope_cli.evaluate(str(run), fqe_updates=20, out=str(tmp_path / "ope"), behaviour_updates=40,
                              fqe_overrides={"hidden_dims": (16, 16)})
    behaviour = load_config(str(tmp_path / "ope" / "behaviour"))
    assert (behaviour.algo, behaviour.policy_head, behaviour.num_updates) == ("bc", "gaussian", 40)
    for row in report["checkpoints"]:
        assert all(np.isfinite(row[k]) for k in ("per_decision_is", "weighted_is", "doubly_robust", "ess"))
        assert 1.0 <= row["ess"] <= row["episodes"]
    other = tmp_path / "other_behaviour"
    shutil.copytree(tmp_path / "ope" / "behaviour", other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"] = "stitch/elsewhere-v0"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(StitchError, match=r"fitted on stitch/elsewhere-v0, not stitch/pendulum/mixed-v0\. Fix"):
        ope_cli.evaluate(str(run), fqe_updates=20, out=str(tmp_path / "ope2"), behaviour=str(other))
    with pytest.raises(StitchError, match=r"keeps checkpoints at \[10, 20\], not at \[15\]\. Fix: pick"):
        ope_cli.evaluate(str(run), steps=["15"], fqe_updates=20, out=str(tmp_path / "ope3"))
    (run / "results.json").unlink()  # as while the run is still training
    report = ope_cli.evaluate(str(run), fqe_updates=20, out=str(tmp_path / "ope"), behaviour_updates=40,
                              fqe_overrides={"hidden_dims": (16, 16)})
    assert [r["online"] for r in report["checkpoints"]] == [None, None] and "selection" not in report


def test_log_prob_contract_is_the_policy_density():
    """The contract's optional log_prob is the Gaussian policy's density, by hand, for the
    algorithms with one; deterministic actors have none (and MSE BC refuses with the fix)."""
    import jax
    from algos import get_algo
    from algos.common import Spec, StitchError, contract
    from tests.conftest import tiny_config
    spec = Spec(observation_shape=(3,), observation_dtype="float32", action_dim=2, discrete=False)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    acts = jax.random.uniform(jax.random.PRNGKey(2), (5, 2), minval=-0.9, maxval=0.9)
    for name in ("td3_bc", "rebrac"):
        assert contract(get_algo(name)).log_prob is None
    for name, extra in (("iql", {}), ("bc", {"policy_head": "gaussian"})):
        config = tiny_config(name, **extra)
        algo = contract(get_algo(name))
        state = algo.module.init(config, spec, jax.random.PRNGKey(0))
        state = state.replace(actor=state.actor.replace(params=jax.tree_util.tree_map(
            lambda p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(3), p.shape), state.actor.params)))
        dist = state.actor.apply_fn({"params": state.actor.params}, obs)
        std = np.exp(np.asarray(dist.log_std))
        by_hand = np.sum(-0.5 * ((np.asarray(acts) - np.asarray(dist.mean)) / std) ** 2 - np.log(std)
                         - 0.5 * np.log(2 * np.pi), axis=-1)
        np.testing.assert_allclose(algo.log_prob(config, state, obs, acts), by_hand, rtol=1e-5)
    config = tiny_config("sac_n")  # squashed: the Gaussian of atanh(a) minus log|d tanh/du|
    algo = contract(get_algo("sac_n"))
    state = algo.module.init(config, spec, jax.random.PRNGKey(0))
    dist = state.actor.apply_fn({"params": state.actor.params}, obs)
    u, std = np.arctanh(np.asarray(acts, np.float64)), np.exp(np.asarray(dist.log_std, np.float64))
    by_hand = np.sum(-0.5 * ((u - np.asarray(dist.mean)) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
                     - np.log(1 - np.asarray(acts, np.float64) ** 2), axis=-1)
    np.testing.assert_allclose(algo.log_prob(config, state, obs, acts), by_hand, rtol=1e-4)
    with pytest.raises(StitchError, match="policy_head=gaussian"):
        bc = contract(get_algo("bc"))
        config = tiny_config("bc")
        bc.log_prob(config, bc.module.init(config, spec, jax.random.PRNGKey(0)), obs, acts)
    with pytest.raises(StitchError, match="diffusion policy has no density"):  # a surrogate is not a density
        iql = contract(get_algo("iql"))
        config = tiny_config("iql", policy_head="diffusion")
        iql.log_prob(config, iql.module.init(config, spec, jax.random.PRNGKey(0)), obs, acts)


def test_fqe_value_rotates_through_every_initial_state():
    """With more initial states than a batch, each update evaluates V on a batch of them in
    rotation: over `count` consecutive updates every initial state is evaluated exactly
    batch_size times (so a chunk's mean is V over all of them), from any starting update."""
    import ml_collections
    from algos.fqe import FQEState, initial_rows
    count, rows = 13, 5
    state = FQEState(critic=None, target_params=None, initial_observations=np.arange(count)[:, None] * 1.0,
                     initial_actions=np.arange(count)[:, None] * 1.0, step=0)
    config = ml_collections.ConfigDict({"batch_size": rows})
    for start in (0, 7, 10**6):
        seen = np.concatenate([np.asarray(initial_rows(config, state, start + k)[0][:, 0]) for k in range(count)])
        assert np.bincount(seen.astype(int), minlength=count).tolist() == [rows] * count
    few = ml_collections.ConfigDict({"batch_size": 64})
    assert np.asarray(initial_rows(few, state, 3)[0]).shape == (count, 1)  # all of them when they fit


def test_pooled_selection_ranks_several_runs_checkpoints_together():
    from data.spec import StitchError
    from scripts.ope import pooled
    a = {"workdir": "a", "dataset": "d", "checkpoints": [
        {"step": 1, "fqe_value": 1.0, "weighted_is": 5.0, "online": 10.0},
        {"step": 2, "fqe_value": 3.0, "weighted_is": 1.0, "online": 30.0}]}
    b = {"workdir": "b", "dataset": "d", "checkpoints": [
        {"step": 1, "fqe_value": 2.0, "online": 40.0}, {"step": 2, "fqe_value": 0.0, "online": None}]}
    out = pooled([a, b])
    assert out["checkpoints"] == 3 and set(out["selection"]) == {"fqe"}  # b has no IS: FQE only
    fqe = out["selection"]["fqe"]
    assert (fqe["picked"], fqe["best"], fqe["regret_at_1"]) == ("a@2", "b@1", 10.0)
    assert fqe["spearman"] == pytest.approx(0.5)  # ranks (1, 3, 2) against (1, 2, 3)
    assert set(pooled([a])["selection"]) == {"fqe", "weighted_is"}
    with pytest.raises(StitchError, match="on \\['d', 'e'\\]. Fix: pool"):
        pooled([a, dict(b, dataset="e")])


def test_importing_the_ope_command_defines_no_flags():
    """scripts.ope is imported by tests in one process with other scripts that define absl flags
    of the same names (--workdir): it defines its own only when run as a command."""
    from absl import flags
    import scripts.ope  # noqa: F401
    assert "fqe_updates" not in flags.FLAGS and "pool" not in flags.FLAGS


def test_pool_refuses_files_that_are_not_ope_reports(tmp_path):
    import os
    import subprocess
    import sys
    from tests.conftest import REPO
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    for path in (tmp_path / "missing.json", bad):
        proc = subprocess.run([sys.executable, "-m", "scripts.ope", f"--pool={path}"], capture_output=True,
                              text=True, cwd=REPO, env=os.environ.copy(), timeout=300)
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: ") and "Fix: give the ope.json files scripts.ope wrote" in proc.stderr
