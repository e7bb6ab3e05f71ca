"""The DQN learner: online and target networks, the TD loss and the optimiser step."""

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dqnlab.agent.noisy import NoisyLinear, resample_noise
from dqnlab.agent.static_update import StaticUpdate
from dqnlab.agent.targets import double_q, max_q, td_target
from dqnlab.replay.buffer import ReplaySample

# Per-sample losses (reduction="none"), so prioritized replay can weight each sample.
LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    # Huber (delta 1): quadratic near zero, linear for large TD errors, so outliers
    # do not dominate the gradient.
    "huber": F.smooth_l1_loss,
    "mse": F.mse_loss,
}

OptimizerFactory = Callable[..., torch.optim.Optimizer]


@dataclass
class UpdateStats:
    """Per-update statistics, kept as tensors so the hot loop never waits on the device."""

    loss: torch.Tensor
    q_mean: torch.Tensor
    grad_norm: torch.Tensor
    td_error: torch.Tensor  # per sample, target - Q(s, a): new priorities for prioritized replay


class DQNLearner:
    """Minimises the TD error of the online network against a periodically synced target.

    The discount comes with each sample (gamma^k for a k-step return), so the learner is the
    same for one-step and n-step returns.
    """

    def __init__(
        self,
        q_net: nn.Module,
        make_optimizer: OptimizerFactory,
        loss: str = "huber",
        max_grad_norm: float | None = 10.0,
        double: bool = False,
        update_mode: str = "eager",
    ) -> None:
        self.q_net = q_net
        self.target_net = copy.deepcopy(q_net).requires_grad_(False)
        self.device = next(q_net.parameters()).device
        self.captured = update_mode == "graph" and self.device.type == "cuda"
        # A captured optimiser step keeps its step count and learning rate on the device.
        extra = {"capturable": True} if self.captured else {}
        self.optimizer = make_optimizer(q_net.parameters(), **extra)
        self.loss_fn = LOSSES[loss]
        self.max_grad_norm = max_grad_norm if max_grad_norm is not None else float("inf")
        self.double = double
        self.noisy = any(isinstance(m, NoisyLinear) for m in q_net.modules())
        self.num_updates = 0
        self.update_mode = update_mode
        self._step = self._make_step(update_mode)
        self._unit_weights: torch.Tensor | None = None
        self._lr_on_device()

    def _make_step(self, update_mode: str) -> Callable[..., tuple[torch.Tensor, ...]]:
        """How an update runs: `eager`, op by op; `graph`, on static tensors, captured as a
        CUDA graph on CUDA devices (StaticUpdate); `compile`, through torch.compile (its
        CUDA-graph mode on CUDA devices)."""
        if update_mode == "graph":
            return StaticUpdate(self._td_step, self.device)
        if update_mode == "compile":
            mode = "reduce-overhead" if self.device.type == "cuda" else "default"
            return torch.compile(self._td_step, mode=mode)
        return self._td_step

    def update(self, batch: ReplaySample) -> UpdateStats:
        """One gradient step on a batch of transitions, weighted by `batch.weights` if given."""
        weights = batch.weights
        if weights is None and self.update_mode != "eager":
            weights = self._ones(len(batch.actions))  # one graph for both kinds of buffer
        loss, q_mean, grad_norm, td_error = self._step(
            batch.obs,
            batch.actions,
            batch.rewards,
            batch.next_obs,
            batch.terminated,
            batch.discounts,
            weights,
        )
        self.num_updates += 1
        return UpdateStats(loss, q_mean, grad_norm, td_error)

    def _td_step(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        discounts: torch.Tensor,
        weights: torch.Tensor | None,
    ) -> tuple[torch.Tensor, ...]:
        """The TD loss and one optimiser step; returns loss, mean Q, grad norm, TD errors.

        Nothing here waits on the device or branches on tensor values, so it can be captured.
        """
        if self.noisy:  # fresh, independent noise in both networks for every update
            resample_noise(self.q_net)
            resample_noise(self.target_net)
        q_taken = self.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            target_q = self.target_net(next_obs)
            next_q = double_q(self.q_net(next_obs), target_q) if self.double else max_q(target_q)
            target = td_target(rewards, next_q, terminated, discounts)
        losses = self.loss_fn(q_taken, target, reduction="none")
        # Importance-sampling weights undo the bias of prioritized sampling.
        loss = (losses if weights is None else losses * weights).mean()

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(self.q_net.parameters(), self.max_grad_norm)
        self.optimizer.step()
        q_taken = q_taken.detach()
        return loss.detach(), q_taken.mean(), grad_norm.detach(), target - q_taken

    def _ones(self, n: int) -> torch.Tensor:
        """Unit importance weights for uniform batches (weighting by 1 changes no loss)."""
        if self._unit_weights is None or len(self._unit_weights) != n:
            self._unit_weights = torch.ones(n, device=self.device)
        return self._unit_weights

    def _lr_on_device(self) -> None:
        """For a captured step: the learning rate as a device tensor that `set_lr` fills, and
        capturable optimiser groups (also after loading another mode's checkpoint)."""
        if not self.captured:
            return
        for group in self.optimizer.param_groups:
            group["capturable"] = True
            if not isinstance(group["lr"], torch.Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), device=self.device)

    def state_dict(self) -> dict[str, Any]:
        """Both networks, the optimiser and the update count (a checkpoint's learner part).

        Learning rates are saved as numbers, whichever update mode wrote them."""
        optimizer = self.optimizer.state_dict()
        optimizer["param_groups"] = [
            group | {"lr": float(group["lr"])} for group in optimizer["param_groups"]
        ]
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": optimizer,
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned (extra keys, such as a checkpoint's, are ignored)."""
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.num_updates = state["num_updates"]
        self._lr_on_device()

    def set_lr(self, lr: float) -> None:
        """Set the optimiser's learning rate (for schedules driven by env steps)."""
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # in place: a captured step reads this tensor
            else:
                group["lr"] = lr

    @torch.no_grad()
    def sync_target(self, tau: float = 1.0) -> None:
        """Copy the online weights into the target (tau=1) or move them a fraction tau there.

        In-place tensor copies: an order of magnitude cheaper than load_state_dict, which
        matters when the sync period is a few env steps.
        """
        targets, sources = list(self.target_net.parameters()), list(self.q_net.parameters())
        if tau >= 1.0:
            torch._foreach_copy_(targets, sources)
        else:
            torch._foreach_lerp_(targets, sources, tau)
        for target_buffer, buffer in zip(
            self.target_net.buffers(), self.q_net.buffers(), strict=True
        ):
            target_buffer.copy_(buffer)
