"""A tiny task whose action space starts at -1 (Discrete(3, start=-1)): reward 1 for action -1
(the space's first action), 0 otherwise; 5 steps. A policy whose actions are not shifted back to
the space's own labels scores 0. Registered as StitchPickStart-v0 so Minari can rebuild it."""
import gymnasium as gym
import numpy as np


class PickStart(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(3, start=-1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        if action not in self.action_space:
            raise ValueError(f"action {action} is not in {self.action_space}")
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, float(action == -1), False, False, {}


def register():
    if "StitchPickStart-v0" not in gym.registry:
        gym.register("StitchPickStart-v0", entry_point="tests.discrete_env:PickStart", max_episode_steps=5)
