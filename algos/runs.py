"""The run axis: seeds x the points of a hyperparameter grid, trained as one vmapped program.

`--config.sweep="expectile=0.6,0.7,0.9 temperature=3,10"` (fields separated by spaces, values
by commas) makes the grid of their product. Run r is grid point r // num_seeds with seed index
r % num_seeds, and seed index s always draws from fold_in(PRNGKey(config.seed), s): a grid
point's runs are the very runs that config would train alone.

Swept values reach the algorithm as per-run scalars inside the compiled program (`bind`), so
only numeric fields that shape nothing can be swept; learning rates live in optimizer state
(algos.common.make_optimizer) and sweep like any other number.
"""
import itertools
from typing import Dict, List

import jax
import jax.numpy as jnp
import numpy as np

from algos.common import StitchError

# Read by the driver or the data pipeline on the host, or they set shapes: one value per program.
HOST_FIELDS = ("seed", "num_seeds", "batch_size", "log_interval", "eval_interval", "eval_episodes",
               "reward_scale", "reward_shift", "bc_top_fraction")


class RunConfig:
    """A config in which the swept fields are this run's values (traced in the program)."""

    def __init__(self, config, hparams: Dict[str, jnp.ndarray]):
        self._config, self._hparams = config, hparams

    def __getattr__(self, name):
        hparams = self.__dict__["_hparams"]
        return hparams[name] if name in hparams else getattr(self.__dict__["_config"], name)

    __getitem__ = __getattr__

    def __contains__(self, name):
        return name in self._config

    def get(self, name, default=None):
        return self[name] if name in self else default


def bind(config, hparams):
    """The config one run sees: itself when nothing is swept."""
    return RunConfig(config, hparams) if hparams else config


def _number(text, field, kind):
    try:
        value = float(text)
    except ValueError:
        raise StitchError(f"config.sweep: '{text}' is not a number (field {field}). Fix: write "
                          f"numbers separated by commas, e.g. --config.sweep=\"{field}=0.1,0.3\".")
    if kind is int:
        if value != int(value):
            raise StitchError(f"config.sweep: {field} is an integer field but got '{text}'. Fix: "
                              f"sweep it over integers.")
        return int(value)
    return value


def parse_sweep(config, fixed_fields=()) -> List[dict]:
    """The grid points of `config.sweep` in order (the last field varies fastest); [{}] if none.

    `fixed_fields`: fields the algorithm reads on the host (its phases' step counts, its
    samplers' fields), refused like HOST_FIELDS.
    """
    text = config.get("sweep", "") or ""
    fields, values = [], []
    for item in text.split():
        if "=" not in item:
            raise StitchError(f"config.sweep: '{item}' is not field=v1,v2,... Fix: e.g. "
                              f"--config.sweep=\"expectile=0.6,0.7 temperature=3,10\".")
        field, raw = item.split("=", 1)
        if field not in config:
            raise StitchError(f"config.sweep names '{field}', which is not a field of this config. "
                              f"Fix: sweep fields of configs/base.py or configs/{config.algo}.py.")
        current = config[field]
        if field in HOST_FIELDS or field in fixed_fields:
            raise StitchError(
                f"config.sweep: '{field}' cannot be swept: it is used on the host or sets the shape "
                f"of the program (one value per run set). Fix: run one program per value of "
                f"{field}, or sweep a numeric hyperparameter of the algorithm.")
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise StitchError(
                f"config.sweep: '{field}' is {type(current).__name__}-valued; only numeric fields "
                f"can be swept. Fix: run one program per value of {field}.")
        if field in fields:
            raise StitchError(f"config.sweep names '{field}' twice. Fix: list each field once.")
        parsed = [_number(v, field, type(current)) for v in raw.split(",") if v != ""]
        if not parsed:
            raise StitchError(f"config.sweep: '{field}' has no values. Fix: {field}=v1,v2,...")
        fields.append(field)
        values.append(parsed)
    return [dict(zip(fields, point)) for point in itertools.product(*values)]


def run_table(config, points) -> List[tuple]:
    """(seed index, grid point) of every run, in run order."""
    return [(s, point) for point in points for s in range(config.num_seeds)]


def hparam_arrays(config, points, indices=None) -> Dict[str, np.ndarray]:
    """Each swept field's per-run values, shape (num_runs,): the program's run-axis input.

    `indices`: only those runs (a process's share), in that order.
    """
    runs = run_table(config, points)
    runs = runs if indices is None else [runs[i] for i in indices]
    return {field: np.asarray([grid[field] for _, grid in runs],
                              np.int32 if isinstance(config[field], int) else np.float32)
            for field in points[0]}


def process_share(num_runs: int) -> List[int]:
    """The runs this process trains: all of them, or its contiguous share under jax.distributed."""
    count, index = jax.process_count(), jax.process_index()
    if num_runs % count:
        raise StitchError(f"{num_runs} run(s) cannot be split evenly over {count} processes. Fix: "
                          f"make num_seeds x grid points a multiple of {count}.")
    share = num_runs // count
    return list(range(index * share, (index + 1) * share))


def init_runs(config, algo, spec, points, aux=None, indices=None):
    """Per-run (state, rng), stacked on the run axis. Seed index s = fold_in(seed, s).

    `indices`: only those runs (a process's share), in that order.
    """
    runs = run_table(config, points)
    runs = runs if indices is None else [runs[i] for i in indices]
    seeds = jnp.asarray([s for s, _ in runs])

    def one(i, hparams, aux):
        rng = jax.random.fold_in(jax.random.PRNGKey(config.seed), i)
        init_rng, train_rng = jax.random.split(rng)
        return algo.init(bind(config, hparams), spec, init_rng, aux), train_rng

    # aux (prepare's output, e.g. a frozen policy) is an argument, not a baked-in constant.
    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))(seeds, hparam_arrays(config, points, indices), aux)
