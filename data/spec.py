"""What every layer agrees on about the data: its Spec, and the user-facing error type.

The bottom of the import graph: imports nothing of stitch.
"""
from typing import NamedTuple, Tuple


class StitchError(Exception):
    """A user-facing error: the message names the problem and the fix (no traceback shown)."""


class Spec(NamedTuple):
    """What an algorithm needs to know about the data to build its networks.

    `observation_dtype` is the dtype the data is stored in on device (uint8 images stay uint8);
    networks always receive float32 observations (`data.samplers.float_observations`).
    """

    observation_shape: Tuple[int, ...]
    observation_dtype: str
    action_dim: int  # for discrete data: number of actions
    discrete: bool

    @property
    def observation_dim(self) -> int:
        """Number of observation features (the flat size of one observation)."""
        size = 1
        for d in self.observation_shape:
            size *= d
        return size

    def to_json(self) -> dict:
        return {"observation_shape": list(self.observation_shape),
                "observation_dtype": self.observation_dtype,
                "action_dim": self.action_dim, "discrete": self.discrete}

    @classmethod
    def from_json(cls, obj) -> "Spec":
        return cls(tuple(obj["observation_shape"]), obj["observation_dtype"],
                   int(obj["action_dim"]), bool(obj["discrete"]))
