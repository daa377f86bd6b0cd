"""Observation torsos: what turns an observation of any shape into a feature vector.

Every network (policies, critics, values) starts with a `Torso`, chosen by `config.torso`:
  mlp  flat vector observations as they are (no parameters, so flat-observation networks are
       exactly the plain MLPs they always were); the driver refuses it for (height, width,
       channels) grids, where `flatten` says that an MLP over the flattened grid is meant;
  flatten  the observation's own axes flattened into one vector, for any shape;
  cnn  the MinAtar paper's torso (Young & Tian 2019): one 3x3 convolution with 16 filters,
       stride 1, ReLU, flattened; the network's hidden Dense layers follow.
Leading batch axes may be several (CQL scores (proposals, batch, ...) observations at once).

The spec also carries the networks' compute dtype (`config.compute_dtype`): with "bfloat16"
every Dense and Conv multiplies in bfloat16 (mixed precision: parameters, gradients, optimizer
state and every network output stay float32; LayerNorm runs in float32).
"""
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp

from networks.inits import INITS, layer_init

TORSOS = ("mlp", "cnn", "flatten")


COMPUTE_DTYPES = ("float32", "bfloat16")


class TorsoSpec(NamedTuple):
    """How every network reads its input: which torso, how many trailing axes of an input are
    the observation's own, the dtype its matmuls compute in, and how its layers are
    initialised (networks/inits.py: glorot | orthogonal | pytorch | edac)."""

    kind: str = "mlp"
    observation_ndim: int = 1
    compute_dtype: str = "float32"
    init: str = "glorot"


def matmul_dtype(spec: TorsoSpec):
    """The `dtype` of a network's Dense/Conv layers: None (float32 throughout) or bfloat16."""
    return jnp.bfloat16 if spec.compute_dtype == "bfloat16" else None


def torso_spec(kind: str, observation_shape, compute_dtype: str = "float32", init: str = "glorot") -> TorsoSpec:
    if kind not in TORSOS:
        raise ValueError(f"Unknown torso '{kind}'; use one of {TORSOS}.")
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"Unknown compute dtype '{compute_dtype}'; use one of {COMPUTE_DTYPES}.")
    if kind == "cnn" and len(observation_shape) != 3:
        raise ValueError(f"The cnn torso needs (height, width, channels) observations; these have "
                         f"shape {tuple(observation_shape)}.")
    if init not in INITS:
        raise ValueError(f"Unknown init '{init}'; use one of {INITS}.")
    return TorsoSpec(kind, len(observation_shape), compute_dtype, init)


class Torso(nn.Module):
    spec: TorsoSpec = TorsoSpec()

    @nn.compact
    def __call__(self, observations):
        ndim = self.spec.observation_ndim
        if self.spec.kind == "cnn":
            batch_shape = observations.shape[:-3]
            x = observations.reshape(-1, *observations.shape[-3:])
            inits = {} if self.spec.init == "glorot" else dict(zip(  # glorot keeps flax's Conv default
                ("kernel_init", "bias_init"), layer_init(self.spec.init, "hidden", 9 * x.shape[-1])))
            x = nn.relu(nn.Conv(16, kernel_size=(3, 3), strides=1, padding="VALID",
                                dtype=matmul_dtype(self.spec), **inits)(x))
            return x.reshape(*batch_shape, -1)
        if ndim == 1:
            return observations
        return observations.reshape(*observations.shape[:-ndim], -1)


__all__ = ["COMPUTE_DTYPES", "TORSOS", "Torso", "TorsoSpec", "matmul_dtype", "torso_spec"]
