"""Noisy linear layers (Fortunato et al. 2018): exploration from learned parameter noise."""

import math

import torch
from torch import nn
from torch.nn import functional as F


def scale_noise(x: torch.Tensor) -> torch.Tensor:
    """f(x) = sign(x) * sqrt(|x|), applied to the factorised Gaussian noise."""
    return x.sign() * x.abs().sqrt()


class NoisyLinear(nn.Module):
    """Linear layer with factorised Gaussian noise on weights and biases.

    Training mode uses mu + sigma * noise; eval mode uses mu only, so greedy evaluation
    and exported models are deterministic. The noise lives in buffers, so a deep copy
    (a target network) carries noise of its own and moves with `.to(device)`.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        # Factorised noise: in + out Gaussians instead of in * out per draw.
        self.register_buffer("eps_in", torch.empty(in_features))
        self.register_buffer("eps_out", torch.empty(out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight_mu, -bound, bound)
        nn.init.uniform_(self.bias_mu, -bound, bound)
        nn.init.constant_(self.weight_sigma, sigma0 * bound)
        nn.init.constant_(self.bias_sigma, sigma0 * bound)
        self.resample()

    @torch.no_grad()
    def resample(self) -> None:
        """Draw fresh noise in place from torch's global RNG (no host-device sync)."""
        self.eps_in.normal_()
        self.eps_out.normal_()

    def noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current (weight, bias) noise: outer(f(eps_out), f(eps_in)) and f(eps_out)."""
        f_out = scale_noise(self.eps_out)
        return torch.outer(f_out, scale_noise(self.eps_in)), f_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.linear(x, self.weight_mu, self.bias_mu)
        weight_noise, bias_noise = self.noise()
        weight = self.weight_mu + self.weight_sigma * weight_noise
        return F.linear(x, weight, self.bias_mu + self.bias_sigma * bias_noise)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def resample_noise(module: nn.Module) -> None:
    """Draw fresh noise for every NoisyLinear inside `module` (a no-op if it has none)."""
    for layer in module.modules():
        if isinstance(layer, NoisyLinear):
            layer.resample()
