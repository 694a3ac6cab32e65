"""Real mp4/GIF files are written, decoded back and compared with what went in."""

import os

import numpy as np
import pytest

from hummingbird_jax import video_io


def gradient_video(frames=12, height=48, width=80):
    """Smooth colour ramps that move over time: easy to compress, easy to compare after decoding."""
    t = np.linspace(0, 1, frames)[:, None, None]
    y = np.linspace(0, 1, height)[None, :, None]
    x = np.linspace(0, 1, width)[None, None, :]
    red, green, blue = np.broadcast_arrays(0.5 + 0.5 * np.sin(2 * np.pi * (x + 0.5 * t)), y, 0.2 + 0.6 * t + 0 * x)
    return (np.stack([red, green, blue], -1) * 255).round().astype(np.uint8)


def test_mp4_is_h264_yuv420p_and_decodes_to_the_same_frames(tmp_path):
    video = gradient_video()
    path = video_io.write_mp4(tmp_path / "out" / "clip.mp4", video, fps=8)
    info = video_io.video_info(path)
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "width": 80, "height": 48, "frames": 12, "fps": 8.0}
    decoded = video_io.read_video(path)
    assert decoded.shape == video.shape and decoded.dtype == np.uint8
    diff = np.abs(decoded.astype(int) - video.astype(int))
    assert diff.mean() < 4 and np.percentile(diff, 99) < 20
    # frame order survives: each decoded frame is closest to its own source frame
    dist = np.abs(decoded[:, None].astype(int) - video[None].astype(int)).mean(axis=(2, 3, 4))
    assert np.array_equal(dist.argmin(axis=1), np.arange(len(video)))


def test_odd_sizes_are_padded_to_even_with_the_edge(tmp_path):
    video = gradient_video(frames=3, height=33, width=47)
    decoded = video_io.read_video(video_io.write_mp4(tmp_path / "odd.mp4", video, fps=8))
    assert decoded.shape == (3, 34, 48, 3)
    assert np.abs(decoded[:, :33, :47].astype(int) - video.astype(int)).mean() < 4


def test_gif_preview_loops_and_is_downscaled(tmp_path):
    from PIL import Image

    video = gradient_video(frames=6, height=64, width=96)
    full = video_io.write_gif(tmp_path / "full.gif", video, fps=10, max_side=None)
    decoded = video_io.read_video(full)
    assert decoded.shape == video.shape
    assert np.abs(decoded.astype(int) - video.astype(int)).mean() < 8
    with Image.open(full) as im:
        assert im.n_frames == 6 and im.info["loop"] == 0 and im.info["duration"] == 100
    small = video_io.read_video(video_io.write_gif(tmp_path / "small.gif", video, fps=10, max_side=48))
    assert small.shape == (6, 32, 48, 3)


def test_failed_write_leaves_no_file_behind(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match=r"expected \(frames, height, width, 3\)"):
        video_io.write_mp4(target, np.zeros((4, 8, 8), np.uint8), fps=8)
    with pytest.raises(ValueError, match="expected uint8"):
        video_io.write_gif(tmp_path / "x.gif", np.zeros((2, 8, 8, 3), np.float32), fps=8)
    assert target.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


def test_encoder_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "clip.mp4"
    video_io.write_mp4(target, gradient_video(frames=2), fps=8)
    before = target.read_bytes()
    with pytest.raises(Exception):  # libx264 refuses to open with a nonsense rate-control value
        video_io.write_mp4(target, gradient_video(frames=2), fps=8, crf="not-a-number")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["clip.mp4"]


def test_to_uint8_maps_minus_one_to_one_onto_0_255_with_clipping():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0, 0.5], np.float32)
    assert video_io.to_uint8(x).tolist() == [0, 0, 128, 255, 255, 191]


def test_reading_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        video_io.read_video(tmp_path / "nope.mp4")
