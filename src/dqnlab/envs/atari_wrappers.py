"""The Atari episode rules no library wrapper provides: FIRE after a reset, and a life loss
that ends a training episode without resetting the game.

Both gymnasium's `AtariPreprocessing(terminal_on_life_loss=True)` and ale-py's
`AtariVectorEnv(episodic_life=True)` reset the whole game after every life loss, so an agent
trained with them never plays a later life (measured: Breakout's lives go 5 -> 4 -> 5).
ale-py's `life_loss_info=True` keeps the game going but its next step is an ordinary step,
not the NextStep autoreset step the training loop expects after an episode end.
"""

from typing import Any

import gymnasium as gym
import numpy as np

NOOP = 0  # ALE puts NOOP first in every action set


def fire_action(action_meanings: list[str]) -> int | None:
    """The FIRE action of a game that waits for it to start play (Breakout's serve), else None."""
    needs_fire = len(action_meanings) >= 3 and action_meanings[1] == "FIRE"
    return 1 if needs_fire else None


class FireOnReset(gym.Wrapper):
    """Press FIRE once after each reset, as ale-py's vector env does with `use_fire_reset`."""

    def __init__(self, env: gym.Env, fire: int) -> None:
        super().__init__(env)
        self.fire = fire

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(self.fire)
        if terminated or truncated:  # cannot happen in a real game; never hand out a dead state
            return self.env.reset(**kwargs)
        return obs, info


class ServeAfterLifeLoss(gym.Wrapper):
    """One env played whole (playback, videos): FIRE on a game's first step and after each
    life loss, whatever the agent chose, as `LifeLossRestart` does for evaluation's vector
    envs. Not for training envs: the replay buffer would hold the agent's action, not FIRE."""

    def __init__(self, env: gym.Env, fire: int) -> None:
        super().__init__(env)
        self.fire = fire
        self.lives = 0
        self.serve = True

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.lives, self.serve = int(info["lives"]), True
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(
            self.fire if self.serve else action
        )
        self.serve = int(info["lives"]) < self.lives
        self.lives = int(info["lives"])
        return obs, reward, terminated, truncated, info


class LifeLossRestart(gym.vector.VectorWrapper):
    """After a life loss the next step plays `restart_action`, whatever the agent chose.

    Training (`training=True`): a life loss also reports `terminated`, so that next step is
    what the training loop expects of a NextStep autoreset: the action is ignored, the step
    plays FIRE where the game needs it to serve again (else NOOP) and no transition is stored
    for it; the game goes on until it is really over.
    Evaluation (`training=False`, games that need FIRE): the episode goes on, and FIRE serves
    after each life loss as in training and on the first step of each game (the reset's own
    FIRE can be swallowed by a sticky action): a policy that never had to learn serving does
    not stall until the frame cap.
    The wrapped env must report `info["lives"]` (ALE does) and real game ends itself, so
    episode statistics recorded beneath this wrapper stay whole games.
    """

    def __init__(self, env: gym.vector.VectorEnv, restart_action: int, training: bool) -> None:
        super().__init__(env)
        self.restart_action = restart_action
        self.training = training
        self.lives = np.zeros(self.num_envs, dtype=np.int64)
        self.restarting = np.zeros(self.num_envs, dtype=bool)
        self.ended = np.zeros(self.num_envs, dtype=bool)  # so the next step is a reset

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.lives = np.array(info["lives"], dtype=np.int64)
        self.restarting[:] = not self.training
        self.ended[:] = False
        return obs, info

    def step(self, actions: np.ndarray) -> tuple[Any, Any, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.where(self.restarting, self.restart_action, actions)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        lives = np.array(info["lives"], dtype=np.int64)
        was_reset, self.ended = self.ended, terminated | truncated
        # After a game end the next step resets the game: lives go up, not down.
        life_lost = (lives < self.lives) & ~self.ended
        self.lives = lives
        if self.training:
            self.restarting = life_lost
            return obs, rewards, terminated | life_lost, truncated, info
        self.restarting = life_lost | was_reset
        return obs, rewards, terminated, truncated, info
