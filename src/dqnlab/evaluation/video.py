"""Episode videos as MP4 files that a browser, and so the MLflow UI, can play."""

import logging
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

log = logging.getLogger(__name__)

# VP9 in an MP4 container: Chrome, Firefox and Edge play it. OpenCV's pip wheels have no
# H.264 (avc1) or AV1 encoder; their default mp4v (MPEG-4 Part 2) is a fallback only,
# because browsers refuse it (the MLflow UI shows no picture).
BROWSER_CODEC = "vp09"
FALLBACK_CODEC = "mp4v"


class VideoWriter:
    """Write RGB frames one at a time to an MP4 file, so no episode is held in memory.

    The file is opened at the first frame, whose size every later frame must have.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps
        self.codec: str | None = None  # the fourcc used, once the file is open
        self.frames = 0
        self._size: tuple[int, int] | None = None
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"a frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}"
            )
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._writer, self.codec = _open(self.path, self.fps, size)
            self._size = size
        elif size != self._size:
            # OpenCV would drop a frame of another size without a word.
            raise ValueError(f"frame size {size} differs from the video's {self._size}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        """Finish the file (MP4 writes its index at the end)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def write_video(frames: np.ndarray, path: Path, fps: float = 30.0) -> str:
    """Write (T, H, W, 3) uint8 RGB `frames` to the MP4 file `path`; return the codec used."""
    if len(frames) == 0:
        raise ValueError("no frames to write")
    with VideoWriter(path, fps) as video:
        for frame in frames:
            video.write(frame)
    assert video.codec is not None
    return video.codec


def _open(path: Path, fps: float, size: tuple[int, int]) -> tuple[cv2.VideoWriter, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    for codec in (BROWSER_CODEC, FALLBACK_CODEC):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            if codec != BROWSER_CODEC:
                log.warning(
                    "this OpenCV build has no VP9 encoder: %s is MPEG-4 Part 2 (mp4v), "
                    "which browsers and the MLflow UI do not play",
                    path,
                )
            return writer, codec
    raise RuntimeError(f"OpenCV cannot write {path}: neither {BROWSER_CODEC} nor {FALLBACK_CODEC}")
