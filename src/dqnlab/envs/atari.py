"""Atari (ALE) envs with the DQN preprocessing: (4, 84, 84) uint8 frame stacks, newest last.

Two builds give the same observations and episodes. `vector_entry_point` is ale-py's
`AtariVectorEnv`, which preprocesses in C++ threads; `sync` and `async` are gymnasium
vector envs of `AtariPreprocessing` + `FrameStackObservation`. Either way the episode
statistics in `info["episode"]` are raw whole-game scores; life-loss episode ends and
reward clipping are added on top for training envs only.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import partial
from numbers import Real
from typing import Any

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv
from gymnasium.vector import AutoresetMode

from dqnlab.envs.atari_wrappers import (
    NOOP,
    FireOnReset,
    LifeLossRestart,
    ServeAfterLifeLoss,
    fire_action,
)
from dqnlab.errors import ConfigError

PREPROCESSING_KEY = "preprocessing"  # env.kwargs.preprocessing: atari selects this module
NATIVE_MODE = "vector_entry_point"
ALE_FPS = 60  # emulator frames per second


@dataclass(frozen=True)
class AtariOptions:
    """The keys of `env.kwargs` next to `preprocessing: atari` (conf/env/atari.yaml)."""

    noop_max: int = 30
    """Up to this many no-ops after a reset: varied starts (Nature)."""
    frame_skip: int = 4
    """Frames each action is repeated for, max-pooled over the last two."""
    screen_size: int = 84
    """Side of the square grayscale frame."""
    frame_stack: int = 4
    """Frames per observation, newest last."""
    terminal_on_life_loss: bool = True
    """Training envs only: a life loss ends the episode."""
    clip_rewards: bool = True
    """Training envs only: rewards become their sign."""
    fire_reset: bool = True
    """Press FIRE after a reset (and a life loss) where a game needs it."""
    repeat_action_probability: float | None = None
    """Sticky actions; null: the id's (v5 0.25)."""
    full_action_space: bool = False
    """All 18 actions instead of the game's minimal set."""
    max_episode_frames: int = 108_000
    """Episode cap: 30 min at 60 Hz = 27k agent steps."""

    @classmethod
    def from_kwargs(cls, env_kwargs: Mapping[str, Any]) -> "AtariOptions":
        """Options from `env.kwargs`; ConfigError names an unknown key or a bad value."""
        names = [f.name for f in fields(cls)]
        given = {k: v for k, v in env_kwargs.items() if k != PREPROCESSING_KEY}
        for key in given:
            if key not in names:
                raise ConfigError(
                    f"env.kwargs.{key} is not an Atari preprocessing key: use one of {names}"
                )
        options = cls(**given)
        options.check()
        return options

    def check(self) -> None:
        """Raise ConfigError naming the first key whose value cannot work."""
        minimum = {
            "noop_max": 0,
            "frame_skip": 1,
            "screen_size": 1,
            "frame_stack": 1,
            "max_episode_frames": 1,
        }
        for key, low in minimum.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"env.kwargs.{key}={value!r} is not allowed: expected an integer >= {low}"
                )
        for key in ("terminal_on_life_loss", "clip_rewards", "fire_reset", "full_action_space"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(
                    f"env.kwargs.{key}={getattr(self, key)!r} is not allowed: "
                    "expected true or false"
                )
        p = self.repeat_action_probability
        if p is not None and (isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1):
            raise ConfigError(
                f"env.kwargs.repeat_action_probability={p!r} is not allowed: "
                "expected a probability in [0, 1] or null"
            )


def atari_options(env_kwargs: Mapping[str, Any]) -> AtariOptions | None:
    """The Atari options `env_kwargs` asks for with `preprocessing: atari`, else None."""
    kind = env_kwargs.get(PREPROCESSING_KEY)
    if kind is None:
        return None
    if kind != "atari":
        raise ConfigError(
            f"env.kwargs.{PREPROCESSING_KEY}={kind!r} is not allowed: use atari or leave it out"
        )
    return AtariOptions.from_kwargs(env_kwargs)


def ale_game(env_id: str) -> str:
    """The ROM name behind an ALE id (ALE/Pong-v5 -> pong); ConfigError for other ids."""
    game = gym.spec(env_id).kwargs.get("game")
    if not isinstance(game, str):
        raise ConfigError(
            f"env.id={env_id!r} is not an Atari (ALE) game, but env.kwargs asks for Atari "
            "preprocessing: use an id such as ALE/Pong-v5 or ALE/Breakout-v5"
        )
    return game


def make_atari_env(
    env_id: str, options: AtariOptions, render: bool = False, played_alone: bool = False
) -> gym.Env:
    """One preprocessed Atari env: whole games, raw rewards (the vector env adds training rules).

    `render` adds RGB frames of the full screen (one per agent step, hence the frame rate).
    `played_alone` (playback, videos): FIRE serves after each life loss, as evaluation's
    vector env does (see `ServeAfterLifeLoss`).
    """
    ale_game(env_id)
    env = gym.make(
        env_id,
        frameskip=1,  # AtariPreprocessing skips frames itself
        repeat_action_probability=_sticky(env_id, options),
        full_action_space=options.full_action_space,
        max_num_frames_per_episode=options.max_episode_frames,
        render_mode="rgb_array" if render else None,
    )
    fire = fire_action(env.unwrapped.get_action_meanings())
    # terminal_on_life_loss stays off: this wrapper would reset the game (see atari_wrappers).
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=options.noop_max,
        frame_skip=options.frame_skip,
        screen_size=options.screen_size,
    )
    if options.fire_reset and fire is not None:
        env = FireOnReset(env, fire)
        if played_alone:
            env = ServeAfterLifeLoss(env, fire)
    # Zeros before the first frame, as in ale-py's vector env.
    env = gym.wrappers.FrameStackObservation(env, options.frame_stack, padding_type="zero")
    env.metadata = {**env.metadata, "render_fps": ALE_FPS / options.frame_skip}
    return env


def make_atari_vector_env(
    env_id: str,
    num_envs: int,
    options: AtariOptions,
    vectorization_mode: str,
    training: bool,
) -> gym.vector.VectorEnv:
    """`num_envs` preprocessed Atari envs, NextStep autoreset, raw whole-game statistics.

    With `training`, a life loss ends an episode (the game goes on) and rewards are clipped
    to their sign (Nature), as the options say; `info["episode"]` keeps the raw score. In
    games that wait for FIRE, FIRE is pressed after every reset and life loss (see
    `LifeLossRestart`).
    """
    if vectorization_mode == NATIVE_MODE:
        envs: gym.vector.VectorEnv = AtariVectorEnv(
            ale_game(env_id),
            num_envs,
            frameskip=options.frame_skip,
            stack_num=options.frame_stack,
            img_height=options.screen_size,
            img_width=options.screen_size,
            noop_max=options.noop_max,
            use_fire_reset=options.fire_reset,
            reward_clipping=False,  # clipped below, after the raw score is recorded
            repeat_action_probability=_sticky(env_id, options),
            full_action_space=options.full_action_space,
            max_num_frames_per_episode=options.max_episode_frames,
            autoreset_mode=AutoresetMode.NEXT_STEP,
        )
    else:
        async_ = vectorization_mode == "async"
        vector_env = gym.vector.AsyncVectorEnv if async_ else gym.vector.SyncVectorEnv
        envs = vector_env(
            [partial(make_atari_env, env_id, options)] * num_envs,
            autoreset_mode=AutoresetMode.NEXT_STEP,
        )
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    fire = _fire_action(env_id, options) if options.fire_reset else None
    if training and options.terminal_on_life_loss:
        envs = LifeLossRestart(envs, NOOP if fire is None else fire, training=True)
    elif not training and fire is not None:
        envs = LifeLossRestart(envs, fire, training=False)
    if training and options.clip_rewards:
        envs = gym.wrappers.vector.TransformReward(envs, np.sign)
    return envs


def _sticky(env_id: str, options: AtariOptions) -> float:
    """The configured sticky-action probability, else the id's own (v5: 0.25, v4: 0)."""
    if options.repeat_action_probability is not None:
        return float(options.repeat_action_probability)
    return float(gym.spec(env_id).kwargs.get("repeat_action_probability", 0.25))


def _fire_action(env_id: str, options: AtariOptions) -> int | None:
    """The game's FIRE action if it needs one to serve (see `fire_action`), else None."""
    with gym.make(env_id, full_action_space=options.full_action_space) as env:
        return fire_action(env.unwrapped.get_action_meanings())
