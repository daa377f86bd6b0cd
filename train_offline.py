"""Train an offline RL agent: `python train_offline.py --config=configs/iql.py --workdir=runs/x`.

With no flags it trains IQL on the built-in Pendulum dataset (built on first use).
Any config field can be overridden: --config.num_seeds=5 --config.expectile=0.9.
"""
import os
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from algos.common import StitchError

_HERE = os.path.dirname(os.path.abspath(__file__))
config_flags.DEFINE_config_file(
    "config", os.path.join(_HERE, "configs", "iql.py") + ":pendulum",
    "Config file, configs/<algo>.py, optionally with a domain preset: configs/iql.py:pendulum.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Output folder (default: runs/<algo>_<dataset>_seed<seed>). "
                    "Re-running on the same workdir resumes from its last checkpoint.")
FLAGS = flags.FLAGS


def default_workdir(config):
    name = re.sub(r"[^A-Za-z0-9]+", "-", config.dataset).strip("-")
    return os.path.join("runs", f"{config.algo}_{name}_seed{config.seed}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS["verbosity"].present:  # orbax logs every checkpoint step at INFO
        logging.set_verbosity(logging.WARNING)
    from algos.trainer import train_and_evaluate  # after flag parsing: keeps --help fast

    config = FLAGS.config
    try:
        train_and_evaluate(config, FLAGS.workdir or default_workdir(config))
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
