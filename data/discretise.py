"""Per-dimension discretisation of continuous columns (the Trajectory Transformer's tokens).

Each dimension d gets N bins between N + 1 edges: `uniform` edges split [min, max] evenly;
`quantile` edges are the data's sorted values at evenly spaced ranks, so every bin holds about
the same number of rows (Janner et al. 2021's QuantileDiscretizer, its default). A value is
encoded as the last bin whose left edge it reaches (clipped to 0..N-1) and decoded as that bin's
centre, so a value inside the data's range comes back within half its bin's width:
|x - decode(encode(x))| <= (edges[i+1] - edges[i]) / 2 <= max bin width / 2.

`CDFNormaliser` maps each dimension through its empirical CDF to [-1, 1] instead (Decision
Diffuser's normaliser: a bounded, roughly uniform input for a diffusion model that clips to
[-1, 1]).

Fitting runs on the host (numpy) once; encode, decode and the expectation of a predicted
distribution are jnp functions of the edges, usable inside jit.
"""
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

KINDS = ("uniform", "quantile")


class Discretiser(NamedTuple):
    edges: jnp.ndarray  # (N + 1, D), nondecreasing down each column

    @property
    def num_bins(self) -> int:
        return self.edges.shape[0] - 1


def fit_discretiser(x, num_bins: int, kind: str = "quantile") -> Discretiser:
    """Edges for the columns of `x` (rows, D)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown discretisation '{kind}'; use one of {KINDS}.")
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"fit_discretiser needs (rows >= 2, dims) data, got shape {x.shape}.")
    if kind == "uniform":
        low, high = x.min(0), x.max(0)
        high = np.where(high > low, high, low + 1e-6)  # a constant column: one tiny range
        edges = low + (high - low) * np.linspace(0.0, 1.0, num_bins + 1)[:, None]
    else:
        ranks = np.linspace(0, len(x) - 1, num_bins + 1).astype(int)
        edges = np.sort(x, axis=0)[ranks]
    return Discretiser(jnp.asarray(edges, jnp.float32))


def encode(d: Discretiser, x):
    """Bin indices (..., D) int32 of values (..., D)."""
    reached = jnp.sum(x[..., None, :] >= d.edges, axis=-2)  # edges at or below x, per dim
    return jnp.clip(reached - 1, 0, d.num_bins - 1).astype(jnp.int32)


def centres(d: Discretiser):
    """(N, D) bin centres."""
    return 0.5 * (d.edges[:-1] + d.edges[1:])


def decode(d: Discretiser, indices):
    """Bin centres (..., D) of indices (..., D)."""
    c = centres(d)
    return c[jnp.clip(indices, 0, d.num_bins - 1), jnp.arange(c.shape[1])]


def expectation(d: Discretiser, probs, dim: int):
    """E[value of dimension `dim`] under bin probabilities (..., N) (TT's 'mean' percentile)."""
    return probs @ centres(d)[:, dim]


class CDFNormaliser(NamedTuple):
    """Each dimension mapped through its empirical CDF to [-1, 1] (Decision Diffuser's
    CDFNormalizer): `quantiles` (L, D) are the data's values at L evenly spaced levels of
    [0, 1]; between them the map is linear, so decode(encode(x)) = x for x inside the data's
    range, and encode(x) is about uniform on [-1, 1] over the data (exactly at the quantiles)."""
    quantiles: jnp.ndarray  # (L, D), nondecreasing down each column


def fit_cdf(x, levels: int = 1001) -> CDFNormaliser:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"fit_cdf needs (rows >= 2, dims) data, got shape {x.shape}.")
    q = np.quantile(x, np.linspace(0.0, 1.0, levels), axis=0)
    # a constant column (or a flat run of equal values) would give a zero-width step: spread it
    # by a negligible amount so both directions stay functions
    q = q + np.arange(levels)[:, None] * 1e-7 * np.maximum(np.abs(q).max(0), 1.0)
    return CDFNormaliser(jnp.asarray(q, jnp.float32))


def _levels(n: CDFNormaliser):
    return jnp.linspace(0.0, 1.0, n.quantiles.shape[0])


def cdf_encode(n: CDFNormaliser, x):
    """(..., D) values -> (..., D) in [-1, 1] (values beyond the data's range clip to its ends)."""
    flat = x.reshape(-1, x.shape[-1])
    u = jnp.stack([jnp.interp(flat[:, d], n.quantiles[:, d], _levels(n)) for d in range(x.shape[-1])], -1)
    return (2.0 * u - 1.0).reshape(x.shape)


def cdf_decode(n: CDFNormaliser, y):
    """The inverse map of cdf_encode, (..., D) in [-1, 1] -> values."""
    flat = (jnp.clip(y, -1.0, 1.0).reshape(-1, y.shape[-1]) + 1.0) / 2.0
    x = jnp.stack([jnp.interp(flat[:, d], _levels(n), n.quantiles[:, d]) for d in range(y.shape[-1])], -1)
    return x.reshape(y.shape)


__all__ = ["Discretiser", "KINDS", "fit_discretiser", "encode", "decode", "centres", "expectation",
           "CDFNormaliser", "fit_cdf", "cdf_encode", "cdf_decode"]
