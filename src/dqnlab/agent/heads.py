"""Fully connected layers and Q heads shared by every Q-network (MLP now, image nets later)."""

from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import nn

from dqnlab.agent.noisy import NoisyLinear

LinearFactory = Callable[[int, int], nn.Module]


class DuelingHead(nn.Module):
    """Value and advantage streams (Wang et al. 2016): Q = V + (A - mean_a A).

    Centring the advantages makes V and A identifiable: without it any constant could
    move between them and leave Q unchanged.
    """

    def __init__(self, in_features: int, n_actions: int, linear: LinearFactory = nn.Linear) -> None:
        super().__init__()
        self.value = linear(in_features, 1)
        self.advantage = linear(in_features, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)


def fc_q_layers(
    in_features: int,
    hidden_sizes: Sequence[int],
    n_actions: int,
    activation: Callable[[], nn.Module],
    dueling: bool = False,
    noisy: bool = False,
    noisy_sigma0: float = 0.5,
    layer_norm: bool = False,
) -> nn.Sequential:
    """Hidden layers then a Q head (plain or dueling); every linear layer noisy if `noisy`.

    With `layer_norm`, each hidden linear layer's output is layer-normalised (with a learned
    scale and shift) before its activation, which keeps the features' scale fixed as the
    targets move. Without dueling or layer norm the layout is `[linear, act, ..., linear]`,
    the same state_dict keys as a plain `nn.Sequential` MLP.
    """
    linear: LinearFactory = partial(NoisyLinear, sigma0=noisy_sigma0) if noisy else nn.Linear
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden_sizes:
        norm = [nn.LayerNorm(size)] if layer_norm else []
        layers += [linear(width, size), *norm, activation()]
        width = size
    layers.append(DuelingHead(width, n_actions, linear) if dueling else linear(width, n_actions))
    return nn.Sequential(*layers)
