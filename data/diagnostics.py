"""Dataset diagnostics: what a dataset offers before any agent is trained on it.

TQ and SACo are the two measures of Schweighofer et al. 2022, "A Dataset Perspective on
Offline Reinforcement Learning" (CoLLAs; code: kschweig/OfflineRL):
- TQ (trajectory quality, exploitation): the dataset's mean episode return normalised between
  a random policy's and an expert's return, (g(D) - g(random)) / (g(expert) - g(random)).
  Minari's ref_min_score / ref_max_score are those two references (D4RL's convention).
- SACo (state-action coverage, exploration): the number of unique state-action pairs of D
  divided by that of a reference dataset, in the paper the replay buffer of the online agent's
  whole training. Continuous values are discretised first, as the paper's evaluator does:
  each dimension into `np.digitize` bins of 100 edges spread evenly between limits, which must
  be the same for D and its reference (`shared_limits`) or the counts are not comparable.
  Unique rows are counted exactly (`unique_count`) or with a HyperLogLog sketch
  (`HyperLogLog`, for sets too large to hold; the paper's evaluator used one with 1 % error).
Besides: per-episode returns and lengths, and action coverage (the fraction of each action
dimension's bins the data visits; the action frequencies where actions are discrete).
"""
from typing import Optional

import numpy as np

BINS = 100  # the paper's evaluator: np.linspace(min, max, num=100) edges per dimension


def episode_bounds(episode_ends) -> tuple:
    """(start, stop) row indices of each episode, from the 0/1 `episode_ends` column; the data's
    last row closes an episode, marked or not (as data/samplers.py reads it)."""
    ends = np.asarray(episode_ends) > 0
    ends[-1:] = True
    stops = np.flatnonzero(ends) + 1
    return np.concatenate([[0], stops[:-1]]).astype(int), stops.astype(int)


def episode_returns(rewards, episode_ends) -> np.ndarray:
    """Undiscounted return of each episode."""
    starts, _ = episode_bounds(episode_ends)
    return np.add.reduceat(np.asarray(rewards, np.float64), starts)


def episode_lengths(episode_ends) -> np.ndarray:
    starts, stops = episode_bounds(episode_ends)
    return stops - starts


def trajectory_quality(returns, random_return: float, expert_return: float) -> float:
    """TQ: the mean episode return, 0 at the random policy's return and 1 at the expert's."""
    if not expert_return > random_return:
        raise ValueError(f"TQ needs expert_return > random_return, got {expert_return} <= {random_return}: "
                         f"give the dataset reference scores (ref_min_score < ref_max_score).")
    return float((np.mean(returns) - random_return) / (expert_return - random_return))


def shared_limits(*columns) -> tuple:
    """Per-dimension (low, high) over several datasets' rows, so that each is discretised alike."""
    stacked = np.concatenate([np.asarray(c, np.float64).reshape(len(c), -1) for c in columns])
    return stacked.min(0), stacked.max(0)


def discretise(rows, low, high, bins: int = BINS) -> np.ndarray:
    """Integer codes, one per dimension: np.digitize against `bins` evenly spaced edges from low
    to high (codes 0..bins; a constant dimension gets one code)."""
    rows = np.asarray(rows, np.float64).reshape(len(rows), -1)
    codes = np.empty(rows.shape, np.int64)
    for d in range(rows.shape[1]):
        codes[:, d] = np.digitize(rows[:, d], np.linspace(low[d], high[d], num=bins))
    return codes


def unique_count(codes) -> int:
    """The exact number of distinct rows."""
    codes = np.ascontiguousarray(codes)
    return int(len(np.unique(codes.view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1]))))))


_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(h):
    """splitmix64's finaliser: a bijection of uint64 whose output bits are close to independent."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def hash_rows(codes) -> np.ndarray:
    """A 64-bit hash of each integer row (equal rows, equal hashes)."""
    codes = np.asarray(codes).astype(np.uint64).reshape(len(codes), -1)
    with np.errstate(over="ignore"):
        h = np.full(len(codes), np.uint64(0x9E3779B97F4A7C15))
        for d in range(codes.shape[1]):
            h = _mix(h ^ _mix(codes[:, d] + np.uint64(d + 1)))
    return h


def _bit_length(x) -> np.ndarray:
    """Bits needed for each uint64 (0 for 0), by binary search: exact, unlike log2 in float64."""
    x = x.copy()
    n = np.zeros(x.shape, np.int64)
    for shift in (32, 16, 8, 4, 2, 1):
        big = x >= (np.uint64(1) << np.uint64(shift))
        n[big] += shift
        x[big] >>= np.uint64(shift)
    return n + (x > 0)


class HyperLogLog:
    """Flajolet et al. 2007's cardinality sketch: 2**precision one-byte registers, relative error
    about 1.04 / sqrt(2**precision) (0.8 % at the default 14). Mergeable: `update` with more rows
    or `merge` another sketch, and the count is that of the union."""

    def __init__(self, precision: int = 14):
        if not 4 <= precision <= 18:
            raise ValueError(f"precision={precision}: use 4..18 (2**precision registers)")
        self.p = precision
        self.m = 1 << precision
        self.registers = np.zeros(self.m, np.uint8)

    def update(self, codes):
        h = hash_rows(codes)
        index = (h >> np.uint64(64 - self.p)).astype(np.int64)
        rest = h & ((np.uint64(1) << np.uint64(64 - self.p)) - np.uint64(1))
        rank = (64 - self.p) - _bit_length(rest) + 1  # position of the first 1-bit, from the left
        np.maximum.at(self.registers, index, rank.astype(np.uint8))
        return self

    def merge(self, other: "HyperLogLog"):
        if other.p != self.p:
            raise ValueError(f"cannot merge sketches of precision {self.p} and {other.p}")
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def __len__(self):
        alpha = 0.7213 / (1 + 1.079 / self.m)
        estimate = alpha * self.m ** 2 / np.sum(2.0 ** -self.registers.astype(np.float64))
        zeros = int(np.sum(self.registers == 0))
        if estimate <= 2.5 * self.m and zeros:  # small range: linear counting is the better estimate
            estimate = self.m * np.log(self.m / zeros)
        return int(round(estimate))


def count_state_actions(observations, actions, low, high, bins: int = BINS,
                        sketch: Optional[int] = None) -> int:
    """Unique discretised (state, action) rows: exact, or a HyperLogLog estimate with
    2**sketch registers. `low`/`high` span the concatenated state and action dimensions."""
    n = len(observations)
    rows = np.concatenate([np.asarray(observations).reshape(n, -1), np.asarray(actions).reshape(n, -1)], 1)
    codes = discretise(rows, low, high, bins)
    return unique_count(codes) if sketch is None else len(HyperLogLog(sketch).update(codes))


def action_coverage(actions, low=None, high=None, bins: int = 20, num_actions: Optional[int] = None) -> dict:
    """Continuous: per action dimension, the fraction of `bins` equal bins of [low, high] the data
    visits. Discrete (`num_actions`): the frequency of each action and the fraction ever taken."""
    actions = np.asarray(actions)
    if num_actions is not None:
        freq = np.bincount(actions.astype(np.int64).reshape(-1), minlength=num_actions) / actions.size
        return {"action_frequency": freq.tolist(), "fraction_of_actions_taken": float(np.mean(freq > 0))}
    actions = actions.reshape(len(actions), -1)
    covered = []
    for d in range(actions.shape[1]):
        edges = np.linspace(low[d], high[d], bins + 1)
        which = np.clip(np.searchsorted(edges, actions[:, d], side="right") - 1, 0, bins - 1)
        covered.append(len(np.unique(which)) / bins)
    return {"bins_per_dimension": bins, "fraction_of_bins_visited": covered}
