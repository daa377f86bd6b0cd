"""Dataset diagnostics (data/diagnostics.py, scripts/diagnose.py) against hand computations."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data import diagnostics
from tests.conftest import REPO, make_dataset, random_episode


def test_episode_returns_and_lengths():
    rewards = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    ends = np.array([0, 1, 0, 0, 1, 1])
    np.testing.assert_allclose(diagnostics.episode_returns(rewards, ends), [3.0, 12.0, 6.0])
    np.testing.assert_array_equal(diagnostics.episode_lengths(ends), [2, 3, 1])


def test_trajectory_quality_is_the_normalised_mean_return():
    # mean return 40, random 10, expert 110: (40 - 10) / (110 - 10)
    assert diagnostics.trajectory_quality([20.0, 60.0], 10.0, 110.0) == pytest.approx(0.3)
    assert diagnostics.trajectory_quality([110.0], 10.0, 110.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expert_return > random_return"):
        diagnostics.trajectory_quality([1.0], 5.0, 5.0)


def test_discretise_matches_the_papers_digitize_edges():
    # 5 edges over [0, 1]: 0, .25, .5, .75, 1 -> np.digitize codes
    codes = diagnostics.discretise(np.array([[-0.1], [0.0], [0.3], [0.74], [0.75], [1.0], [2.0]]),
                                   np.array([0.0]), np.array([1.0]), bins=5)
    np.testing.assert_array_equal(codes[:, 0], [0, 1, 2, 3, 4, 5, 5])


def test_saco_on_a_constructed_dataset():
    # States on a 0..1 grid of 11 edges (codes 1..11), one action dimension.
    # Dataset D: 6 rows, of which (0.0, 0), (0.0, 0) and (0.02, 0) share one cell (0.02 rounds into
    # the 0.0 cell), so 4 unique; reference R: D plus 4 new cells = 8 unique. SACo = 4 / 8.
    obs_d = np.array([[0.0], [0.0], [0.02], [0.5], [1.0], [0.5]])
    act_d = np.array([[0.0], [0.0], [0.0], [0.0], [0.0], [1.0]])
    obs_r = np.concatenate([obs_d, [[0.35], [0.65], [0.95], [0.35]]])  # off the edges: no round-off
    act_r = np.concatenate([act_d, [[0.0], [0.0], [0.0], [1.0]]])
    low, high = diagnostics.shared_limits(np.c_[obs_d, act_d], np.c_[obs_r, act_r])
    np.testing.assert_array_equal(low, [0.0, 0.0])
    np.testing.assert_array_equal(high, [1.0, 1.0])
    u_d = diagnostics.count_state_actions(obs_d, act_d, low, high, bins=11)
    u_r = diagnostics.count_state_actions(obs_r, act_r, low, high, bins=11)
    assert (u_d, u_r) == (4, 8) and u_d / u_r == 0.5


def test_hyperloglog_estimates_within_its_error():
    rng = np.random.default_rng(0)
    distinct = rng.integers(0, 1 << 40, size=(60_000, 3))
    rows = np.concatenate([distinct, distinct[:20_000]])  # 20k duplicates must not count
    exact = diagnostics.unique_count(rows)
    assert exact == 60_000
    sketch = diagnostics.HyperLogLog(14).update(rows)
    assert abs(len(sketch) - exact) / exact < 3 * 1.04 / np.sqrt(1 << 14)  # three standard errors
    # small sets: linear counting is near exact; merging two halves counts the union
    a = diagnostics.HyperLogLog(14).update(distinct[:300])
    b = diagnostics.HyperLogLog(14).update(distinct[200:500])
    assert abs(len(a) - 300) <= 3 and abs(len(a.merge(b)) - 500) <= 5


def test_action_coverage():
    cov = diagnostics.action_coverage(np.array([[-1.0, 0.0], [-0.9, 0.05], [1.0, 0.0]]),
                                      np.array([-1.0, -1.0]), np.array([1.0, 1.0]), bins=4)
    # dim 0 visits bins 0 and 3 of 4; dim 1 only bin 2 (0.0 and 0.05 are in [0, 0.5))
    assert cov["fraction_of_bins_visited"] == [0.5, 0.25]
    disc = diagnostics.action_coverage(np.array([0, 0, 2, 2]), num_actions=4)
    assert disc["action_frequency"] == [0.5, 0.0, 0.5, 0.0] and disc["fraction_of_actions_taken"] == 0.5


def _diagnose(*args):
    return subprocess.run([sys.executable, "-m", "scripts.diagnose", *args], capture_output=True,
                          text=True, cwd=REPO, env=os.environ.copy(), timeout=300)


def test_diagnose_command_prints_and_saves(minari_root, tmp_path):
    rng = np.random.default_rng(1)
    small = [random_episode(10, rng=rng) for _ in range(2)]
    big = small + [random_episode(20, rng=rng) for _ in range(2)]
    for ep, r in zip(big, (1.0, 3.0, 5.0, 7.0)):
        ep["rewards"] = np.full(len(ep["rewards"]), r / len(ep["rewards"]))
    make_dataset("diag/pendulum/small-v0", small, ref_scores=(0.0, 8.0))
    make_dataset("diag/pendulum/big-v0", big, ref_scores=(0.0, 8.0))
    proc = _diagnose("--datasets=diag/pendulum/small-v0", "--reference=diag/pendulum/big-v0",
                     f"--png={tmp_path}/d.png", f"--json={tmp_path}/d.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads((tmp_path / "d.json").read_text())
    small_f, big_f = out["diag/pendulum/small-v0"], out["diag/pendulum/big-v0"]
    # returns 1 and 3 (mean 2) against random 0 and expert 8; random float rows are all unique
    assert small_f["tq"] == pytest.approx(2.0 / 8.0) and big_f["tq"] == pytest.approx(4.0 / 8.0)
    assert (small_f["unique_state_actions"], big_f["unique_state_actions"]) == (20, 60)
    assert small_f["saco"] == pytest.approx(20 / 60) and big_f["episode_length"]["max"] == 20
    assert "| diag/pendulum/small-v0 | 2 | 20 | 1.0 / 2.0 / 3.0 | 10 / 10 / 10 | 0.250 | 20 | 0.333 |" in proc.stdout
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_diagnose_refuses_datasets_of_different_tasks(minari_root):
    make_dataset("diag/pendulum/other-v0", [random_episode(5, obs_dim=4, rng=np.random.default_rng(2))],
                 env=None, observation_space=__import__("gymnasium").spaces.Box(-9, 9, (4,)),
                 action_space=__import__("gymnasium").spaces.Box(-2, 2, (1,)))
    make_dataset("diag/pendulum/one-v0", [random_episode(5, rng=np.random.default_rng(3))])
    proc = _diagnose("--datasets=diag/pendulum/one-v0,diag/pendulum/other-v0")
    assert proc.returncode == 2
    assert "different observation/action shapes" in proc.stderr and "diagnose each task separately" in proc.stderr
