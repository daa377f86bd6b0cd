"""Samplers: how a training batch is cut from the on-device dataset.

Every sampler has two halves. `prepare(config, arrays)` runs once on the host, before
anything is compiled, and returns the EXTRA columns the sampler needs (episode indices,
returns-to-go, ...) as numpy arrays; they travel to the device with the dataset. `gather(config,
data, indices)` runs inside the compiled training loop, so it is pure jnp with static shapes:
it may read Python ints from the config (they become trace-time constants) but never branches
on data. `sample` draws uniform row indices and calls `gather`.

  transitions  one-step tuples (s, a, r, s', a', terminal, episode_end) -- what TD methods train on.
  nstep        n-step returns: sum_{k<m} gamma^k r_{t+k}, truncated after a terminal or at the
               episode's last transition, with s' = s'_{t+m-1} and the bootstrap factor
               gamma^m (1 - terminal_{t+m-1}).
  windows      the K rows ending at the sampled row, left-padded at the episode start, with
               returns-to-go and timesteps -- Decision Transformer's (R, s, a, t) context; its
               rewards and values carry `termination_penalty` (TT's), its returns-to-go never.
  segments     the H rows from the sampled row on (absorbing past the episode's end), with the
               discounted return from the first -- the trajectories Diffuser-style planners denoise.
  mc_returns   transitions plus the discounted Monte-Carlo return to the episode's end -- AWR's
               regression target.

Episodes are contiguous runs of rows; `episode_ends` marks each one's last row. The dataset's
final row always closes an episode, marked or not, since nothing follows it.
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

OBSERVATION_KEYS = ("observations", "next_observations")
TRANSITION_KEYS = ("observations", "actions", "rewards", "next_observations", "next_actions",
                   "terminals", "episode_ends")


class Sampler(NamedTuple):
    name: str
    prepare: Callable  # prepare(config, arrays) -> {column: np.ndarray}, host, once, before jit
    gather: Callable   # gather(config, data, indices (B,) int32) -> batch dict, pure jnp
    fields: tuple      # config fields fixed at prepare/trace time; they cannot be swept per run


def sample(sampler, config, data, rng):
    # The exact randint call of the old trainer.sample_batch, so transitions batches are
    # bit-identical to runs made before samplers existed.
    indices = jax.random.randint(rng, (config.batch_size,), 0, data["rewards"].shape[0])
    return sampler.gather(config, data, indices)


PIXEL_SCALE = np.float32(1.0 / 255.0)  # observation_transform="div255"


def observations_at(config, data, rows, next_=False):
    """Observations of transition rows `rows` (their next observations with `next_`), as float.

    Loaded datasets store every episode's frames once (`data.dataset`: `observations` holds
    the frames, `obs_index[i]` transition i's frame and `obs_index[i] + 1` its next one), which
    halves the memory of image data; a dict with plain `next_observations` columns works too.
    """
    if "obs_index" in data:
        frames = data["obs_index"][rows] + (1 if next_ else 0)
        return float_observations(config, data["observations"][frames])
    return float_observations(config, data["next_observations" if next_ else "observations"][rows])


def float_observations(config, x):
    """Observations as the networks see them.

    Float data was already transformed on the host and passes through untouched (same object);
    integer pixel data stays uint8 on the device to save 4x memory and is cast per batch.
    """
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x
    x = x.astype(jnp.float32)
    if getattr(config, "observation_transform", None) == "div255":
        x = x * PIXEL_SCALE  # a multiply, as XLA would make of x / 255 anyway: the host does the same
    return x


def prepare_columns(config, arrays, samplers) -> dict:
    """The union of the samplers' extra columns; a sampler listed twice is prepared once."""
    columns, done = {}, set()
    for sampler in samplers:
        if sampler.name in done:
            continue
        done.add(sampler.name)
        columns.update(sampler.prepare(config, arrays))
    return columns


# ---------------------------------------------------------------- host-side episode bookkeeping

def _episode_bounds(episode_ends):
    """(first, last) row index of every row's episode, int32."""
    ends = np.asarray(episode_ends) > 0
    ends = ends.copy()
    ends[-1] = True  # the data's end closes the last episode even if it was cut off unmarked
    last_rows = np.flatnonzero(ends)
    first_rows = np.concatenate([[0], last_rows[:-1] + 1])
    # episode id of row t = number of episode ends strictly before t
    episode = np.cumsum(ends) - ends
    return first_rows[episode].astype(np.int32), last_rows[episode].astype(np.int32)


def _terminal_rows(arrays):
    """1.0 at terminal rows (none when the columns have no `terminals`, e.g. a bare test dict)."""
    terminals = arrays.get("terminals")
    return np.zeros(len(arrays["rewards"])) if terminals is None else (np.asarray(terminals) > 0).astype(np.float64)


def _returns_to_go(rewards, episode_ends, gamma):
    """G_t = r_t + gamma * G_{t+1} within each episode, G = r at its last row; float64.

    A sequential reverse pass is a Python loop over millions of rows. Instead this is the
    doubling (Hillis-Steele) scan of the linear recurrence G_t = r_t + a_t G_{t+1}, with
    a_t = gamma inside an episode and 0 at its last row: after the pass with shift s,
    G_t sums 2s rewards ahead and a_t is the product of the 2s links, so ceil(log2 of the
    longest episode) vectorised passes suffice.
    """
    g = np.asarray(rewards, dtype=np.float64).copy()
    ends = np.asarray(episode_ends) > 0
    a = np.where(ends, 0.0, float(gamma))
    a[-1] = 0.0
    n, shift = len(g), 1
    while shift < n and a.any():
        g[:-shift] += a[:-shift] * g[shift:]
        a[:-shift] = a[:-shift] * a[shift:]
        a[-shift:] = 0.0  # links that would reach past the data's end (already 0 via a[-1])
        shift *= 2
    return g


# ---------------------------------------------------------------- transitions

def _prepare_nothing(config, arrays):
    return {}


def _gather_transitions(config, data, indices):
    batch = {k: data[k][indices] for k in TRANSITION_KEYS if k not in OBSERVATION_KEYS}
    batch["observations"] = observations_at(config, data, indices)
    batch["next_observations"] = observations_at(config, data, indices, next_=True)
    return batch


transitions = Sampler("transitions", _prepare_nothing, _gather_transitions, ())


# ---------------------------------------------------------------- n-step returns

def _prepare_nstep(config, arrays):
    _, last = _episode_bounds(arrays["episode_ends"])
    return {"episode_last": last}


def _gather_nstep(config, data, indices):
    n = int(config.n_step)
    gamma = jnp.asarray(config.discount, jnp.float32)
    last = data["episode_last"][indices]
    # k = 0 always counts: the sampled row's own reward, read exactly as `transitions` does.
    rewards = data["rewards"][indices]
    weight = jnp.broadcast_to(gamma, indices.shape)  # gamma^k for the next reward; gamma^m at the end
    m = jnp.ones(indices.shape, jnp.int32)
    alive = data["terminals"][indices] == 0          # nothing after a terminal is bootstrapped through
    # A fixed n-1 further steps; rows past a stop contribute zero, so no shape depends on data.
    for k in range(1, n):
        row = indices + k
        take = alive & (row <= last)
        row = jnp.minimum(row, last)
        rewards = rewards + jnp.where(take, weight * data["rewards"][row], 0.0)
        weight = jnp.where(take, weight * gamma, weight)
        m = m + take.astype(jnp.int32)
        alive = take & (data["terminals"][row] == 0)
    final = indices + m - 1
    terminals = data["terminals"][final]
    return {
        "observations": observations_at(config, data, indices),
        "actions": data["actions"][indices],
        "next_actions": data["next_actions"][final],  # the action logged with next_observations
        "episode_ends": data["episode_ends"][final],
        "rewards": rewards,
        "next_observations": observations_at(config, data, final, next_=True),
        "terminals": terminals,
        "discounts": weight * (1.0 - terminals),
        "n_steps": m,
    }


nstep = Sampler("nstep", _prepare_nstep, _gather_nstep, ("n_step",))


# ---------------------------------------------------------------- Decision Transformer windows

WINDOW_KEYS = ("observations", "actions", "rewards", "returns_to_go", "values", "timesteps", "terminals")


def _prepare_windows(config, arrays):
    first, last = _episode_bounds(arrays["episode_ends"])
    # undiscounted: DT conditions on the return still to be collected, as given in the data
    rtg = _returns_to_go(arrays["rewards"], arrays["episode_ends"], 1.0)
    # the Trajectory Transformer's value token: the discounted return from the next step on,
    # sum_k>=1 discount^(k-1) r_(t+k) within the episode (0 at its last step), of the rewards
    # with `termination_penalty` added at terminals (TT's -100; DT's 0)
    rewards, columns = np.asarray(arrays["rewards"], np.float64), {}
    penalty = float(getattr(config, "termination_penalty", 0.0))
    if penalty:
        rewards = rewards + penalty * _terminal_rows(arrays)
        columns["penalised_rewards"] = rewards.astype(np.float32)  # the batches' rewards
    g = _returns_to_go(rewards, arrays["episode_ends"], config.discount)
    values = np.where(np.arange(len(g)) == last, 0.0, np.roll(g, -1))
    return {"episode_first": first,
            "timesteps": (np.arange(len(first)) - first).astype(np.int32),
            "returns_to_go": rtg.astype(np.float32),
            "values": values.astype(np.float32), **columns}


def _gather_windows(config, data, indices):
    K = int(config.context_len)
    rows = indices[:, None] - (K - 1) + jnp.arange(K)[None, :]         # (B, K), last = indices
    first = data["episode_first"][indices][:, None]
    real = rows >= first
    rows = jnp.maximum(rows, first)  # padded slots read a real row, then are zeroed

    def masked(x):
        keep = real.reshape(real.shape + (1,) * (x.ndim - 2))
        return jnp.where(keep, x, jnp.zeros((), x.dtype))

    source = {"rewards": "penalised_rewards"} if "penalised_rewards" in data else {}
    batch = {k: masked(data[source.get(k, k)][rows]) for k in WINDOW_KEYS if k != "observations"}
    batch["observations"] = masked(observations_at(config, data, rows))
    batch["mask"] = real.astype(jnp.float32)
    return batch


windows = Sampler("windows", _prepare_windows, _gather_windows, ("context_len", "discount", "termination_penalty"))



# ---------------------------------------------------------------- trajectory segments (planners)

def _prepare_segments(config, arrays):
    _, last = _episode_bounds(arrays["episode_ends"])
    # The discounted return from each row to its episode's end, a terminal row's reward plus
    # `termination_penalty` (Diffuser's and Decision Diffuser's -100): the value a planner's
    # guide regresses and the return Decision Diffuser conditions on.
    rewards = np.asarray(arrays["rewards"], np.float64)
    penalty = float(getattr(config, "termination_penalty", 0.0))
    if penalty:
        rewards = rewards + penalty * _terminal_rows(arrays)
    g = _returns_to_go(rewards, arrays["episode_ends"], config.discount)
    return {"episode_last": last, "segment_returns": g.astype(np.float32)}


def _gather_segments(config, data, indices):
    """The `planning_horizon` rows starting at each sampled row, (B, H, ...). Past the episode's
    end the segment stays in its last state with zero actions (an absorbing state; `mask` marks
    the real steps); `returns` is the discounted return from the first row."""
    H = int(config.planning_horizon)
    rows = indices[:, None] + jnp.arange(H)[None, :]
    last = data["episode_last"][indices][:, None]
    real = rows <= last
    rows = jnp.minimum(rows, last)
    actions = data["actions"][rows]
    keep = real.reshape(real.shape + (1,) * (actions.ndim - 2))
    return {"observations": observations_at(config, data, rows),
            "actions": jnp.where(keep, actions, jnp.zeros((), actions.dtype)),
            "rewards": jnp.where(real, data["rewards"][rows], 0.0),
            "terminals": data["terminals"][rows],
            "mask": real.astype(jnp.float32),
            "returns": data["segment_returns"][indices]}


segments = Sampler("segments", _prepare_segments, _gather_segments, ("planning_horizon", "discount", "termination_penalty"))

# ---------------------------------------------------------------- Monte-Carlo returns

def _prepare_mc_returns(config, arrays):
    g = _returns_to_go(arrays["rewards"], arrays["episode_ends"], config.discount)
    return {"mc_returns": g.astype(np.float32)}


def _gather_mc_returns(config, data, indices):
    batch = _gather_transitions(config, data, indices)
    batch["mc_returns"] = data["mc_returns"][indices]
    return batch


mc_returns = Sampler("mc_returns", _prepare_mc_returns, _gather_mc_returns, ("discount",))


SAMPLERS = {"transitions": transitions, "nstep": nstep, "windows": windows,
            "mc_returns": mc_returns, "segments": segments}
