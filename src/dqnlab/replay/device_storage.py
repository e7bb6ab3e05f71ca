"""The flat transition storage kept in the learner's device memory.

For vector observations a GPU holds millions of transitions easily, and a batch gathered
where the learner runs costs no host-to-device copy; only each env step's new rows travel.
"""

from typing import Any

import numpy as np
import torch

from dqnlab.replay.storage import ReplaySample, TransitionStorage, load_array


class DeviceTransitionStorage(TransitionStorage):
    """TransitionStorage with every field a tensor on `device`; the same rows, draws and
    batches as the host storage (rows are still drawn on the host, from the same RNG)."""

    def _zeros(self, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> torch.Tensor:
        """A field's rows, in device memory."""
        torch_dtype = torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
        return torch.zeros(shape, dtype=torch_dtype, device=self.device)

    def _write(self, idx: np.ndarray, values: tuple[np.ndarray, ...]) -> None:
        """Copy each field's values (in FIELDS order) to the device, into rows `idx`."""
        rows = torch.from_numpy(idx).to(self.device, non_blocking=True)
        for name, value in zip(self.FIELDS, values, strict=True):
            field = getattr(self, name)
            field[rows] = torch.as_tensor(value, dtype=field.dtype).to(self.device)

    def gather(self, idx: np.ndarray) -> ReplaySample:
        """Rows `idx` as one tensor per field, indexed on the device."""
        rows = torch.from_numpy(idx).to(self.device, non_blocking=True)
        return ReplaySample(*(getattr(self, name)[rows] for name in self.FIELDS), indices=idx)

    def state_dict(self) -> dict[str, Any]:
        """As the host storage's: the filled rows of every field, copied to host memory."""
        rows = {name: getattr(self, name)[: self.size].cpu() for name in self.FIELDS}
        return {"pos": self.pos, "size": self.size} | rows

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state dict of either flat storage, into the device's rows."""
        for name in self.FIELDS:
            field = getattr(self, name)
            host = field.new_zeros(field.shape, device="cpu").numpy()
            load_array(host, state[name], f"buffer {name}", prefix=True)
            field.copy_(torch.from_numpy(host))
        self.pos, self.size = int(state["pos"]), int(state["size"])
