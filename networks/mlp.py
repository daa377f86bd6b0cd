"""MLP torso and the one ensemble helper every multi-critic method uses."""
from typing import Callable, Sequence

import flax.linen as nn


def default_init(scale: float = 1.0):
    """Glorot-uniform scaled by `scale` (small scales for output layers).

    Not orthogonal init (jaxrl's choice): orthogonal init runs a LAPACK QR, and several of them
    in one vmapped (seeds x ensemble) init program deadlocked the CPU runtime of jaxlib 0.10.
    """
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


class MLP(nn.Module):
    """Dense layers with an activation between them (and after the last if `activate_final`)."""

    hidden_dims: Sequence[int]
    activation: Callable = nn.relu
    activate_final: bool = False
    layer_norm: bool = False  # LayerNorm after each hidden activation (ReBRAC: Dense -> ReLU -> LN)
    kernel_init: Callable = default_init()

    @nn.compact
    def __call__(self, x):
        for i, size in enumerate(self.hidden_dims):
            x = nn.Dense(size, kernel_init=self.kernel_init)(x)
            if i + 1 < len(self.hidden_dims) or self.activate_final:
                x = self.activation(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
        return x


def ensemble(module_cls, num: int, in_axes=None):
    """Return `module_cls` lifted to `num` independent copies along axis 0.

    Parameters get a leading axis of size `num` with independently drawn initial values;
    inputs are broadcast (`in_axes=None`) unless given per member. One batched computation,
    never a Python loop over members.
    """
    return nn.vmap(
        module_cls,
        variable_axes={"params": 0},
        split_rngs={"params": True, "dropout": True},
        in_axes=in_axes,
        out_axes=0,
        axis_size=num,
    )
