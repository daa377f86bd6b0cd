"""Dataset tools: new Minari datasets made from existing ones, with their provenance recorded.

Each tool maps a list of episodes to a list of episodes; `write` stores the result as a new
Minari dataset whose metadata["stitch_provenance"] names the tool, its parameters and its
sources, so a run on the result can be traced back. An episode here is a dict of numpy arrays
in Minari's layout: observations (n + 1 rows, or a dict of them), actions, rewards,
terminations, truncations (n rows), and optionally infos.

  combine          datasets of one task (medium + expert), or of several tasks with a task id
                   appended to the observation (one-hot) or stored in the infos
  subsample        a random fraction or number of episodes
  top_fraction     the best fraction of episodes by return (the %BC selection)
  relabel_rewards  rewards recomputed by a user function of (s, a, s', r), e.g. a new target
                   velocity: one task's data reused for another
  add_action_noise Gaussian noise on Box actions (clipped to the space), epsilon-random on
                   Discrete ones
"""
import datetime
import importlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import gymnasium as gym
import minari
import numpy as np

from data.dataset import _build_atomically, _datasets_root, _read_episodes, open_minari, top_episode_indices
from data.spec import StitchError

FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")


def read_episodes(dataset_id: str):
    """(episodes, MinariDataset): every episode of a dataset, as stored."""
    dataset = open_minari(dataset_id)
    episodes = []
    for ep in _read_episodes(dataset, dataset_id):
        episode = {k: getattr(ep, k) for k in FIELDS}
        episode = {k: ({kk: np.asarray(vv) for kk, vv in v.items()} if isinstance(v, dict) else np.asarray(v))
                   for k, v in episode.items()}
        if getattr(ep, "infos", None):
            episode["infos"] = ep.infos
        episodes.append(episode)
    return episodes, dataset


def episode_return(episode) -> float:
    return float(np.sum(episode["rewards"]))


def combine(sources: Sequence[list], task_id: str = "none", num_tasks: Optional[int] = None) -> list:
    """Concatenate episode lists. task_id: 'none'; 'observation' appends a one-hot of the source's
    index to every (Box) observation; 'info' stores it as infos['task_id']."""
    if task_id not in ("none", "observation", "info"):
        raise StitchError(f"task_id='{task_id}' is not one of none | observation | info.")
    num_tasks = num_tasks or len(sources)
    out = []
    for index, episodes in enumerate(sources):
        for ep in episodes:
            ep = dict(ep)
            rows = len(ep["rewards"]) + 1
            if task_id == "observation":
                if isinstance(ep["observations"], dict) or ep["observations"].ndim != 2:
                    raise StitchError("task_id='observation' appends a one-hot to flat observations; "
                                      "these are dicts or images. Fix: use task_id='info'.")
                one_hot = np.zeros((rows, num_tasks), ep["observations"].dtype)
                one_hot[:, index] = 1
                ep["observations"] = np.concatenate([ep["observations"], one_hot], 1)
            elif task_id == "info":
                ep["infos"] = {**ep.get("infos", {}), "task_id": np.full(rows, index, np.int64)}
            out.append(ep)
    return out


def subsample(episodes: list, fraction: Optional[float] = None, num_episodes: Optional[int] = None,
              seed: int = 0) -> list:
    """A random subset of whole episodes, in their original order: `fraction` of them (rounded, at
    least one) or `num_episodes`."""
    if (fraction is None) == (num_episodes is None):
        raise StitchError("subsample takes exactly one of fraction or num_episodes.")
    n = len(episodes)
    keep = num_episodes if num_episodes is not None else max(1, int(round(fraction * n)))
    if not (0 < keep <= n):
        raise StitchError(f"subsample would keep {keep} of {n} episodes; it must keep 1..{n}.")
    chosen = np.sort(np.random.default_rng(seed).choice(n, size=keep, replace=False))
    return [episodes[i] for i in chosen]


def top_fraction(episodes: list, fraction: float) -> list:
    """The best `fraction` of episodes by return, in their original order (as %BC selects)."""
    if not 0 < fraction <= 1:
        raise StitchError(f"fraction={fraction} must be in (0, 1].")
    chosen = np.sort(top_episode_indices([episode_return(e) for e in episodes], fraction))
    return [episodes[i] for i in chosen]


def load_function(path: str) -> Callable:
    """'package.module:function' -> the function."""
    module, _, name = path.partition(":")
    if not name:
        raise StitchError(f"'{path}' is not 'module:function' (e.g. data.tools:halfcheetah_target_velocity).")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise StitchError(f"Cannot load the function '{path}': {err}. Fix: give an importable "
                          f"module and a function defined in it.") from None


def relabel_rewards(episodes: list, reward_fn: Callable, **kwargs) -> list:
    """Rewards recomputed as reward_fn(observations, actions, next_observations, rewards, **kwargs),
    batched over each episode's steps; it must return one finite reward per step."""
    out = []
    for ep in episodes:
        obs = ep["observations"]
        if isinstance(obs, dict):
            s, s2 = {k: v[:-1] for k, v in obs.items()}, {k: v[1:] for k, v in obs.items()}
        else:
            s, s2 = obs[:-1], obs[1:]
        rewards = np.asarray(reward_fn(s, ep["actions"], s2, ep["rewards"], **kwargs), np.float64)
        if rewards.shape != np.shape(ep["rewards"]) or not np.all(np.isfinite(rewards)):
            raise StitchError(f"The reward function returned shape {rewards.shape} (finite: "
                              f"{bool(np.all(np.isfinite(rewards)))}) for an episode of "
                              f"{len(ep['rewards'])} steps; it must return one finite reward per step.")
        out.append({**ep, "rewards": rewards})
    return out


def halfcheetah_target_velocity(observations, actions, next_observations, rewards, target=1.0,
                                ctrl_cost_weight=0.1):
    """HalfCheetah running at `target` m/s: -|x-velocity - target| - ctrl_cost_weight * |a|^2.
    Index 8 of HalfCheetah-v5's observation is the torso's x velocity (qvel[0]); it is read from
    the next observation, the velocity at the step's end (the env's own forward reward uses the
    step's mean velocity, displacement / dt, which the logged data does not hold)."""
    return -np.abs(next_observations[:, 8] - target) - ctrl_cost_weight * np.sum(np.square(actions), 1)


def add_action_noise(episodes: list, action_space, noise: float, seed: int = 0) -> list:
    """Box: actions + N(0, (noise * half the range)^2), clipped to the space. Discrete: each action
    replaced by a uniformly random one with probability `noise`."""
    rng = np.random.default_rng(seed)
    out = []
    for ep in episodes:
        a = np.asarray(ep["actions"])
        if isinstance(action_space, gym.spaces.Discrete):
            swap = rng.random(a.shape) < noise
            random_actions = rng.integers(action_space.start, action_space.start + action_space.n, a.shape)
            noisy = np.where(swap, random_actions, a).astype(a.dtype)
        elif isinstance(action_space, gym.spaces.Box):
            half = (action_space.high - action_space.low) / 2
            noisy = np.clip(a + rng.normal(size=a.shape) * noise * half, action_space.low,
                            action_space.high).astype(a.dtype)
        else:
            raise StitchError(f"add_action_noise handles Box and Discrete actions, not {action_space}.")
        out.append({**ep, "actions": noisy})
    return out


def write(dataset_id: str, episodes: list, like, provenance: dict, observation_space=None,
          ref_scores="keep", env="keep"):
    """Write `episodes` as Minari dataset `dataset_id`, atomically, with `like`'s (a source
    MinariDataset's) spaces and env unless given. ref_scores: 'keep' (the source's), None, or a
    (min, max) pair. Refuses to overwrite an existing dataset."""
    meta = like.storage.metadata
    refs = (meta.get("ref_min_score"), meta.get("ref_max_score")) if ref_scores == "keep" else ref_scores
    env_spec = like.spec.env_spec if env == "keep" else env
    return write_episodes(dataset_id, episodes, env_spec, like.action_space, observation_space or like.observation_space,
                          refs, provenance, f"stitch dataset tool: {provenance['tool']}")


def write_episodes(dataset_id: str, episodes: list, env, action_space, observation_space, ref_scores,
                   provenance: dict, algorithm_name: str):
    """Write `episodes` (Minari's layout) as a new Minari dataset, atomically, with `provenance`
    recorded in metadata["stitch_provenance"] (and as its description). env: an env id or spec
    (the evaluation env), or None. ref_scores: a (min, max) pair or None."""
    path = Path(_datasets_root(), dataset_id)
    if os.path.exists(path / "data"):
        raise StitchError(f"Dataset {dataset_id} already exists under {path}; nothing was written. "
                          f"Fix: pick a new id, or delete it first (minari delete {dataset_id}).")
    if not episodes:
        raise StitchError(f"No episodes to write to {dataset_id}.")
    refs = ref_scores
    kwargs = {} if refs is None or None in refs else dict(ref_min_score=float(refs[0]), ref_max_score=float(refs[1]))
    provenance = {**provenance, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "transitions": int(sum(len(e["rewards"]) for e in episodes)), "episodes": len(episodes)}

    def build(target_id):
        from minari.data_collector.episode_buffer import EpisodeBuffer
        buffers = [EpisodeBuffer(id=i, **{k: v for k, v in ep.items() if k in FIELDS + ("infos",)})
                   for i, ep in enumerate(episodes)]
        with warnings.catch_warnings():  # Minari nags about author/permalink metadata
            warnings.simplefilter("ignore", UserWarning)
            ds = minari.create_dataset_from_buffers(
                target_id, buffer=buffers, env=env, action_space=action_space,
                observation_space=observation_space, algorithm_name=algorithm_name,
                description=json.dumps(provenance), **kwargs)
        ds.storage.update_metadata({"stitch_provenance": provenance})

    _build_atomically(dataset_id, path, build)
    return open_minari(dataset_id)


PARAMS = {"combine": ("task_id",), "subsample": ("fraction", "num_episodes", "seed"), "top": ("fraction",),
          "relabel": ("reward_fn", "reward_kwargs"), "noise": ("action_noise", "seed")}
TOOLS = tuple(PARAMS)


def make(tool, sources, out, **params):
    """Run one tool on `sources` and write dataset `out` (the command line's job; see
    scripts/dataset_tools.py for which reference scores and env are kept); returns the new
    MinariDataset. params: task_id, fraction, num_episodes, seed, reward_fn, reward_kwargs,
    action_noise, ref_scores ((min, max) to set them)."""
    if tool not in TOOLS:
        raise StitchError(f"Unknown tool '{tool}'; use one of {', '.join(TOOLS)}.")
    if not sources or not out:
        raise StitchError("--sources and --out are required.")
    if tool != "combine" and len(sources) != 1:
        raise StitchError(f"'{tool}' takes one source, got {len(sources)}; combine them first.")
    loaded = [read_episodes(s) for s in sources]
    like = loaded[0][1]
    for source, (_, ds) in zip(sources, loaded):
        if ds.action_space != like.action_space:
            raise StitchError(f"{source}'s action space {ds.action_space} differs from {sources[0]}'s "
                              f"{like.action_space}; combined datasets share one action space.")
    ref_scores, env, obs_space = "keep", "keep", None
    if tool == "combine":
        if params.get("task_id", "none") != "observation":
            for source, (_, ds) in zip(sources, loaded):
                if ds.observation_space != like.observation_space:
                    raise StitchError(
                        f"{source}'s observation space {ds.observation_space} differs from {sources[0]}'s "
                        f"{like.observation_space}. Fix: combine datasets of one observation space.")
        episodes = combine([eps for eps, _ in loaded], params.get("task_id", "none"))
        metas = {(ds.storage.metadata.get("ref_min_score"), ds.storage.metadata.get("ref_max_score"))
                 for _, ds in loaded}
        ref_scores = "keep" if len(metas) == 1 else None
        env_ids = {getattr(ds.spec.env_spec, "id", None) for _, ds in loaded}
        if params.get("task_id") == "observation" or len(env_ids) > 1:
            env = None
        if params.get("task_id") == "observation":
            box = like.observation_space
            n = len(sources)
            obs_space = gym.spaces.Box(np.concatenate([box.low, np.zeros(n)]).astype(box.dtype),
                                       np.concatenate([box.high, np.ones(n)]).astype(box.dtype), dtype=box.dtype)
    elif tool == "subsample":
        episodes = subsample(loaded[0][0], params.get("fraction"), params.get("num_episodes"),
                                   params.get("seed", 0))
    elif tool == "top":
        if params.get("fraction") is None:
            raise StitchError("top needs --fraction (e.g. 0.1 for the best 10% of episodes).")
        episodes = top_fraction(loaded[0][0], params["fraction"])
    elif tool == "relabel":
        if not params.get("reward_fn"):
            raise StitchError("relabel needs --reward_fn=module:function.")
        episodes = relabel_rewards(loaded[0][0], load_function(params["reward_fn"]),
                                         **params.get("reward_kwargs", {}))
        ref_scores = None  # the sources' references score another reward
    else:
        if params.get("action_noise") is None:
            raise StitchError("noise needs --action_noise (a std fraction of half the range, or epsilon).")
        episodes = add_action_noise(loaded[0][0], like.action_space, params["action_noise"],
                                          params.get("seed", 0))
    refs = params.get("ref_scores")
    if refs is not None:
        ref_scores = refs
    provenance = {"tool": tool, "sources": list(sources),
                  "params": {k: params[k] for k in PARAMS[tool] if params.get(k) is not None},
                  "ref_scores": "kept from the sources" if ref_scores == "keep" else ref_scores,
                  "env": "kept from the sources" if env == "keep" else None}
    if ref_scores is None and tool in ("combine", "relabel"):
        print(f"Note: {out} gets no reference scores ({'the sources differ' if tool == 'combine' else 'its rewards changed'}); "
              f"pass --ref_min_score and --ref_max_score to set them.")
    return write(out, episodes, like, provenance, observation_space=obs_space,
                       ref_scores=ref_scores, env=env)
