"""Reliability probes (issue 11): damaged metrics and checkpoints, file-system faults, clean stops
on SIGINT, time-interval checkpoints, extending a finished run, and the first-contact messages."""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
import pytest

from algos import trainer
from algos import workdir as wd
from algos.common import StitchError
from tests.conftest import REPO, tiny_config


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def leaves(workdir):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(trainer.restore(str(workdir))[1])]


def assert_same_run(a, b):
    for x, y in zip(leaves(a), leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert read_rows(os.path.join(a, "metrics.csv")) == read_rows(os.path.join(b, "metrics.csv"))


# --- metrics.csv belongs to the checkpoints -------------------------------------------------

DAMAGE = {
    "garbage lines": lambda p: open(p, "a").write("garbage,,\nnot a row at all\n"),
    "a duplicated header": lambda p: open(p, "a").write(open(p).readline()),
    "bad bytes": lambda p: open(p, "ab").write(b"\xff\xfe\x00\x81 bad"),
    "deleted": os.remove,
    "rows cut": lambda p: open(p, "w").write("phase,step\n"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_metrics_csv_is_rebuilt_from_the_checkpoint(tmp_path, kind):
    path = str(tmp_path / "metrics.csv")
    runs = [(0, {}), (1, {})]
    log = wd.MetricsLog(path, ["train"], (0, 0), runs, {"loss"})
    for step in (10, 20):
        log.write("train", step, {"loss": np.array([step + 0.5, step + 1.5])})
    saved, good = log.saved(), read_rows(path)
    log.write("train", 30, {"loss": np.array([1.0, 2.0])})  # a row after the checkpoint: dropped
    DAMAGE[kind](path)
    with pytest.warns(UserWarning, match="was damaged.*rewrote its 4 rows"):
        wd.MetricsLog(path, ["train"], (0, 20), runs, {"loss"}, restored=json.loads(json.dumps(saved)))
    assert read_rows(path) == good


def test_an_intact_metrics_csv_resumes_without_a_warning(tmp_path, recwarn):
    path = str(tmp_path / "metrics.csv")
    log = wd.MetricsLog(path, ["train"], (0, 0), [(0, {"expectile": 0.7})], {"loss"})
    log.write("train", 10, {"loss": np.array([0.25])})
    saved, good = log.saved(), read_rows(path)
    log.write("train", 20, {"loss": np.array([0.5])})
    wd.MetricsLog(path, ["train"], (0, 10), [(0, {"expectile": 0.7})], {"loss"}, restored=saved)
    assert read_rows(path) == good and not [w for w in recwarn if "damaged" in str(w.message)]


def test_a_resume_under_code_that_logs_a_new_metric_says_so_not_damaged(tmp_path):
    # A run started before a metric was added (e.g. TD3+BC's actor_saturated) and resumed after.
    path = str(tmp_path / "metrics.csv")
    runs = [(0, {})]
    log = wd.MetricsLog(path, ["train"], (0, 0), runs, {"loss"})
    log.write("train", 10, {"loss": np.array([0.25])})
    saved = json.loads(json.dumps(log.saved()))
    with pytest.warns(UserWarning, match="logs other metrics.*added: saturated.*rewrote its 1 rows") as got:
        log = wd.MetricsLog(path, ["train"], (0, 10), runs, {"loss", "saturated"}, restored=saved)
    assert not [w for w in got if "damaged" in str(w.message)]
    log.write("train", 20, {"loss": np.array([0.5]), "saturated": np.array([0.125])})
    assert read_rows(path) == [["phase", "step", "run", "seed", "loss", "saturated"],
                               ["train", "10", "0", "0", "0.25", ""],
                               ["train", "20", "0", "0", "0.5", "0.125"]]


def test_a_run_resumed_over_a_damaged_csv_ends_like_an_uninterrupted_one(pendulum, tmp_path, monkeypatch):
    config = tiny_config("bc", num_updates=30)
    trainer.train_and_evaluate(config, str(tmp_path / "straight"))
    original_write = wd.MetricsLog.write

    def killed_at_20(self, phase, step, metrics):
        original_write(self, phase, step, metrics)
        if step == 20:  # after the checkpoint at 10 and 20
            raise KeyboardInterrupt

    monkeypatch.setattr(wd.MetricsLog, "write", killed_at_20)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    monkeypatch.setattr(wd.MetricsLog, "write", original_write)
    with open(tmp_path / "resumed" / "metrics.csv", "ab") as f:
        f.write(b"phase,step\n\xff garbage\n")
    with pytest.warns(UserWarning, match="metrics.csv was damaged"):
        trainer.train_and_evaluate(config, str(tmp_path / "resumed"))
    assert_same_run(str(tmp_path / "straight"), str(tmp_path / "resumed"))


# --- checkpoints verify against their checksums ------------------------------------------------

def test_flipped_checkpoint_bytes_fall_back_to_the_older_checkpoint(pendulum, tmp_path):
    config = tiny_config("bc", num_updates=30)
    straight, damaged = str(tmp_path / "straight"), str(tmp_path / "damaged")
    trainer.train_and_evaluate(config, straight)
    trainer.train_and_evaluate(config, damaged)
    ckpts = os.path.join(damaged, "checkpoints")
    assert sorted(int(s) for s in os.listdir(ckpts) if s.isdigit()) == [20, 30]
    newest = os.path.join(ckpts, "30")
    assert wd.verify_checkpoint(newest) is None
    # Flip bytes in the largest file of the newest checkpoint (the parameters' data).
    files = [os.path.join(r, f) for r, _, fs in os.walk(newest) for f in fs if f != wd.CHECKSUMS]
    target = max(files, key=os.path.getsize)
    with open(target, "r+b") as f:
        f.seek(os.path.getsize(target) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert "checksum mismatch" in wd.verify_checkpoint(newest)
    with pytest.warns(UserWarning, match="update 30 in .* is damaged.*using the one at update 20"):
        _, _, meta = trainer.restore(damaged)  # reading a run back picks the newest good checkpoint too
    assert meta["step"] == 20  # and says which one it read
    with pytest.warns(UserWarning, match="checkpoint at update 30 could not be restored \\(checksum "
                                         "mismatch.*resuming from update 20"):
        trainer.train_and_evaluate(config, damaged)  # re-run: retrains 20 -> 30
    assert os.path.isdir(os.path.join(ckpts, "damaged-30"))
    assert_same_run(straight, damaged)


# --- file-system faults: a message, not a traceback ---------------------------------------------

def test_a_truncated_config_json_is_a_clear_error(pendulum, tmp_path):
    config = tiny_config("bc", num_updates=10)
    trainer.train_and_evaluate(config, str(tmp_path))
    text = (tmp_path / "config.json").read_text()
    (tmp_path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(StitchError, match="config.json is damaged \\(not valid JSON.*Fix: "):
        trainer.train_and_evaluate(config, str(tmp_path))
    with pytest.raises(StitchError, match="config.json is damaged"):
        trainer.restore(str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10"]  # nothing was lost


def test_a_workdir_that_is_a_file_is_a_clear_error(pendulum, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(StitchError, match="notes.txt is a file, not a folder. Fix: "):
        trainer.train_and_evaluate(tiny_config("bc", num_updates=10), str(path))
    assert path.read_text() == "mine"


# Root writes anywhere, so as root the probe drops to `nobody` (after its imports: the
# interpreter may live under root's home).
PROBE = ("import os, sys; from algos.common import StitchError; from algos.workdir import WorkdirLock\n"
         "if os.geteuid() == 0:\n    os.setuid(65534)\n"
         "try:\n    WorkdirLock(sys.argv[1])\nexcept StitchError as e:\n    print(e)")


def test_a_read_only_workdir_is_a_clear_error():
    base = tempfile.mkdtemp()
    workdir = os.path.join(base, "run")
    try:
        os.chmod(base, 0o755)
        os.mkdir(workdir)
        os.chmod(workdir, 0o555)
        out = subprocess.run([sys.executable, "-c", PROBE, workdir], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
        assert "Traceback" not in out.stderr, out.stderr
        assert f"Cannot write to workdir {workdir} (PermissionError" in out.stdout
        assert "Fix: make it writable" in out.stdout
        assert os.listdir(workdir) == []
    finally:
        os.chmod(workdir, 0o755)
        subprocess.run(["rm", "-rf", base])


# --- clean stops, time-interval checkpoints -------------------------------------------------------

CLI = ["--config=configs/bc.py:pendulum", "--config.num_updates=200000", "--config.log_interval=100",
       "--config.eval_interval=200000", "--config.eval_episodes=0", "--config.hidden_dims=(16,16)",
       "--config.batch_size=32", "--config.num_seeds=2", "--config.progress_bar=False"]


def train_cli(workdir, interrupt=False):
    proc = subprocess.Popen([sys.executable, "train_offline.py", *CLI, f"--workdir={workdir}"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if interrupt:  # SIGINT as soon as the first chunk's metrics are written
        metrics = os.path.join(workdir, "metrics.csv")
        deadline = time.time() + 120
        while time.time() < deadline and not (os.path.exists(metrics) and len(read_rows(metrics)) > 1):
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def test_sigint_checkpoints_stops_cleanly_and_the_rerun_is_bit_identical(pendulum, tmp_path):
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    rc, out, err = train_cli(stopped, interrupt=True)
    assert rc == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    line = [l for l in err.splitlines() if l.startswith("stopped at update")]
    assert line and "; rerun the same command to resume" in line[0], err
    update = int(line[0].split()[3].rstrip(";"))
    assert 0 < update < 200000 and update % 100 == 0
    assert sorted(os.listdir(os.path.join(stopped, "checkpoints"))) == [str(update)]
    assert int(read_rows(os.path.join(stopped, "metrics.csv"))[-1][1]) == update
    rc, out, err = train_cli(stopped)  # the same command: resumes at `update`
    assert rc == 0 and f"Resuming from the checkpoint at update {update}" in out, err
    assert out.strip().splitlines()[-1].startswith(f"Outputs in {os.path.abspath(stopped)}: results.json")
    assert train_cli(straight)[0] == 0
    assert_same_run(straight, stopped)


def test_checkpoints_are_also_written_on_a_time_interval(pendulum, tmp_path):
    config = tiny_config("bc", num_updates=30, eval_interval=30, checkpoint_interval_s=1e-9)
    trainer.train_and_evaluate(config, str(tmp_path))
    # Every chunk ends past the interval: checkpoints after 10 and 20, not only the eval at 30.
    meta = lambda step: wd.checkpoint_manager(str(tmp_path)).restore(
        step, args=wd.ocp.args.Composite(meta=wd.ocp.args.JsonRestore())).meta
    assert sorted(int(s) for s in os.listdir(tmp_path / "checkpoints")) == [20, 30]  # max_to_keep=2
    assert meta(20)["phase_step"] == 20 and len(meta(20)["metrics"]["rows"]) == 2 * 2
    # The interval is not part of the experiment: changing it on resume is allowed.
    trainer.train_and_evaluate(tiny_config("bc", num_updates=30, eval_interval=30), str(tmp_path))


# --- re-running and extending a finished run -----------------------------------------------------

def test_a_noop_rerun_keeps_timings_and_a_longer_run_extends(pendulum, tmp_path):
    workdir, straight = str(tmp_path / "run"), str(tmp_path / "straight")
    first = trainer.train_and_evaluate(tiny_config("bc", num_updates=20), workdir)
    again = trainer.train_and_evaluate(tiny_config("bc", num_updates=20), workdir)
    for key in ("compile_time_s", "trace_time_s", "wall_time_s", "train_time_s"):
        assert again[key] == first[key] > 0
    with pytest.raises(StitchError, match="num_updates may only grow"):
        trainer.train_and_evaluate(tiny_config("bc", num_updates=10), workdir)
    longer = trainer.train_and_evaluate(tiny_config("bc", num_updates=40), workdir)
    assert longer["num_updates"] == 40 and [(e["field"], e["from"], e["to"]) for e in
                                             longer["extensions"]] == [("num_updates", 20, 40)]
    assert longer["compile_time_s"] > first["compile_time_s"]
    assert json.load(open(os.path.join(workdir, "config.json")))["num_updates"] == 40
    # BC has no schedule over its length: 20 updates then 20 more equal 40 from the start.
    trainer.train_and_evaluate(tiny_config("bc", num_updates=40), straight)
    assert_same_run(straight, workdir)


# --- first contact ---------------------------------------------------------------------------

def test_an_unknown_config_file_lists_the_algorithms():
    out = subprocess.run([sys.executable, "train_offline.py", "--config=configs/nope.py"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "configs/nope.py" in out.stderr and "configs/iql.py, " in out.stderr
    from algos import ALGOS
    assert all(f"configs/{name}.py" in out.stderr for name in ALGOS)


def test_collecting_from_a_checkpoint_prints_no_log_noise(pendulum, tmp_path):
    workdir = str(tmp_path / "run")
    trainer.train_and_evaluate(tiny_config("bc", num_updates=10), workdir)
    out = subprocess.run([sys.executable, "scripts/collect.py", "--env=Pendulum-v1",
                          f"--policy=checkpoint:{workdir}", "--num_steps=200",
                          "--dataset_id=test/quiet/collect-v0", "--ref_min_score=-1500", "--ref_max_score=0"], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [l for l in (out.stdout + out.stderr).splitlines() if l.strip()]
    assert not [l for l in lines if l.startswith(("I1", "I0", "INFO", "W1", "W0"))], lines
    assert lines[-1].startswith("Wrote test/quiet/collect-v0: ")


def test_a_workdir_from_before_a_new_config_field_resumes_with_its_default(tmp_path):
    config = tiny_config("bc", num_updates=10)
    wd.prepare_workdir(config, str(tmp_path))
    older = json.load(open(tmp_path / "config.json"))
    del older["compute_dtype"], older["checkpoint_interval_s"]  # fields added later
    json.dump(older, open(tmp_path / "config.json", "w"))
    wd.prepare_workdir(config, str(tmp_path))  # same experiment: accepted
    config.compute_dtype = "bfloat16"  # not the default the old run had: refused
    with pytest.raises(StitchError, match="compute_dtype"):
        wd.prepare_workdir(config, str(tmp_path))
