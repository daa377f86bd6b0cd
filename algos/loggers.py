"""Optional metric sinks beside metrics.csv: TensorBoard event files and Weights & Biases.

The driver hands each sink one chunk's metrics at a time (already on the host, after the
chunk's single device sync) and each evaluation's scores, so nothing here touches the
compiled step. TensorBoard needs only the `tensorboard` package (its own event writer and
protos, no TensorFlow): one event folder per run under `<workdir>/tensorboard/`, so the runs
of a seed axis or sweep overlay in one TensorBoard. W&B is used when config.wandb_project is
set: one W&B run per stitch workdir, the stitch runs as prefixes (run0/critic_loss), resumed
under the same id when the workdir resumes.
"""
import contextlib
import hashlib
import os
import time
import warnings

import jax
import numpy as np

from data.spec import StitchError


def _run_name(run, seed, grid):
    return f"run{run}_seed{seed}" + "".join(f"_{k}={v}" for k, v in grid.items())


class TensorBoardSink:
    def __init__(self, workdir, runs, first_run=0):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._event, self._summary = Event, Summary
        self.writers = [EventFileWriter(os.path.join(workdir, "tensorboard", _run_name(first_run + r, seed, grid)))
                        for r, (seed, grid) in enumerate(runs)]

    def write(self, step, per_run: dict):
        """per_run: {tag: values, one per run}; written at global update `step`."""
        now = time.time()
        for r, writer in enumerate(self.writers):
            values = [self._summary.Value(tag=tag, simple_value=float(v[r])) for tag, v in per_run.items()
                      if v is not None and np.isfinite(v[r])]
            writer.add_event(self._event(summary=self._summary(value=values), step=int(step), wall_time=now))
        for writer in self.writers:
            writer.flush()

    def close(self):
        for writer in self.writers:
            writer.close()


class WandbSink:
    def __init__(self, workdir, runs, config, first_run=0):
        import wandb
        self.wandb = wandb
        self.names = [_run_name(first_run + r, seed, grid) for r, (seed, grid) in enumerate(runs)]
        run_id = hashlib.sha1(os.path.abspath(workdir).encode()).hexdigest()[:16]  # stable: resumes
        if jax.process_count() > 1:  # each process logs its own share of the runs
            run_id += f"-p{jax.process_index()}"
        self.run = wandb.init(project=config.wandb_project, id=run_id, resume="allow", dir=workdir,
                              name=os.path.basename(os.path.normpath(workdir)), config=config.to_dict())

    def write(self, step, per_run: dict):
        row = {f"{name}/{tag}": float(v[r]) for tag, v in per_run.items() if v is not None
               for r, name in enumerate(self.names) if np.isfinite(v[r])}
        self.run.log(row, step=int(step))

    def close(self):
        self.run.finish()


def make_sinks(config, workdir, runs, first_run=0):
    """The sinks this config asks for: TensorBoard when config.tensorboard and the package is
    installed; W&B when config.wandb_project is set (wandb must then be installed)."""
    sinks = []
    if config.tensorboard:
        try:
            sinks.append(TensorBoardSink(workdir, runs, first_run))
        except ImportError:
            pass  # the extra is not installed: metrics.csv only, as documented
    if config.wandb_project:
        try:
            sinks.append(WandbSink(workdir, runs, config, first_run))
        except ImportError:
            raise StitchError("config.wandb_project is set but wandb is not installed. Fix: "
                              "pip install -e \".[extra]\" (or wandb), or leave wandb_project empty.") from None
    return sinks


@contextlib.contextmanager
def open_sinks(config, workdir, runs, first_run=0):
    """`make_sinks`, closed however the run ends."""
    sinks = make_sinks(config, workdir, runs, first_run)
    try:
        yield sinks
    finally:
        close_all(sinks)


def write_all(sinks, step, per_run):
    for sink in sinks:
        try:
            sink.write(step, per_run)
        except Exception as err:  # a logging service's hiccup must not kill a training run
            warnings.warn(f"{type(sink).__name__} failed to log update {step}: {type(err).__name__}: {err}",
                          stacklevel=2)


def close_all(sinks):
    for sink in sinks:
        try:
            sink.close()
        except Exception as err:
            warnings.warn(f"{type(sink).__name__} failed to close: {type(err).__name__}: {err}", stacklevel=2)
