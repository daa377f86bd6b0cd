"""Scale out on existing engines: the run axis over local devices, and over processes."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

from algos import trainer
from tests.conftest import REPO, tiny_config

SHARDED = """
import sys
import jax
from algos import trainer
from tests.test_scale import _iql
seen = []
real = trainer.shard_runs
def spy(tree, n):
    out = real(tree, n)
    seen.append(len(jax.tree_util.tree_leaves(out)[0].sharding.device_set))
    return out
trainer.shard_runs = spy
trainer.train_and_evaluate(_iql(), sys.argv[1])
print("DEVICES", jax.local_device_count(), max(seen))
"""


def _iql(**overrides):
    """IQL, 2 seeds x 2 grid points = 4 runs."""
    return tiny_config("iql", num_seeds=2, num_updates=20, sweep="expectile=0.6,0.9", **overrides)


def test_runs_shard_over_four_local_devices(pendulum, tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run([sys.executable, "-c", SHARDED, str(tmp_path / "four")],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DEVICES 4 4" in proc.stdout  # 4 runs, one per device
    sharded = json.loads((tmp_path / "four" / "results.json").read_text())
    alone = trainer.train_and_evaluate(_iql(), str(tmp_path / "one"))
    np.testing.assert_allclose(sharded["final_return"], alone["final_return"], rtol=1e-4)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_each_train_their_share_into_one_results_file(pendulum, tmp_path):
    port = _free_port()
    args = [f"--config={REPO}/configs/iql.py:pendulum", "--config.num_seeds=2", "--config.num_updates=20",
            "--config.batch_size=32", "--config.log_interval=10", "--config.eval_interval=10",
            "--config.eval_episodes=1", "--config.hidden_dims=(16,16)", "--config.progress_bar=False",
            "--config.sweep=expectile=0.6,0.9", f"--workdir={tmp_path / 'multi'}",
            f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2"]
    procs = [subprocess.Popen([sys.executable, os.path.join(REPO, "train_offline.py"), *args,
                               f"--process_id={i}"], cwd=REPO, env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    multi = json.loads((tmp_path / "multi" / "results.json").read_text())
    assert multi["num_processes"] == 2 and multi["num_runs"] == 4 and len(multi["final_return"]) == 4
    for i in range(2):  # each process trained and checkpointed its own two runs
        assert os.listdir(tmp_path / "multi" / "checkpoints" / f"process-{i}")
        assert (tmp_path / "multi" / f"metrics.process-{i}.csv").exists()
    # The same runs as one process trains them.
    alone = trainer.train_and_evaluate(_iql(eval_interval=10), str(tmp_path / "one"))
    np.testing.assert_allclose(multi["final_return"], alone["final_return"], rtol=1e-4)
    assert [e["step"] for e in multi["eval"]] == [10, 20]
