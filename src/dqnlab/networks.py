"""Q-networks: map a batch of observations to one Q-value per action."""

from collections.abc import Sequence

import torch
from torch import nn

from dqnlab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class MLPQNetwork(nn.Module):
    """Fully connected Q-network for flat vector observations."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_actions: int,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
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
        layers: list[nn.Module] = []
        width = obs_shape[0]
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        layers.append(nn.Linear(width, n_actions))
        self.layers = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.layers(obs.float())
