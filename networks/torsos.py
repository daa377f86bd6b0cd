"""Observation torsos: what turns an observation of any shape into a feature vector.

Every network (policies, critics, values) starts with a `Torso`, chosen by `config.torso`:
  mlp  flattens the observation's own axes (identity for flat vectors: no parameters, so
       flat-observation networks are exactly the plain MLPs they always were);
  cnn  the MinAtar paper's torso (Young & Tian 2019): one 3x3 convolution with 16 filters,
       stride 1, ReLU, flattened; the network's hidden Dense layers follow.
Leading batch axes may be several (CQL scores (proposals, batch, ...) observations at once).
"""
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp

TORSOS = ("mlp", "cnn")


class TorsoSpec(NamedTuple):
    """Which torso, and how many trailing axes of an input are the observation's own."""

    kind: str = "mlp"
    observation_ndim: int = 1


def torso_spec(kind: str, observation_shape) -> TorsoSpec:
    if kind not in TORSOS:
        raise ValueError(f"Unknown torso '{kind}'; use one of {TORSOS}.")
    if kind == "cnn" and len(observation_shape) != 3:
        raise ValueError(f"The cnn torso needs (height, width, channels) observations; these have "
                         f"shape {tuple(observation_shape)}.")
    return TorsoSpec(kind, len(observation_shape))


class Torso(nn.Module):
    spec: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations):
        ndim = self.spec.observation_ndim
        if self.spec.kind == "cnn":
            batch_shape = observations.shape[:-3]
            x = observations.reshape(-1, *observations.shape[-3:])
            x = nn.relu(nn.Conv(16, kernel_size=(3, 3), strides=1, padding="VALID")(x))
            return x.reshape(*batch_shape, -1)
        if ndim == 1:
            return observations
        return observations.reshape(*observations.shape[:-ndim], -1)


__all__ = ["TORSOS", "Torso", "TorsoSpec", "torso_spec"]
