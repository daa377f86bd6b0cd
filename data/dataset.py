"""Load a Minari dataset into a pytree of device arrays, validated and transformed.

The pytree (a dict) holds one row per transition, in episode order (observations excepted:
every episode's frames are stored once, see `share_frames`; `data.samplers.observations_at`
reads a transition's observation and next observation from them):
  observations  every episode's frames, once ((transitions + episodes) rows; `share_frames`),
  obs_index     the frame of each transition's observation (its next observation: the frame after),
  actions, rewards,
  next_actions  the action logged at the next step of the same episode (ReBRAC's critic penalty);
                at an episode's last step, where none was logged, the step's own action,
  terminals     1.0 only where the episode *terminated* (bootstrapping stops there),
  episode_ends  1.0 at the last transition of every episode (termination, truncation or
                the end of the logged episode) -- episode boundaries for sequence methods.
plus the extra columns the algorithm's samplers prepare (data/samplers.py).
Observations keep their shape (flat vectors, MinAtar grids, small images). With
`observation_transform` "zscore" they are standardised here, on the host, into float32; with
"none" or "div255" they stay in the dataset's dtype on device (a 1M-frame uint8 image set stays
uint8) and the samplers convert each batch to float32. Continuous actions are rescaled from the
action space's bounds to [-1, 1]; evaluation maps them back with `denormalize_actions`.
"""
import dataclasses
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Optional

import gymnasium as gym
import jax.numpy as jnp
import minari
import numpy as np

from data.collect import BUILTIN_DATASETS
from data.samplers import PIXEL_SCALE, prepare_columns
from data.spec import Spec, StitchError

ACTION_TOLERANCE = 1e-4  # slack for float round-off at the action bounds


@dataclasses.dataclass
class DataInfo:
    """Everything about the data that the driver needs besides the arrays."""

    dataset_id: str
    spec: Spec
    env_spec: Optional[object]        # gymnasium EnvSpec, or None (then no evaluation)
    action_low: Optional[np.ndarray]  # Box bounds (None for discrete actions)
    action_high: Optional[np.ndarray]
    observation_transform: str       # zscore | none | div255 (configs/base.py)
    obs_mean: Optional[np.ndarray]    # z-score statistics, shape observation_shape (zscore only)
    obs_std: Optional[np.ndarray]
    ref_min_score: Optional[float]
    ref_max_score: Optional[float]
    num_episodes: int
    num_transitions: int
    behaviour_return: float           # mean undiscounted return of the logged episodes
    reward_scale: float
    reward_shift: float
    observation_keys: Optional[tuple] = None  # Dict observations: the keys concatenated, in order
    action_start: int = 0             # Discrete(n, start): the data's actions are stored as a - start

    @property
    def behaviour_score(self):
        return normalized_score(self.behaviour_return, self.ref_min_score, self.ref_max_score)


def normalized_score(ret, ref_min, ref_max):
    """100 * (return - min) / (max - min), or None where reference scores are missing."""
    if ref_min is None or ref_max is None:
        return None
    return 100.0 * (np.asarray(ret) - ref_min) / (ref_max - ref_min)


def normalize_actions(actions, low, high):
    """Map actions in Box bounds [low, high] to [-1, 1], the range every policy head outputs."""
    return np.clip(2.0 * (np.asarray(actions) - low) / (high - low) - 1.0, -1.0, 1.0)


def denormalize_actions(actions, low, high, start: int = 0):
    """Map policy actions back to the env's: [-1, 1] to Box bounds [low, high]; discrete (low is
    None) action indices 0..n-1 to the space's own start..start+n-1, as integers."""
    if low is None:
        return np.asarray(actions).astype(np.int64) + int(start)
    return (low + (np.asarray(actions) + 1.0) * 0.5 * (high - low)).astype(np.float32)


def _datasets_root() -> str:
    """The Minari datasets root, as `minari.storage.get_dataset_path()` finds it, but without
    creating it (minari's function makes the folder, so a mere lookup would leave it behind)."""
    root = os.environ.get("MINARI_DATASETS_PATH")
    if root is None:
        root = os.path.join(os.path.expanduser("~"), ".minari", "datasets")
    # absolute: a build points Minari at a staging folder under the root, and Minari writes a
    # relative root's files at that path joined twice (FileNotFoundError mid-build)
    return os.path.abspath(root)


def _prune_empty_dirs(root: str):
    """Remove `root` and empty folders under it, bottom up; files (and their folders) stay."""
    for folder, _, _ in os.walk(root, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _restore_fix(dataset_id: str, path) -> str:
    if dataset_id in BUILTIN_DATASETS:
        return (f"delete the folder {path} (stitch builds the built-in dataset again on the "
                f"next run), or restore the file from a backup.")
    return (f"restore the file from a backup, download the dataset again (`minari download "
            f"{dataset_id} --force`) if it is a remote one, or delete the folder {path} and "
            f"collect it again (python scripts/collect.py).")


def _load_local(dataset_id: str, path):
    """`minari.load_dataset`, with a clean error for a dataset folder that is missing a file or
    whose metadata cannot be read (minari: ValueError "No data found in data path ...",
    json.JSONDecodeError, ...)."""
    data = os.path.join(path, "data")
    try:
        return minari.load_dataset(dataset_id)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as err:
        reason = f"{type(err).__name__}: {err}"
        metadata = os.path.join(data, "metadata.json")
        if not os.path.isfile(metadata):
            problem = f"its metadata file {metadata} is missing"
        elif isinstance(err, PermissionError):
            problem = f"its metadata file {metadata} cannot be read ({reason})"
        elif isinstance(err, ValueError) and str(err).startswith("No data found"):
            problem = (f"its data file {os.path.join(data, 'main_data.hdf5')} is missing "
                       f"(metadata.json is there)")
        else:
            problem = f"its metadata file {metadata} is damaged or truncated ({reason})"
        raise StitchError(
            f"Dataset '{dataset_id}' at {path} cannot be opened: {problem}; a Minari dataset "
            f"folder holds data/metadata.json and data/main_data.hdf5. Fix: "
            f"{_restore_fix(dataset_id, path)}") from None


def _build_atomically(dataset_id: str, path, build=None):
    """Build a dataset in a private folder, then move it into place in one rename; `build(id)`
    writes it (default: the built-in dataset's builder).

    A crash mid-build leaves no half-written dataset under `path`, and when two runs build it
    at once the first rename wins and the other run uses that copy.
    """
    build = build or BUILTIN_DATASETS[dataset_id]
    root = _datasets_root()
    os.makedirs(root, exist_ok=True)  # building a built-in dataset may create the root
    staging = tempfile.mkdtemp(prefix=".stitch-build-", dir=root)
    previous = os.environ.get("MINARI_DATASETS_PATH")
    try:
        os.environ["MINARI_DATASETS_PATH"] = staging
        build(dataset_id)
        os.environ["MINARI_DATASETS_PATH"] = str(root)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.isdir(path) and not os.path.exists(os.path.join(path, "data")):
            shutil.rmtree(path)  # an empty or partial folder from an older, interrupted build
        try:
            os.rename(os.path.join(staging, dataset_id), path)
        except OSError:
            if not os.path.exists(os.path.join(path, "data")):
                raise
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous
        shutil.rmtree(staging, ignore_errors=True)


def open_minari(dataset_id: str):
    """Return a MinariDataset: local, built in, or downloaded (remote ids, where a network exists)."""
    root = _datasets_root()
    path = Path(root, dataset_id)  # minari.storage.get_dataset_path(dataset_id), not creating root
    if os.path.exists(os.path.join(path, "data")):
        return _load_local(dataset_id, path)
    if dataset_id in BUILTIN_DATASETS:
        print(f"Dataset {dataset_id} not found under {path.parent}; building it (one time).")
        _build_atomically(dataset_id, path)
        return _load_local(dataset_id, path)
    root_existed = os.path.isdir(root)
    try:
        minari.download_dataset(dataset_id)
    except Exception as err:  # network down, unknown remote id, hosting errors, huggingface_hub missing
        if not root_existed:  # a failed lookup leaves no MINARI_DATASETS_PATH folder behind
            _prune_empty_dirs(root)
        raise StitchError(
            f"Dataset '{dataset_id}' was not found locally (no {os.path.join(path, 'data')}; the "
            f"MINARI_DATASETS_PATH root is {root}{'' if root_existed else ', which does not exist'}) "
            f"and is not a built-in dataset ({', '.join(BUILTIN_DATASETS)}). Downloading it from "
            f"the Minari remote was not possible: {type(err).__name__}: {err}. Fix: check the id "
            f"(`minari list local`, `minari list remote`), point MINARI_DATASETS_PATH at the "
            f"folder that holds it, or connect to the network for remote ids.") from None
    return _load_local(dataset_id, path)


def _read_episodes(dataset, dataset_id):
    """`dataset.iterate_episodes()`, with a clean error where the data file cannot be read (a
    truncated or damaged main_data.hdf5: h5py raises OSError "Unable to synchronously open file
    (truncated file: ...)", or KeyError/RuntimeError for a missing or broken episode)."""
    episodes = iter(dataset.iterate_episodes())
    while True:
        try:
            episode = next(episodes)
        except StopIteration:
            return
        except (OSError, KeyError, RuntimeError, ValueError, AssertionError) as err:
            data = Path(dataset.storage.data_path)
            data_file = data / "main_data.hdf5" if (data / "main_data.hdf5").exists() else data
            if isinstance(err, PermissionError) or "unable to lock file" in str(err).lower():
                raise StitchError(
                    f"Dataset '{dataset_id}': its data file {data_file} cannot be opened for "
                    f"reading ({type(err).__name__}: {err}). Fix: check the file's permissions, "
                    f"or wait until the process writing it has finished (on a file system without "
                    f"locking, set HDF5_USE_FILE_LOCKING=FALSE).") from None
            raise StitchError(
                f"Dataset '{dataset_id}': its data file {data_file} is damaged or truncated "
                f"(reading its episodes failed with {type(err).__name__}: {err}). Fix: "
                f"{_restore_fix(dataset_id, data.parent)}") from None
        yield episode


GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def dict_observation_keys(obs_space, requested: str, dataset_id: str) -> tuple:
    """The keys of a Dict observation space that make the policy's flat input, in order.

    requested: config.observation_keys, comma-separated; "" = every key, "observation" first
    and the rest in the space's order. For goal-conditioned data (AntMaze, PointMaze) that is
    the agent's own state, its position (achieved_goal: Minari's AntMaze `observation` leaves
    out the ant's x, y, which D4RL's 29-d observations had) and the goal (desired_goal).
    """
    keys = list(obs_space.spaces)
    chosen = tuple(k.strip() for k in requested.split(",") if k.strip()) if requested else tuple(
        sorted(keys, key=lambda k: (k != "observation", keys.index(k))))
    unknown = [k for k in chosen if k not in keys]
    if unknown or not chosen:
        raise StitchError(f"config.observation_keys={requested!r} names key(s) {unknown} that dataset "
                          f"'{dataset_id}''s Dict observations lack; they have {keys}. Fix: "
                          f"--config.observation_keys={','.join(keys)} (or a subset, in the order wanted).")
    bad = [k for k in chosen if not _flat_part(obs_space[k])]
    if bad:
        raise StitchError(f"Dataset '{dataset_id}': Dict observation part(s) {bad} are not flat Box "
                          f"vectors or Dicts of them ({[obs_space[k] for k in bad]}); stitch "
                          f"concatenates flat parts only. "
                          f"Fix: leave them out with --config.observation_keys, or flatten them when "
                          f"collecting (gymnasium.wrappers.FlattenObservation).")
    return chosen


def _flat_part(space) -> bool:
    """A 1-d Box, or a Dict (nested any depth) of them: what a Dict observation part may be."""
    if isinstance(space, gym.spaces.Dict):
        return all(_flat_part(s) for s in space.spaces.values())
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def flat_size(space) -> int:
    """The width of a flat part (`_flat_part`) once flattened."""
    if isinstance(space, gym.spaces.Dict):
        return sum(flat_size(s) for s in space.spaces.values())
    return int(np.prod(space.shape))


def _flatten_part(part):
    """A part as (..., width): a nested part (Kitchen's per-task goals) is its leaves in sorted
    key order, whatever order the env or the file gives the keys in."""
    if isinstance(part, dict):
        return np.concatenate([_flatten_part(part[k]) for k in sorted(part)], axis=-1)
    return np.asarray(part, np.float64)


def flatten_dict_observation(observation, keys):
    """A Dict observation (one, or a batch of them) as one flat vector: the parts of `keys`
    concatenated along the last axis, in float64 (as loaded data is validated)."""
    return np.concatenate([_flatten_part(observation[k]) for k in keys], axis=-1)


def _episodes_to_arrays(dataset, dataset_id, observation_keys=""):
    obs_space, act_space = dataset.observation_space, dataset.action_space
    keys = None
    if isinstance(obs_space, gym.spaces.Dict):
        keys = dict_observation_keys(obs_space, observation_keys, dataset_id)
        obs_space = gym.spaces.Box(-np.inf, np.inf, (sum(flat_size(obs_space[k]) for k in keys),), np.float64)
    if not isinstance(obs_space, gym.spaces.Box):
        raise StitchError(f"Dataset '{dataset_id}' has {type(obs_space).__name__} observations; "
                          f"stitch needs Box observations (flat vectors or arrays such as images). Fix: "
                          f"flatten them when collecting (gymnasium.wrappers.FlattenObservation).")
    if not isinstance(act_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise StitchError(f"Dataset '{dataset_id}' has {type(act_space).__name__} actions; only Box "
                          f"and Discrete action spaces are supported.")
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) != 1:
        raise StitchError(f"Dataset '{dataset_id}' has actions of shape {act_space.shape}; stitch's "
                          f"policies output flat (1-d) actions. Fix: flatten the action space when "
                          f"collecting (a gymnasium ActionWrapper that reshapes).")
    cols = {k: [] for k in ("observations", "actions", "rewards", "next_observations",
                            "next_actions", "terminals", "episode_ends")}
    returns = []
    num_episodes = 0
    for ep in _read_episodes(dataset, dataset_id):
        num_episodes += 1
        n = len(ep.rewards)
        if n < 2:
            raise StitchError(
                f"Dataset '{dataset_id}': episode {ep.id} has {n} step(s); episodes need at least 2 "
                f"transitions. Fix: drop empty or one-step episodes when collecting the data.")
        obs = flatten_dict_observation(ep.observations, keys) if keys else np.asarray(ep.observations)
        if obs.dtype.kind == "f":  # validated and standardised in float64, as before
            obs = obs.astype(np.float64)
        obs = obs.reshape(n + 1, *obs_space.shape)
        fields = {"observations": obs, "actions": np.asarray(ep.actions, np.float64),
                  "rewards": np.asarray(ep.rewards, np.float64)}
        for name, value in fields.items():
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                bad = int(np.sum(~np.isfinite(value)))
                raise StitchError(
                    f"Dataset '{dataset_id}': episode {ep.id} has {bad} NaN/inf value(s) in "
                    f"'{name}'. Fix: remove or repair those episodes before training.")
        ends = np.zeros(n)
        ends[-1] = 1.0
        cols["observations"].append(obs[:-1])
        cols["next_observations"].append(obs[1:])
        actions = (fields["actions"].reshape(n, -1) if isinstance(act_space, gym.spaces.Box)
                   else fields["actions"].reshape(n))
        cols["actions"].append(actions)
        cols["next_actions"].append(np.concatenate([actions[1:], actions[-1:]]))
        cols["rewards"].append(fields["rewards"])
        cols["terminals"].append(np.asarray(ep.terminations, np.float64))
        cols["episode_ends"].append(ends)
        returns.append(float(np.sum(ep.rewards)))
    if num_episodes == 0:
        raise StitchError(f"Dataset '{dataset_id}' has no episodes. Fix: collect data into it first "
                          f"(python scripts/collect.py).")
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    return arrays, np.asarray(returns), keys


def read_columns(dataset_id: str, observation_keys: str = ""):
    """A dataset's episode-ordered columns as stored (raw actions, observations and rewards, no
    transform), the undiscounted return of each episode, and the MinariDataset (its spaces and
    metadata). For tools that inspect or rewrite data; training goes through `load_dataset`."""
    dataset = open_minari(dataset_id)
    arrays, returns, _ = _episodes_to_arrays(dataset, dataset_id, observation_keys)
    return arrays, returns, dataset


def _check_actions(arrays, act_space, dataset_id):
    actions = arrays["actions"]
    if isinstance(act_space, gym.spaces.Discrete):
        bad = (actions < act_space.start) | (actions >= act_space.start + act_space.n) | (actions != np.round(actions))
        if np.any(bad):
            raise StitchError(
                f"Dataset '{dataset_id}': {int(bad.sum())} action(s) are not integers in "
                f"[{act_space.start}, {act_space.start + act_space.n - 1}]. Fix: store actions "
                f"inside the Discrete action space.")
        return
    low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
    bad = np.any((actions < low - ACTION_TOLERANCE) | (actions > high + ACTION_TOLERANCE), axis=-1)
    if np.any(bad):
        raise StitchError(
            f"Dataset '{dataset_id}': {int(bad.sum())} of {len(actions)} actions lie outside the "
            f"action space [{low.min()}, {high.max()}] (seen range [{actions.min():.4g}, "
            f"{actions.max():.4g}]). Fix: clip the actions to the space when collecting, or declare "
            f"the space the data was really logged in.")


def top_episode_indices(returns, fraction):
    """Indices of the best `fraction` of episodes by return (at least one), best first."""
    return np.argsort(-np.asarray(returns))[:max(1, int(round(fraction * len(returns))))]


def top_fraction_episodes(arrays, returns, fraction):
    """Keep the transitions of the best `fraction` of episodes by return (%BC)."""
    keep_eps = np.zeros(len(returns), bool)
    keep_eps[top_episode_indices(returns, fraction)] = True
    episode_index = np.concatenate([[0], np.cumsum(arrays["episode_ends"])[:-1]]).astype(int)
    mask = keep_eps[episode_index]
    return {k: v[mask] for k, v in arrays.items()}


def reward_affine(config, returns):
    """(scale, shift) of the reward transform named by `config.reward_transform`."""
    if config.reward_transform == "iql_locomotion":
        spread = float(returns.max() - returns.min())
        if spread <= 0:
            raise StitchError("reward_transform=iql_locomotion needs episodes with different "
                              "returns. Fix: use --config.reward_transform=none.")
        return 1000.0 / spread, 0.0
    if config.reward_transform == "scale_shift":
        return float(config.reward_scale), float(config.reward_shift)
    return 1.0, 0.0


def observations_for_policy(observations, info: "DataInfo"):
    """Raw env observations -> float32 as the networks saw them in training (host, numpy).
    Dict observations (one or a batch) are flattened as the data was (`info.observation_keys`);
    an array is taken as already flat."""
    if info.observation_keys and isinstance(observations, dict):
        observations = flatten_dict_observation(observations, info.observation_keys)
    if info.observation_transform == "zscore":
        return ((observations - info.obs_mean) / info.obs_std).astype(np.float32)
    observations = np.asarray(observations)
    if observations.dtype.kind in "iub":
        scale = PIXEL_SCALE if info.observation_transform == "div255" else np.float32(1.0)
        return observations.astype(np.float32) * scale  # as data.samplers.float_observations
    return observations.astype(np.float32)


def load_dataset(config, actions: str = "continuous", samplers=()):
    """Load, validate and transform `config.dataset`; return (device arrays, DataInfo).

    `actions` is the algorithm's ACTIONS ("continuous" | "discrete" | "both"); `samplers` are the
    samplers it trains with, whose extra columns are prepared here, once, on the host.
    """
    dataset = open_minari(config.dataset)
    act_space = dataset.action_space
    discrete = isinstance(act_space, gym.spaces.Discrete)
    if actions != "both" and discrete != (actions == "discrete"):
        kind, need = ("discrete", "continuous") if discrete else ("continuous", "discrete")
        raise StitchError(
            f"Dataset '{config.dataset}' has {kind} actions ({act_space}) but algorithm "
            f"'{config.algo}' needs {need} actions. Fix: pick a {kind}-action algorithm or dataset.")
    arrays, returns, observation_keys = _episodes_to_arrays(dataset, config.dataset,
                                                            getattr(config, "observation_keys", ""))
    _check_actions(arrays, act_space, config.dataset)

    behaviour_return = float(returns.mean())
    num_episodes = len(returns)
    if config.bc_top_fraction < 1.0:
        arrays = top_fraction_episodes(arrays, returns, config.bc_top_fraction)

    if discrete:
        low = high = None
        action_dim = int(act_space.n)
        for key in ("actions", "next_actions"):
            arrays[key] = arrays[key] - act_space.start
    else:
        low, high = act_space.low.astype(np.float64), act_space.high.astype(np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise StitchError(f"Dataset '{config.dataset}' has an unbounded action space {act_space}; "
                              f"stitch's policies need finite bounds. Fix: declare the bounds.")
        for key in ("actions", "next_actions"):
            arrays[key] = normalize_actions(arrays[key], low, high)
        action_dim = int(np.prod(act_space.shape))

    obs_shape = tuple(arrays["observations"].shape[1:])
    stored_dtype = arrays["observations"].dtype
    transform = config.observation_transform
    obs_mean = obs_std = None
    if transform == "div255" and stored_dtype.kind not in "iu":
        raise StitchError(
            f"config.observation_transform='div255' divides integer pixel values by 255, but "
            f"dataset '{config.dataset}' stores floating-point observations. Fix: use "
            f"--config.observation_transform=zscore (or none).")
    if transform == "zscore":
        observations = arrays["observations"].astype(np.float64)
        obs_mean = observations.mean(0)
        obs_std = observations.std(0) + 1e-3
        for key in ("observations", "next_observations"):
            arrays[key] = ((arrays[key] - obs_mean) / obs_std).astype(np.float32)
        obs_mean, obs_std = obs_mean.astype(np.float32), obs_std.astype(np.float32)
    elif stored_dtype.kind == "f":  # float data stays float32 on device
        for key in ("observations", "next_observations"):
            arrays[key] = arrays[key].astype(np.float32)

    scale, shift = reward_affine(config, returns)
    arrays["rewards"] = arrays["rewards"] * scale + shift

    meta = dataset.storage.metadata
    ref_min, ref_max = meta.get("ref_min_score"), meta.get("ref_max_score")
    if ref_min is None or ref_max is None:
        warnings.warn(f"Dataset '{config.dataset}' has no ref_min_score/ref_max_score: the "
                      f"normalised score is reported as null.", stacklevel=2)
        ref_min = ref_max = None
    elif not (np.isfinite(ref_min) and np.isfinite(ref_max) and ref_max > ref_min):
        warnings.warn(f"Dataset '{config.dataset}' has ref_min_score={ref_min} >= ref_max_score="
                      f"{ref_max}: normalised scores would be meaningless, so they are reported "
                      f"as null. Fix: re-collect it with a better policy or explicit "
                      f"--ref_max_score.", stacklevel=2)
        ref_min = ref_max = None
    # Minari's reference scores are measured in the dataset's evaluation env where it names one
    # (recover_environment(eval_env=True)); the collection env otherwise.
    env_spec = getattr(dataset, "_eval_env_spec", None) or dataset.spec.env_spec
    spec = Spec(obs_shape, np.dtype(arrays["observations"].dtype).name, action_dim, discrete)
    info = DataInfo(
        dataset_id=config.dataset, spec=spec, env_spec=env_spec,
        action_low=low, action_high=high, observation_transform=transform,
        obs_mean=obs_mean, obs_std=obs_std,
        ref_min_score=None if ref_min is None else float(ref_min),
        ref_max_score=None if ref_max is None else float(ref_max),
        num_episodes=num_episodes, num_transitions=len(arrays["rewards"]),
        behaviour_return=behaviour_return, reward_scale=scale, reward_shift=shift,
        observation_keys=observation_keys, action_start=int(act_space.start) if discrete else 0)
    arrays.update(prepare_columns(config, arrays, samplers))
    arrays = share_frames(arrays)
    device_arrays = {k: jnp.asarray(v, _device_dtype(k, v, discrete)) for k, v in arrays.items()}
    return device_arrays, info


def share_frames(arrays):
    """Store every episode's observations once: `observations` becomes the (N + episodes)
    frames, `obs_index[i]` is transition i's frame and `obs_index[i] + 1` its next one, and
    `next_observations` (a second copy of every frame) is dropped. Half the memory for images.
    """
    ends = arrays["episode_ends"].astype(bool)
    ends[-1] = True
    episode = np.concatenate([[0], np.cumsum(ends)[:-1]])  # episode of each transition
    obs_index = np.arange(len(ends)) + episode
    observations = arrays.pop("observations")
    next_observations = arrays.pop("next_observations")
    frames = np.empty((len(ends) + int(ends.sum()), *observations.shape[1:]), observations.dtype)
    frames[obs_index] = observations
    frames[obs_index[ends] + 1] = next_observations[ends]
    return {"observations": frames, "obs_index": obs_index.astype(np.int32), **arrays}


def transition_observations(data):
    """(observations, next_observations) per transition, host numpy, of a loaded dataset."""
    frames, index = np.asarray(data["observations"]), np.asarray(data["obs_index"])
    return frames[index], frames[index + 1]


def _device_dtype(key, value, discrete):
    if key == "observations":
        return value.dtype  # float32 after the transform, or the stored integer dtype
    if key.endswith("actions") and discrete:
        return jnp.int32
    if value.dtype.kind in "iu":  # index columns of the samplers
        return jnp.int32
    return jnp.float32
