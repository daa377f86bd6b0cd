"""Train an offline RL agent: `python train_offline.py --config=configs/iql.py --workdir=runs/x`.

With no flags it trains IQL on the built-in Pendulum dataset (built on first use).
Any config field can be overridden: --config.num_seeds=5 --config.expectile=0.9.
"""
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

from algos.common import (StitchError, default_compile_cache, quiet_logs, set_xla_flags,
                          use_compile_cache)

_HERE = os.path.dirname(os.path.abspath(__file__))


def _bad_override(err):
    """Print a config-flag mistake (misspelt field, unknown preset, bad value) and exit 2."""
    lines = [l for l in str(err).replace("\\n", "\n").splitlines() if l.strip()]
    message = lines[-1].strip("'\"").replace("\\'", "'") if lines else repr(err)
    print(f"error: bad --config flag: {message}\nFix: use a field of configs/base.py or "
          f"configs/<algo>.py, and a preset from configs/base.py PRESETS or the algorithm's "
          f"DATASET_PRESETS.", file=sys.stderr)
    sys.exit(2)


try:  # ml_collections reads --config.* overrides from argv while defining the flag
    config_flags.DEFINE_config_file(
        "config", os.path.join(_HERE, "configs", "iql.py") + ":pendulum",
        "Config file, configs/<algo>.py, optionally with a domain preset: configs/iql.py:pendulum.",
        lock_config=True)
except (AttributeError, KeyError, TypeError, ValueError) as err:
    _bad_override(err)
flags.DEFINE_string("coordinator_address", None,
                    "Several processes (hosts) train one run set: host:port of process 0's "
                    "coordinator (jax.distributed); each process trains its share of the runs.")
flags.DEFINE_integer("num_processes", None, "with --coordinator_address: how many processes")
flags.DEFINE_integer("process_id", None, "with --coordinator_address: this process's index")
flags.DEFINE_bool("distributed", False, "initialise jax.distributed from the cluster's environment "
                  "(SLURM, Open MPI, TPU pods: jax.distributed.initialize() with no arguments)")
flags.DEFINE_string("workdir", None, "Output folder (default: runs/<algo>_<dataset>_seed<seed>). "
                    "Re-running on the same workdir resumes from its last checkpoint.")
flags.DEFINE_string("compile_cache", None, "Folder of JAX's persistent compilation cache, so a "
                    "re-run or resume loads compiled programs instead of compiling them again "
                    "(default: $STITCH_COMPILE_CACHE or ~/.cache/stitch/jax-compile); 'off' disables it.")
FLAGS = flags.FLAGS


def default_workdir(config):
    name = re.sub(r"[^A-Za-z0-9]+", "-", config.dataset).strip("-")
    return os.path.join("runs", f"{config.algo}_{name}_seed{config.seed}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    quiet_logs()
    use_compile_cache(FLAGS.compile_cache or default_compile_cache())
    if FLAGS.coordinator_address or FLAGS.distributed:  # before any computation touches a device
        import jax
        jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    from algos.trainer import RunStopped, train_and_evaluate  # after flag parsing: keeps --help fast

    try:
        config = FLAGS.config
        config.algo  # a config file that failed to load raises only when first read
    except OSError as err:
        _missing_config_file(err)
    workdir = FLAGS.workdir or default_workdir(config)
    set_xla_flags(config)  # before the first computation, which reads them
    try:
        # a field set on the command line wins over the per-task tuning that ':auto' picks
        train_and_evaluate(config, workdir, keep=set(FLAGS["config"].override_values))
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except RunStopped as stopped:
        print(str(stopped), file=sys.stderr)
        sys.exit(stopped.exit_code)
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C
        print(f"interrupted; rerun the same command to resume from the last checkpoint in {workdir} "
              f"(if one was written).", file=sys.stderr)
        sys.exit(130)


def _missing_config_file(err):
    """A --config path that does not exist: name it and list the registered algorithms."""
    from algos import ALGOS
    print(f"error: bad --config flag: {str(err).splitlines()[-1].strip()}\nFix: pass one of the "
          f"algorithm config files: " + ", ".join(f"configs/{name}.py" for name in sorted(ALGOS))
          + " (optionally with a preset: configs/iql.py:pendulum).", file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's parser, with config-override mistakes as clean errors (no traceback)."""
    try:
        return FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as err:
        _bad_override(err)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
