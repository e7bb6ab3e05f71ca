"""Episode videos: files that read back with OpenCV, and recorded episodes that match play."""

from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dqnlab.agent.networks import MLPQNetwork
from dqnlab.evaluation.playback import make_env, play_episode, play_episodes, render_fps
from dqnlab.evaluation.video import BROWSER_CODEC, VideoWriter, write_video


def _frames(count: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Red frames with a white square moving right: colour order and motion both show."""
    frames = np.zeros((count, height, width, 3), dtype=np.uint8)
    frames[..., 0] = 200
    for i, frame in enumerate(frames):
        frame[8:24, 2 * i : 2 * i + 16] = 255
    return frames


def _read_back(path: Path) -> tuple[str, list[np.ndarray]]:
    """The codec OpenCV reports and the decoded frames, as RGB."""
    video = cv2.VideoCapture(str(path))
    fourcc = int(video.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    frames = []
    while (read := video.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    video.release()
    return fourcc, frames


def test_a_written_video_reads_back_with_its_frames_size_and_colours(tmp_path: Path) -> None:
    frames = _frames(12)
    codec = write_video(frames, tmp_path / "nested" / "clip.mp4", fps=25)
    fourcc, decoded = _read_back(tmp_path / "nested" / "clip.mp4")
    assert codec == BROWSER_CODEC == "vp09"
    assert fourcc in ("VP90", "vp09")  # FFmpeg names VP9 either way
    assert len(decoded) == 12 and decoded[0].shape == (48, 64, 3)
    # Lossy but close, and RGB stays RGB (OpenCV itself works in BGR).
    assert np.abs(np.stack(decoded).astype(int) - frames).mean() < 8
    assert decoded[0][40, 40, 0] > 150 and decoded[0][40, 40, 2] < 50


def test_the_writer_refuses_frames_it_would_drop_silently(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "clip.mp4", fps=25) as video:
        video.write(_frames(1)[0])
        with pytest.raises(ValueError, match="differs"):
            video.write(_frames(1, height=50)[0])
        with pytest.raises(ValueError, match="uint8"):
            video.write(_frames(1)[0].astype(np.float32))
    with pytest.raises(ValueError, match="no frames"):
        write_video(_frames(0), tmp_path / "empty.mp4")


def test_play_episode_gives_the_frames_and_return_of_the_played_episode(tmp_path: Path) -> None:
    torch.manual_seed(0)
    q_net = MLPQNetwork((4,), 2, hidden_sizes=(16,)).train()
    device = torch.device("cpu")
    played = play_episodes(q_net, "CartPole-v1", {}, [3], 0.0, device)
    frames: list[np.ndarray] = []
    with closing(make_env("CartPole-v1", {}, render=True)) as env:
        episode_return, length = play_episode(q_net, env, 3, 0.0, device, frames.append)
        assert (episode_return, length) == (played.returns[0], played.lengths[0])
        assert q_net.training  # put back in the mode the training loop had it in
        capped: list[np.ndarray] = []
        capped_return, _ = play_episode(q_net, env, 3, 0.0, device, capped.append, 4)
    assert len(frames) == length + 1 and frames[0].shape == (400, 600, 3)
    assert frames[0].dtype == np.uint8
    assert len(capped) == 4 and capped_return == episode_return  # played to the end anyway
    write_video(np.stack(frames), tmp_path / "episode.mp4", render_fps("CartPole-v1", {}))
    assert len(_read_back(tmp_path / "episode.mp4")[1]) == len(frames)
