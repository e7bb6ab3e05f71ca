"""Running an update step on static input tensors, so it can be captured as a CUDA graph.

A CUDA graph replays the kernels it recorded on the tensors it recorded them on: one launch
instead of dozens, which is what a small network's update is bound by on a GPU. So every
batch is copied into the same input tensors, and the outputs, which the next replay
overwrites, are handed out as copies.
"""

from collections.abc import Callable

import torch

Step = Callable[..., tuple[torch.Tensor, ...]]


class StaticUpdate:
    """Calls `step` on static copies of its inputs; on CUDA, the first `warmup` calls run
    eagerly on a side stream (allocating the optimiser's state, as capture requires), the
    next is captured as a CUDA graph and every call from then on replays it.

    Elsewhere (CPU) the step runs eagerly on the static inputs: the same results as calling
    `step` directly, which is what the tests check where no GPU is present.
    """

    def __init__(self, step: Step, device: torch.device, warmup: int = 3) -> None:
        self.step = step
        self.capture = device.type == "cuda"
        self.warmup = warmup
        self.calls = 0
        self.inputs: list[torch.Tensor] = []
        self.outputs: tuple[torch.Tensor, ...] = ()
        self.graph: torch.cuda.CUDAGraph | None = None

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One step on `inputs`; the returned tensors are the caller's to keep."""
        if not self.inputs:
            self.inputs = [x.clone() for x in inputs]
        else:
            for static, x in zip(self.inputs, inputs, strict=True):
                static.copy_(x, non_blocking=True)
        self.calls += 1
        if not self.capture:
            self.outputs = self.step(*self.inputs)
        elif self.calls <= self.warmup:
            self.outputs = self._on_side_stream()
        else:
            if self.graph is None:
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):
                    self.outputs = self.step(*self.inputs)
            self.graph.replay()
        return tuple(out.clone() for out in self.outputs)

    def _on_side_stream(self) -> tuple[torch.Tensor, ...]:
        """An eager step on a side stream, as PyTorch asks of the steps before a capture."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            outputs = self.step(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        return outputs
