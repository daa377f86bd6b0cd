"""Make new Minari datasets from existing ones (data/tools.py), provenance in their metadata.

  python -m scripts.dataset_tools combine --sources=bench/hopper/medium-v0,bench/hopper/expert-v0 \
      --out=me/hopper/medium-plus-expert-v0
  python -m scripts.dataset_tools combine --sources=A,B --task_id=observation --out=me/multi/ab-v0
  python -m scripts.dataset_tools subsample --sources=bench/hopper/medium-v0 --fraction=0.1 --out=...
  python -m scripts.dataset_tools subsample --sources=bench/hopper/medium-v0 --num_episodes=50 --out=...
  python -m scripts.dataset_tools top --sources=bench/hopper/medium-replay-v0 --fraction=0.1 --out=...
  python -m scripts.dataset_tools relabel --sources=bench/halfcheetah/medium-v0 \
      --reward_fn=data.tools:halfcheetah_target_velocity --reward_kwargs='{"target": 1.5}' --out=...
  python -m scripts.dataset_tools noise --sources=bench/hopper/expert-v0 --action_noise=0.3 --out=...

Reference scores are kept where they still mean the same thing: not after relabelling rewards
(pass --ref_min_score/--ref_max_score for the new task), and after combining only when every
source has the same ones. The evaluation env is kept when every source has the same one and the
observations are unchanged (a task id in the observation drops it).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from data import tools
from data.spec import StitchError

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags, defined only when run as a script, so that importing this
    module (tests import several scripts in one process) defines none."""
    flags.DEFINE_list("sources", None, "source Minari dataset ids (combine takes several)")
    flags.DEFINE_string("out", None, "the new dataset's id, e.g. me/hopper/medium-top10-v0")
    flags.DEFINE_enum("task_id", "none", ["none", "observation", "info"], "combine: where each source's index goes")
    flags.DEFINE_float("fraction", None, "subsample / top: the fraction of episodes kept")
    flags.DEFINE_integer("num_episodes", None, "subsample: the number of episodes kept")
    flags.DEFINE_integer("seed", 0, "subsample / noise: random seed")
    flags.DEFINE_string("reward_fn", None, "relabel: 'module:function' of (s, a, s', r, **kwargs) -> rewards")
    flags.DEFINE_string("reward_kwargs", "{}", "relabel: the function's keyword arguments, as JSON")
    flags.DEFINE_float("action_noise", None, "noise: Box: std as a fraction of half the range; Discrete: epsilon")
    flags.DEFINE_float("ref_min_score", None, "reference scores of the new dataset (default: see above)")
    flags.DEFINE_float("ref_max_score", None, "")

def main(argv):
    if len(argv) != 2 or argv[1] not in tools.TOOLS:
        raise app.UsageError(f"Give one tool: {' | '.join(tools.TOOLS)} (python -m scripts.dataset_tools top ...).")
    try:
        kwargs = json.loads(FLAGS.reward_kwargs)
    except json.JSONDecodeError as err:
        raise app.UsageError(f"--reward_kwargs is not JSON ({err}): e.g. '{{\"target\": 1.5}}'.")
    refs = None
    if (FLAGS.ref_min_score is None) != (FLAGS.ref_max_score is None):
        raise app.UsageError("Give both --ref_min_score and --ref_max_score, or neither.")
    if FLAGS.ref_min_score is not None:
        refs = (FLAGS.ref_min_score, FLAGS.ref_max_score)
    try:
        ds = tools.make(argv[1], FLAGS.sources, FLAGS.out, task_id=FLAGS.task_id, fraction=FLAGS.fraction,
                  num_episodes=FLAGS.num_episodes, seed=FLAGS.seed, reward_fn=FLAGS.reward_fn,
                  reward_kwargs=kwargs, action_noise=FLAGS.action_noise, ref_scores=refs)
    except StitchError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"Wrote {FLAGS.out}: {ds.total_episodes} episodes, {ds.total_steps} steps "
          f"(provenance in its metadata['stitch_provenance']).")


if __name__ == "__main__":
    define_flags()
    app.run(main)
