"""Clip loader on real mp4 files written here: shapes, values, frame choice, order, sharding, bad files."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from hummingbird_jax.data import (
    ClipConfig,
    Manifest,
    clip_loader,
    frame_index,
    read_clip,
    write_video,
)
from hummingbird_jax.data.decode import SKIP_REASONS, choose_window, resized_size

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, frames, fps, height, width): different rates, sizes (one portrait) and lengths.
GOOD = [
    ("a.mp4", 60, 24, 120, 160),
    ("b.mp4", 40, 30, 96, 128),
    ("c.mp4", 80, 25, 144, 176),
    ("d.mp4", 12, 10, 64, 80),
    ("e.mp4", 30, 8, 128, 80),
]
CFG = ClipConfig(frames=4, size=(32, 48), max_stride=3, skip_first=5)


def _truncated_copy(src: str, dst: str, keep: float) -> None:
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * keep)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    rows = []
    for i, (name, n, fps, h, w) in enumerate(GOOD):
        write_video(str(root / name), num_frames=n, fps=fps, height=h, width=w)
        rows.append((name, f"clip number {i}", float(i)))
    # Index at the front, bytes cut: opens, claims 16 frames, decodes only a few.
    write_video(str(root / "full.mp4"), num_frames=16, fps=24, height=96, width=128, faststart=True)
    _truncated_copy(str(root / "full.mp4"), str(root / "truncated.mp4"), 1 / 3)
    os.remove(root / "full.mp4")
    # Index at the end, bytes cut: cannot even be opened.
    write_video(str(root / "full2.mp4"), num_frames=16, fps=24, height=96, width=128)
    _truncated_copy(str(root / "full2.mp4"), str(root / "cut.mp4"), 1 / 2)
    os.remove(root / "full2.mp4")
    write_video(str(root / "short.mp4"), num_frames=3, fps=24, height=64, width=80)
    write_video(str(root / "zero_frames.avi"), num_frames=0, fps=24, height=64, width=80)
    (root / "zero_bytes.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video at all\n" * 50)
    rows += [
        ("truncated.mp4", "truncated", 10.0),
        ("cut.mp4", "cut", 11.0),
        ("short.mp4", "too short", 12.0),
        ("zero_frames.avi", "zero frames", 13.0),
        ("zero_bytes.mp4", "zero bytes", 14.0),
        ("notes.mp4", "text file", 15.0),
        ("missing.mp4", "missing", 16.0),
        ("a.mp4", "   ", 17.0),
    ]
    table = pd.DataFrame(rows, columns=["path", "text", "score"])
    table.to_csv(root / "manifest.csv", index=False)
    table.iloc[: len(GOOD)].to_parquet(root / "good.parquet")
    return root


def _good_fps(name):
    return {n: fps for n, _, fps, _, _ in GOOD}[os.path.basename(name)]


def test_clips_have_shapes_range_fps_condition_and_the_right_frames(corpus):
    loader = clip_loader(str(corpus / "manifest.csv"), CFG, batch_size=3, seed=0, shard_index=0, shard_count=1)
    strides = set()
    for _ in range(6):
        b = next(loader)
        assert b["video"].shape == (3, 4, 32, 48, 3) and b["video"].dtype == np.float32
        assert -1.0 <= b["video"].min() and b["video"].max() <= 1.0 and b["video"].std() > 0.1
        assert b["tokens"].shape == (3, 77) and b["tokens"].dtype == np.int32
        assert b["fps"].shape == (3,) and b["fps"].dtype == np.int32
        for i in range(3):
            fps_orig, stride, start = _good_fps(b["path"][i]), int(b["stride"][i]), int(b["start"][i])
            assert 1 <= stride <= CFG.max_stride
            assert b["fps"][i] == fps_orig // stride and b["fps_orig"][i] == fps_orig
            # The frames are the ones asked for: start, start + s, ... (each frame codes its index).
            assert [frame_index(f) for f in b["video"][i]] == [start + k * stride for k in range(4)]
            n = {n: k for n, k, *_ in GOOD}[os.path.basename(b["path"][i])]
            assert start + 3 * stride <= n - 1
            assert start >= min(CFG.skip_first, n - (3 * stride + 1))
            strides.add(stride)
        assert set(b) >= {"text", "path", "index", "score"}  # extra manifest columns travel along
    assert len(strides) > 1  # the stride really is random
    loader.close()


def test_tokens_come_from_the_tokenizer_given(corpus):
    calls = []

    def tokenizer(texts):
        calls.append(list(texts))
        return np.array([[len(t)] * 77 for t in texts], np.int32)

    loader = clip_loader(str(corpus / "good.parquet"), CFG, batch_size=2, seed=1, tokenizer=tokenizer,
                         shard_index=0, shard_count=1)
    b = next(loader)
    assert [list(row[:2]) for row in b["tokens"]] == [[len(t)] * 2 for t in b["text"]]
    assert calls and all(len(c) == 1 for c in calls)


def test_default_tokenizer_is_openclip():
    from hummingbird_jax.data.clips import default_tokenize
    from hummingbird_jax.text import tokenize

    np.testing.assert_array_equal(default_tokenize(["a corgi on the beach"]), tokenize(["a corgi on the beach"]))


def test_training_input_tokenizes_to_the_text_encoders_context_length(corpus):
    """A text tower built with a shorter context (the toy world's ``tiny-w32-16tok``) gets prompts of that length."""
    import ml_collections

    from hummingbird_jax.text import tokenize
    from hummingbird_jax.training.inputs import make_input

    data = ml_collections.ConfigDict(dict(source="clips", path=str(corpus / "manifest.csv"), batch_size=2, frames=4,
                                          size=(32, 48), max_stride=3, num_workers=0))
    batch = next(make_input(data, seed=0, process_index=0, process_count=1, context_length=16))
    assert batch["tokens"].shape == (2, 16)
    np.testing.assert_array_equal(batch["tokens"], tokenize(list(batch["text"]), 16))


def test_same_seed_gives_the_same_stream_and_another_seed_does_not(corpus):
    def first(seed, n=4):
        loader = clip_loader(str(corpus / "manifest.csv"), CFG, batch_size=2, seed=seed, shard_index=0, shard_count=1)
        return [(tuple(b["index"]), tuple(b["start"]), tuple(b["stride"])) for b in (next(loader) for _ in range(n))]

    assert first(7) == first(7)
    assert first(7) != first(8)


def test_bad_files_are_skipped_and_counted_by_reason(corpus):
    cfg = ClipConfig(frames=8, size=(32, 48), max_stride=1, skip_first=0)
    loader = clip_loader(str(corpus / "manifest.csv"), cfg, batch_size=1, seed=0, num_epochs=1,
                         drop_remainder=False, shard_index=0, shard_count=1)
    seen = sorted(os.path.basename(str(b["path"][0])) for b in loader)
    assert seen == sorted(name for name, *_ in GOOD)
    assert loader.skip_counts == {
        "unreadable": 4,  # cut (no index), zero bytes, text file, missing file
        "no_video_stream": 0,
        "no_frames": 1,
        "too_short": 1,
        "truncated": 1,
        "empty_caption": 1,
    }
    assert list(loader.skip_counts) == list(SKIP_REASONS)


def test_empty_captions_can_be_kept(corpus):
    cfg = ClipConfig(frames=4, size=(32, 48), max_stride=1, skip_first=0, empty_captions="keep")
    loader = clip_loader(str(corpus / "manifest.csv"), cfg, batch_size=1, seed=0, num_epochs=1,
                         drop_remainder=False, shard_index=0, shard_count=1)
    texts = [str(b["text"][0]) for b in loader]
    assert "" in texts and loader.skip_counts["empty_caption"] == 0


def test_two_shards_see_disjoint_rows_covering_the_manifest(corpus):
    seen = []
    for shard in (0, 1):
        loader = clip_loader(str(corpus / "good.parquet"), CFG, batch_size=1, seed=3, num_epochs=1,
                             drop_remainder=False, shard_index=shard, shard_count=2)
        seen.append({int(b["index"][0]) for b in loader})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 2 * (len(GOOD) // 2)  # the odd row out is dropped, equal shards


def test_a_worker_process_gives_the_same_batches_as_in_process(corpus):
    def run(workers):
        loader = clip_loader(str(corpus / "manifest.csv"), CFG, batch_size=2, seed=5, num_workers=workers,
                             shard_index=0, shard_count=1)
        out = [next(loader) for _ in range(3)]
        counts = loader.skip_counts
        loader.close()
        return out, counts

    (a, counts_a), (b, counts_b) = run(0), run(1)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["video"], y["video"])
        np.testing.assert_array_equal(x["index"], y["index"])
    assert counts_a == counts_b and sum(counts_a.values()) > 0


def test_window_choice_respects_stride_range_and_skip():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 120))
        got = choose_window(n, 16, (1, 6), 35, rng)
        if n < 16:
            assert got is None
            continue
        start, stride = got
        assert 1 <= stride <= min(6, (n - 1) // 15)
        assert start + 15 * stride <= n - 1 and start >= min(35, n - 1 - 15 * stride)
    assert choose_window(40, 4, (3, 3), 100, None) == (40 - 10, 3)  # as late as possible when short
    assert choose_window(9, 4, (3, 3), 0, None) is None


def test_resize_covers_the_target_then_centre_crops(corpus):
    assert resized_size(720, 1280, (320, 512)) == (320, 569)  # 16:9: short side to 320
    assert resized_size(1280, 720, (320, 512)) == (910, 512)  # portrait: width to 512
    clip = read_clip(str(corpus / "e.mp4"), frames=2, size=(32, 48))
    assert clip.frames.shape == (2, 32, 48, 3) and clip.frames.dtype == np.uint8


def test_manifest_errors_name_the_file_and_columns(tmp_path):
    from hummingbird_jax.data import ManifestError

    bad = tmp_path / "m.csv"
    bad.write_text("file,caption\nx.mp4,hello\n")
    with pytest.raises(ManifestError, match=r"m\.csv.*\['path', 'text'\]"):
        Manifest(str(bad))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        Manifest(str(tmp_path / "nope.csv"))


MESH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    from jax.sharding import Mesh
    from hummingbird_jax.data import ClipConfig, clip_loader, put_batch_on_mesh
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "fsdp"))
    cfg = ClipConfig(frames=4, size=(32, 48), max_stride=3, skip_first=5)
    loader = clip_loader(sys.argv[1], cfg, batch_size=4, seed=0)
    host = next(loader)
    dev = put_batch_on_mesh(host, mesh)
    video = dev["video"]
    out = {
        "devices": len(jax.devices()),
        "shape": list(video.shape),
        "spec": video.sharding.spec == jax.sharding.PartitionSpec(("data", "fsdp")),
        "shard_rows": sorted(s.data.shape[0] for s in video.addressable_shards),
        "equal": bool(np.array_equal(np.asarray(video), host["video"])),
        "tokens_equal": bool(np.array_equal(np.asarray(dev["tokens"]), host["tokens"])),
        "text_on_host": isinstance(dev["text"], np.ndarray),
        "fps_dtype": str(dev["fps"].dtype),
        # A mesh without an 'fsdp' axis splits the batch over 'data' alone.
        "data_only_rows": sorted(s.data.shape[0] for s in put_batch_on_mesh(
            host, Mesh(np.array(jax.devices()), ("data",)))["video"].addressable_shards),
    }
    print(json.dumps(out))
    """
)


def test_batches_become_global_arrays_split_over_data_and_fsdp(corpus):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", MESH_SCRIPT, str(corpus / "good.parquet")], env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {
        "devices": 4,
        "shape": [4, 4, 32, 48, 3],
        "spec": True,
        "shard_rows": [1, 1, 1, 1],
        "equal": True,
        "tokens_equal": True,
        "text_on_host": True,
        "fps_dtype": "int32",
        "data_only_rows": [1, 1, 1, 1],
    }


def test_scene_rows_from_the_split_stage_stay_inside_their_scene(corpus):
    """Rows with start_frame/end_frame (end exclusive) read only frames of that scene."""
    path = str(corpus / "c.mp4")  # 80 frames
    rng = np.random.default_rng(0)
    for _ in range(20):
        clip = read_clip(path, frames=4, size=(32, 48), stride_range=(1, 3), skip_first=5, rng=rng,
                         frame_range=(50, 62))
        indices = [frame_index(f) for f in clip.frames]
        assert indices == [clip.start + k * clip.stride for k in range(4)]
        assert 50 <= indices[0] and indices[-1] < 62
    scenes = pd.DataFrame({"path": [path, path], "text": ["first scene", "second scene"],
                           "start_frame": [0, 70], "end_frame": [40, 80]})
    scenes.to_csv(corpus / "scenes.csv", index=False)
    loader = clip_loader(str(corpus / "scenes.csv"), CFG, batch_size=2, seed=1, shard_index=0, shard_count=1)
    batch = next(loader)
    loader.close()
    for i in range(2):
        indices = [frame_index(f) for f in batch["video"][i]]
        lo, hi = (0, 40) if batch["text"][i] == "first scene" else (70, 80)
        assert lo <= min(indices) and max(indices) < hi


def test_synthetic_prompts_fit_a_short_context():
    """Synthetic prompts (3–11 random words) are cut to fit a short text context, SOT and EOT included."""
    from hummingbird_jax.text import EOT_TOKEN, SOT_TOKEN
    from hummingbird_jax.training.inputs import SyntheticLatents

    for context_length in (6, 16, 77):
        for index in range(20):
            tokens = SyntheticLatents(2, (4, 4), seed=0, context_length=context_length)(index)["tokens"]
            assert tokens.shape == (context_length,) and tokens[0] == SOT_TOKEN and (tokens == EOT_TOKEN).sum() == 1
