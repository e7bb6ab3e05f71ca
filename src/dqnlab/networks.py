"""Q-networks: map a batch of observations to one Q-value per action."""

from collections.abc import Sequence

import torch
from torch import nn

from dqnlab.errors import ConfigError
from dqnlab.heads import fc_q_layers

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
    ) -> None:
        super().__init__()
        if len(obs_shape) != 1:
            raise ConfigError(
                f"network=mlp needs a flat vector observation, the env gives shape "
                f"{tuple(obs_shape)}; use an image network for image observations"
            )
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"network.activation={activation!r} is not allowed: "
                f"use one of {sorted(ACTIVATIONS)}"
            )
        self.layers = fc_q_layers(
            obs_shape[0],
            hidden_sizes,
            n_actions,
            ACTIVATIONS[activation],
            dueling=dueling,
            noisy=noisy,
            noisy_sigma0=noisy_sigma0,
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs.float())
