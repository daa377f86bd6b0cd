"""One run per workdir: a second run is refused naming the holder; a killed holder's lock is taken over."""
import os
import signal
import subprocess
import sys

import pytest

from algos import trainer
from algos.common import StitchError
from tests.conftest import REPO, tiny_config

HOLD = "import sys, time; from algos.workdir import WorkdirLock; WorkdirLock(sys.argv[1]); print('locked', flush=True); time.sleep(120)"


def test_a_second_run_is_refused_and_a_killed_holders_lock_is_taken_over(pendulum, tmp_path):
    workdir = str(tmp_path / "w")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, workdir], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StitchError, match=f"in use by another stitch run \\(pid {holder.pid}\\).*"
                                              f"new --workdir"):
            trainer.train_and_evaluate(tiny_config("bc", num_updates=10), workdir)
        assert sorted(os.listdir(workdir)) == [".lock"]  # nothing of the refused run was written
    finally:
        holder.send_signal(signal.SIGKILL)  # the holder dies without releasing anything
        holder.wait()
    results = trainer.train_and_evaluate(tiny_config("bc", num_updates=10), workdir)
    assert results["num_updates"] == 10
    # ...and a finished run leaves the workdir free: the re-run (a resume) takes the lock again.
    trainer.train_and_evaluate(tiny_config("bc", num_updates=10), workdir)
