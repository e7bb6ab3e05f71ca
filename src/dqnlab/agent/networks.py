"""Q-networks: map a batch of observations to one Q-value per action."""

from collections.abc import Sequence

import torch
from torch import nn

from dqnlab.agent.heads import fc_q_layers
from dqnlab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class MLPQNetwork(nn.Module):
    """Fully connected Q-network for flat vector observations, optionally dueling and noisy."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
        dueling: bool = False,
        noisy: bool = False,
        noisy_sigma0: float = 0.5,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(obs_shape) != 1:
            raise ConfigError(
                f"network=mlp needs a flat vector observation, the env gives shape "
                f"{tuple(obs_shape)}; use an image network for image observations"
            )
        self.layers = fc_q_layers(
            obs_shape[0],
            hidden_sizes,
            n_actions,
            ACTIVATIONS[activation],
            dueling=dueling,
            noisy=noisy,
            noisy_sigma0=noisy_sigma0,
            layer_norm=layer_norm,
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs.float())


class NatureCNN(nn.Module):
    """The Nature DQN network (Mnih et al. 2015) for stacked frames, optionally dueling and noisy.

    Three convolutions (32 8x8 stride 4, 64 4x4 stride 2, 64 3x3 stride 1) then the fully
    connected layers of `fc_q_layers` (Nature: one of 512), whose dueling and noisy options
    apply; the convolutions stay plain. Frames arrive as raw pixels (uint8 until on the
    device) and are scaled to [0, 1] here.
    """

    MIN_SIDE = 36  # the smallest height and width the three convolutions accept

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden_sizes: Sequence[int] = (512,),
        dueling: bool = False,
        noisy: bool = False,
        noisy_sigma0: float = 0.5,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        if len(obs_shape) != 3 or min(obs_shape[1:]) < self.MIN_SIDE:
            raise ConfigError(
                f"network=nature_cnn needs stacked frames (channels, height, width) of at least "
                f"{self.MIN_SIDE}x{self.MIN_SIDE}, such as (4, 84, 84); the env gives shape "
                f"{tuple(obs_shape)}: use env=pong, env=breakout or env=atari"
            )
        self.conv = nn.Sequential(
            nn.Conv2d(obs_shape[0], 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_features = self.conv(torch.zeros(1, *obs_shape)).shape[1]  # 3136 for 84x84
        self.head = fc_q_layers(
            n_features,
            hidden_sizes,
            n_actions,
            nn.ReLU,
            dueling=dueling,
            noisy=noisy,
            noisy_sigma0=noisy_sigma0,
            layer_norm=layer_norm,
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(obs.float() / 255.0))
