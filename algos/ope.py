"""Importance-sampling estimators of a target policy's value from logged episodes.

Inputs are per-row arrays in the dataset's episode order (rows of one episode contiguous,
`episode_ends` 1 on each episode's last row): rewards r_t, the log-ratio
log pi(a_t|s_t) - log mu(a_t|s_t) of the logged action under the target and behaviour policies
(mu fitted where the true one is unknown), and for doubly robust a model's q(s_t, a_t) and
v(s_t) = E_{a~pi} q(s_t, a) (FQE's critic). With rho_{0:t} = prod_{k<=t} pi/mu within the
episode and n episodes:
  per-decision IS   (1/n) sum_i sum_t gamma^t rho_{0:t} r_t                 (Precup et al. 2000)
  weighted IS       sum_i w_i G_i / sum_i w_i,  w_i = rho_{0:T_i}, G_i = sum_t gamma^t r_t
  doubly robust     (1/n) sum_i sum_t gamma^t [rho_{0:t} (r_t - q_t) + rho_{0:t-1} v_t]
                    (Jiang & Li 2016's per-decision form; rho_{0:-1} = 1)
The effective sample size of the trajectory weights, (sum w)^2 / sum w^2, says how many
episodes the estimate really rests on; `COLLAPSE` marks where it is too few to trust.
"""
import numpy as np

from data.diagnostics import episode_bounds

COLLAPSE = 0.01  # an ESS below this fraction of the episodes (or below 2) is a collapse


def _episodes(episode_ends):
    starts, stops = episode_bounds(episode_ends)
    episode = np.repeat(np.arange(len(starts)), stops - starts)
    return starts, stops, episode


def _per_row(episode_ends, log_ratio, gamma):
    """(episode index, discount gamma^t, cumulative log-ratio log rho_{0:t}) of every row."""
    starts, stops, episode = _episodes(episode_ends)
    t = np.arange(len(episode)) - starts[episode]
    log_ratio = np.asarray(log_ratio, np.float64)
    cumulative = np.cumsum(log_ratio)
    offset = np.concatenate([[0.0], cumulative])[starts]  # sum before each episode's first row
    return episode, starts, gamma ** t, cumulative - offset[episode]


def per_decision_is(rewards, log_ratio, episode_ends, gamma):
    episode, starts, discount, log_rho = _per_row(episode_ends, log_ratio, gamma)
    per_episode = np.bincount(episode, discount * np.exp(log_rho) * np.asarray(rewards, np.float64))
    return float(per_episode.mean())


def trajectory_log_weights(log_ratio, episode_ends):
    """log w_i = log rho_{0:T_i} of each episode."""
    _, starts, _, log_rho = _per_row(episode_ends, log_ratio, 1.0)
    stops = np.concatenate([starts[1:], [len(log_rho)]])
    return log_rho[stops - 1]


def weighted_is(rewards, log_ratio, episode_ends, gamma):
    episode, _, discount, _ = _per_row(episode_ends, log_ratio, gamma)
    returns = np.bincount(episode, discount * np.asarray(rewards, np.float64))
    log_w = trajectory_log_weights(log_ratio, episode_ends)
    w = np.exp(log_w - log_w.max())  # the normalisation cancels the shift: no overflow
    return float(np.sum(w * returns) / np.sum(w))


def doubly_robust(rewards, log_ratio, episode_ends, gamma, q, v):
    episode, starts, discount, log_rho = _per_row(episode_ends, log_ratio, gamma)
    rho = np.exp(log_rho)
    previous = np.exp(log_rho - np.asarray(log_ratio, np.float64))  # rho_{0:t-1}
    previous[starts] = 1.0
    terms = discount * (rho * (np.asarray(rewards, np.float64) - np.asarray(q, np.float64))
                        + previous * np.asarray(v, np.float64))
    return float(np.bincount(episode, terms).mean())


def effective_sample_size(log_weights) -> float:
    w = np.exp(np.asarray(log_weights, np.float64) - np.max(log_weights))
    return float(np.sum(w) ** 2 / np.sum(w ** 2))


def estimates(rewards, log_ratio, episode_ends, gamma, q=None, v=None) -> dict:
    """Every estimator at once, with the ESS and a warning where the weights collapse."""
    log_w = trajectory_log_weights(log_ratio, episode_ends)
    n = len(log_w)
    ess = effective_sample_size(log_w)
    out = {"per_decision_is": per_decision_is(rewards, log_ratio, episode_ends, gamma),
           "weighted_is": weighted_is(rewards, log_ratio, episode_ends, gamma),
           "doubly_robust": None if q is None else doubly_robust(rewards, log_ratio, episode_ends, gamma, q, v),
           "ess": ess, "episodes": n, "warning": None}
    if ess < max(2.0, COLLAPSE * n):
        out["warning"] = (f"importance weights collapsed: ESS {ess:.1f} of {n} episodes, so the IS "
                          f"estimates rest on one or two episodes (long horizons and a target far from "
                          f"the behaviour policy do this). Trust FQE, or doubly robust with care.")
    return out
