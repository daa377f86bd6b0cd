"""A tiny pixel-observation task for tests: steer a dot to the centre of a 6x6 image.

Observation: (6, 6, 2) uint8 — channel 0 draws the dot at its column, channel 1 the target
column; action: one continuous number in [-1, 1], the column's velocity; reward: -|distance|.
Registered as StitchPixelDot-v0 so Minari can rebuild it for evaluation.
"""
import gymnasium as gym
import numpy as np

SIZE = 6


class PixelDot(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 2), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(0, SIZE - 1))
        return self._obs(), {}

    def _obs(self):
        img = np.zeros((SIZE, SIZE, 2), np.uint8)
        img[:, int(round(self.x)), 0] = 255
        img[:, SIZE // 2, 1] = 255
        return img

    def step(self, action):
        self.x = float(np.clip(self.x + float(np.asarray(action).reshape(-1)[0]), 0, SIZE - 1))
        return self._obs(), -abs(self.x - SIZE // 2), False, False, {}


def register():
    if "StitchPixelDot-v0" not in gym.registry:
        gym.register("StitchPixelDot-v0", entry_point="tests.image_env:PixelDot", max_episode_steps=20)


def expert(obs, rng, episode):
    """Move towards the target column (what a good policy does); noisy for variety."""
    col = int(np.argmax(obs[0, :, 0]))
    return np.clip(np.array([np.sign(SIZE // 2 - col) * 0.8 + 0.3 * rng.normal()], np.float32), -1, 1)
