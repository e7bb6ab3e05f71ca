"""CartPole that takes at least STEP_DELAY_S per step: a run that lasts long enough for a test
to act during it (stop a server) on a machine of any speed. `env.id=slow_env:SlowCartPole-v0`."""

import time

import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv

STEP_DELAY_S = 0.01


class SlowCartPole(CartPoleEnv):
    def step(self, action):  # type: ignore[no-untyped-def]
        time.sleep(STEP_DELAY_S)
        return super().step(action)


gym.register("SlowCartPole-v0", entry_point=SlowCartPole, max_episode_steps=500)
