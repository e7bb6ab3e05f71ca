"""Atari envs: preprocessing, training-only episode rules, NextStep autoreset, raw scores,
the env options' configs, and a short Pong run tracked in MLflow."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient
from torch import nn

from dqnlab.agent.networks import NatureCNN
from dqnlab.config.checks import check_config
from dqnlab.envs.atari_wrappers import fire_action
from dqnlab.envs.factory import EnvSpaces, inspect_env, make_vector_env
from dqnlab.errors import ConfigError
from dqnlab.evaluation.greedy import evaluate_greedy
from dqnlab.evaluation.playback import play_episodes
from dqnlab.training.run import run

ATARI = {"preprocessing": "atari"}
MODES = ("vector_entry_point", "sync")  # ale-py's C++ vector env; gymnasium wrappers


def atari_envs(
    env_id: str, mode: str, training: bool, num_envs: int = 1, **options: object
) -> gym.vector.VectorEnv:
    return make_vector_env(env_id, num_envs, mode, ATARI | options, training=training)


def random_actions(rng: np.random.Generator, envs: gym.vector.VectorEnv) -> np.ndarray:
    return rng.integers(envs.single_action_space.n, size=envs.num_envs)


@pytest.mark.parametrize("mode", MODES)
def test_observations_are_uint8_frame_stacks_newest_last(mode: str) -> None:
    envs = atari_envs("ALE/Pong-v5", mode, training=True, num_envs=2)
    obs, _ = envs.reset(seed=0)
    assert envs.single_observation_space.shape == (4, 84, 84)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    # After a reset only the newest frame exists: the older ones are zero padding.
    assert not obs[:, :-1].any() and obs[:, -1].any()
    next_obs, *_ = envs.step(np.zeros(2, dtype=np.int64))
    np.testing.assert_array_equal(next_obs[:, :-1], obs[:, 1:])  # shifted by one frame
    envs.close()


def test_inspect_env_reports_the_preprocessed_space_only_when_asked() -> None:
    assert inspect_env("ALE/Pong-v5", ATARI) == EnvSpaces((4, 84, 84), np.dtype(np.uint8), 6)
    assert inspect_env("ALE/Pong-v5", {}).obs_shape == (210, 160, 3)


@pytest.mark.parametrize("mode", MODES)
def test_a_life_loss_ends_a_training_episode_but_not_the_game(mode: str) -> None:
    envs = atari_envs("ALE/Breakout-v5", mode, training=True)
    _, info = envs.reset(seed=1)
    rng = np.random.default_rng(1)
    lives, ends = [int(info["lives"][0])], 0
    while True:
        _, _, terminated, truncated, info = envs.step(random_actions(rng, envs))
        lives.append(int(info["lives"][0]))
        ends += int(terminated[0])
        if "_episode" in info:  # the whole game is over
            break
        if terminated[0]:
            assert lives[-1] == lives[-2] - 1 > 0  # a life lost, the game goes on
    assert lives[0] == 5 and lives[-1] == 0 and not truncated[0]
    assert sorted(set(lives), reverse=True) == [5, 4, 3, 2, 1, 0]  # never reset to 5 midway
    assert ends == 5  # one training episode per life
    envs.close()


@pytest.mark.parametrize("mode", MODES)
def test_an_eval_episode_is_the_whole_game(mode: str) -> None:
    envs = atari_envs("ALE/Breakout-v5", mode, training=False)
    envs.reset(seed=1)
    rng = np.random.default_rng(1)
    lives = []
    while True:
        _, _, terminated, truncated, info = envs.step(random_actions(rng, envs))
        lives.append(int(info["lives"][0]))
        if terminated[0] or truncated[0]:
            break
    assert terminated[0] and lives[-1] == 0 and min(lives[:-1]) == 1
    assert info["_episode"][0] and info["episode"]["l"][0] == len(lives)
    envs.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_step_after_a_life_loss_ignores_the_action(mode: str) -> None:
    """Two identical games; after the first life loss they get different actions."""
    games = [atari_envs("ALE/Breakout-v5", mode, training=True) for _ in range(2)]
    for game in games:
        game.reset(seed=2)
    rng = np.random.default_rng(2)
    while True:
        actions = random_actions(rng, games[0])
        (obs, _, terminated, _, info), (other, *_) = (game.step(actions) for game in games)
        np.testing.assert_array_equal(obs, other)
        if terminated[0]:
            break
    assert info["lives"][0] == 4
    after = [game.step(np.array([action])) for game, action in zip(games, (2, 3), strict=True)]
    np.testing.assert_array_equal(after[0][0], after[1][0])
    assert after[0][4]["lives"][0] == 4 and not after[0][2][0]  # same life, no reset
    for game in games:
        game.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_step_after_a_game_end_is_a_reset_that_ignores_the_action(mode: str) -> None:
    """NextStep autoreset, shown at the frame cap: 200 frames are under 50 agent steps."""
    games = [atari_envs("ALE/Pong-v5", mode, True, max_episode_frames=200) for _ in range(2)]
    for game in games:
        game.reset(seed=3)
    steps = 0
    while True:
        _, _, terminated, truncated, info = games[0].step(np.array([2]))
        games[1].step(np.array([2]))
        steps += 1
        if terminated[0] or truncated[0]:
            break
    # Truncated (a time limit, not an end) after 200 frames, less the no-ops and FIRE.
    assert truncated[0] and not terminated[0] and 40 <= steps <= 50
    assert info["episode"]["l"][0] == steps
    after = [game.step(np.array([action])) for game, action in zip(games, (2, 3), strict=True)]
    obs, reward, terminated, truncated, _ = after[0]
    np.testing.assert_array_equal(obs, after[1][0])
    assert not obs[0, :-1].any() and obs[0, -1].any()  # a fresh stack: the reset observation
    assert reward[0] == 0 and not terminated[0] and not truncated[0]
    for game in games:
        game.close()


@pytest.mark.parametrize("mode", MODES)
def test_training_rewards_are_clipped_while_episode_returns_stay_raw(mode: str) -> None:
    """Space Invaders scores 5 to 30 per invader. Without life-loss ends and FIRE the training
    and the eval env play the same game from the same seed and actions."""
    options = {"terminal_on_life_loss": False, "fire_reset": False, "max_episode_frames": 2000}
    train = atari_envs("ALE/SpaceInvaders-v5", mode, training=True, **options)
    game = atari_envs("ALE/SpaceInvaders-v5", mode, training=False, **options)
    train.reset(seed=4)
    game.reset(seed=4)
    rng = np.random.default_rng(4)
    clipped, raw = [], []
    while True:
        actions = random_actions(rng, train)
        _, train_reward, _, _, train_info = train.step(actions)
        _, reward, terminated, truncated, info = game.step(actions)
        clipped.append(float(train_reward[0]))
        raw.append(float(reward[0]))
        if terminated[0] or truncated[0]:
            break
    assert set(clipped) <= {0.0, 1.0} and max(raw) >= 5
    np.testing.assert_array_equal(clipped, np.sign(raw))
    assert train_info["episode"]["r"][0] == info["episode"]["r"][0] == sum(raw) > sum(clipped)
    train.close()
    game.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_training_score_is_the_raw_whole_game_score(mode: str) -> None:
    envs = atari_envs("ALE/SpaceInvaders-v5", mode, training=True)
    envs.reset(seed=5)
    rng = np.random.default_rng(5)
    clipped, ends = [], 0
    while True:
        _, reward, terminated, _, info = envs.step(random_actions(rng, envs))
        clipped.append(float(reward[0]))
        ends += int(terminated[0])
        if "_episode" in info:
            break
    assert ends == 3  # Space Invaders has 3 lives: three training episodes, one game
    assert set(clipped) <= {0.0, 1.0}
    # Every scoring step is worth at least 5 points, over all three lives.
    assert info["episode"]["r"][0] >= 5 * sum(clipped) > 0
    assert info["episode"]["l"][0] == len(clipped)
    envs.close()


class FixedAction(nn.Module):
    """A Q-network that always prefers action 0 (NOOP)."""

    def __init__(self, n_actions: int) -> None:
        super().__init__()
        self.n_actions = n_actions

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        q = torch.zeros(len(obs), self.n_actions)
        q[:, 0] = 1.0
        return q


def test_evaluation_plays_whole_games_fires_after_life_losses_and_repeats_by_seed() -> None:
    # A NOOP policy never serves in Breakout: without FIRE after each life loss it would
    # wait until the frame cap (500 agent steps here).
    envs = atari_envs("ALE/Breakout-v5", "vector_entry_point", False, 2, max_episode_frames=2000)
    noop, cpu = FixedAction(4), torch.device("cpu")
    greedy = evaluate_greedy(noop, envs, seed=6, device=cpu)
    assert (greedy.lengths < 500).all() and (greedy.returns >= 0).all()
    again = evaluate_greedy(noop, envs, seed=6, device=cpu, epsilon=0.05)
    same = evaluate_greedy(noop, envs, seed=6, device=cpu, epsilon=0.05)
    np.testing.assert_array_equal(again.lengths, same.lengths)
    assert not np.array_equal(again.lengths, greedy.lengths)  # random actions were taken
    envs.close()


def test_playback_of_one_env_fires_after_life_losses() -> None:
    # Videos and evaluate.py play one env at a time: the same serving rule as evaluation.
    kwargs = ATARI | {"max_episode_frames": 2000}
    noop, cpu = FixedAction(4), torch.device("cpu")
    episodes = play_episodes(noop, "ALE/Breakout-v5", kwargs, seeds=[3, 4], epsilon=0.0, device=cpu)
    assert (episodes.lengths < 250).all()  # about 490 without FIRE: the frame cap
    again = play_episodes(noop, "ALE/Breakout-v5", kwargs, seeds=[3, 4], epsilon=0.0, device=cpu)
    np.testing.assert_array_equal(episodes.lengths, again.lengths)


def test_fire_action_only_for_games_that_start_with_fire() -> None:
    assert fire_action(["NOOP", "FIRE", "RIGHT", "LEFT"]) == 1
    assert fire_action(["NOOP", "UP", "DOWN"]) is None


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (ATARI | {"frame_stak": 4}, "env.kwargs.frame_stak"),
        (ATARI | {"noop_max": -1}, "env.kwargs.noop_max"),
        (ATARI | {"frame_skip": 2.5}, "env.kwargs.frame_skip"),
        (ATARI | {"clip_rewards": "yes"}, "env.kwargs.clip_rewards"),
        (ATARI | {"repeat_action_probability": 1.5}, "env.kwargs.repeat_action_probability"),
        ({"preprocessing": "mujoco"}, "env.kwargs.preprocessing"),
    ],
)
def test_bad_atari_options_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        inspect_env("ALE/Pong-v5", kwargs)


def test_atari_preprocessing_needs_an_ale_id() -> None:
    with pytest.raises(ConfigError, match="is not an Atari"):
        inspect_env("CartPole-v1", ATARI)


@pytest.mark.parametrize("env", ["pong", "breakout"])
def test_atari_env_options_select_the_nature_cnn(compose_config, env: str) -> None:
    cfg = compose_config(f"env={env}")
    check_config(cfg)
    assert cfg.network._target_ == "dqnlab.agent.networks.NatureCNN"
    assert cfg.env.kwargs.preprocessing == "atari" and cfg.env.name == env
    assert cfg.agent.lr == 1e-4 and cfg.agent.batch_size == 32  # zoo


def test_any_ale_game_by_id(compose_config) -> None:
    cfg = compose_config("env=atari", "env.id=ALE/SpaceInvaders-v5")
    spaces = inspect_env(cfg.env.id, cfg.env.kwargs)
    net = instantiate(cfg.network, obs_shape=spaces.obs_shape, n_actions=spaces.n_actions)
    assert isinstance(net, NatureCNN)
    assert net(torch.zeros(2, *spaces.obs_shape, dtype=torch.uint8)).shape == (2, 6)


def test_an_mlp_on_atari_frames_is_a_clear_error(compose_config) -> None:
    cfg = compose_config("env=pong", "network=mlp")
    spaces = inspect_env(cfg.env.id, cfg.env.kwargs)
    with pytest.raises(Exception, match="network=mlp needs a flat vector observation"):
        instantiate(cfg.network, obs_shape=spaces.obs_shape, n_actions=spaces.n_actions)


# A 2000-frame cap (500 agent steps) makes episodes end within the 600-step budget.
PONG_SMOKE = (
    "env=pong",
    "trainer.total_steps=600",
    "trainer.eval_every=600",
    "trainer.eval_episodes=1",
    "trainer.log_every=200",
    "trainer.torch_threads=1",
    "agent.learning_starts=200",
    "buffer.capacity=2000",
    "env.kwargs.max_episode_frames=2000",
    "tracking.log_model=false",
)


def test_pong_smoke_run_logs_raw_scores_to_mlflow(compose_config, tracking_uri: str) -> None:
    cfg = compose_config(*PONG_SMOKE, "device=cpu")
    result = run(cfg)
    client = MlflowClient()
    (found,) = client.search_runs([client.get_experiment_by_name("dqn-pong").experiment_id])
    assert found.info.status == "FINISHED"
    returns = client.get_metric_history(found.info.run_id, "train/episode_return")
    assert returns and all(-21 <= m.value <= 21 for m in returns)
    assert [m.value for m in returns] == result.episode_returns[: len(returns)]
    evals = client.get_metric_history(found.info.run_id, "eval/return_mean")
    assert [m.step for m in evals] == [600]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")
def test_pong_trains_on_the_gpu(compose_config, tracking_uri: str) -> None:
    cfg = compose_config(*PONG_SMOKE, "device=cuda")
    result = run(cfg)
    assert result.steps == 600 and result.evals
    assert all(t.is_cuda for t in result.best_state.values())
    client = MlflowClient()
    (found,) = client.search_runs([client.get_experiment_by_name("dqn-pong").experiment_id])
    assert found.info.status == "FINISHED"
