"""``hummingbird data encode`` → TFDS (ArrayRecord) latent dataset → Grain latent loader.

Uses the small real VAE and text tower of the reference fixtures and real mp4 files written here.
"""

import os

import numpy as np
import pytest

from hummingbird_jax.cli import main as cli_main
from hummingbird_jax.data import read_clip, write_video

FRAMES, STRIDE, SIZE, SKIP = 4, 2, (32, 48), 3
VIDEOS = [("a.mp4", 30, 24, 96, 128), ("b.mp4", 20, 30, 64, 96), ("c.mp4", 24, 12, 80, 80),
          ("d.mp4", 16, 25, 48, 64), ("e.mp4", 40, 8, 72, 112)]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("encode")
    lines = ["path,text"]
    for i, (name, n, fps, h, w) in enumerate(VIDEOS):
        write_video(str(root / name), num_frames=n, fps=fps, height=h, width=w)
        lines.append(f"{name},a video number {i}")
    write_video(str(root / "short.mp4"), num_frames=5, fps=24, height=48, width=64)  # needs 7 frames at stride 2
    (root / "empty.mp4").write_bytes(b"")
    lines += ["short.mp4,short", "empty.mp4,empty"]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return str(root / "manifest.csv")


def _encode_args(manifest, out, model, *extra):
    return ["data", "encode", manifest, "--model", model, "--frames", str(FRAMES), "--stride", str(STRIDE),
            "--size", *map(str, SIZE), "--skip-first", str(SKIP), "--out", out, "--batch-size", "2",
            "--chunk-size", "3", "--no-progress", *extra]


@pytest.fixture(scope="module")
def encoded(manifest, reference_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("latents"))
    model = str(reference_dir / "vae.safetensors")
    assert cli_main(_encode_args(manifest, out, model, "--config", str(reference_dir / "vae.yaml"))) == 0
    return out


@pytest.fixture(scope="module")
def frozen(reference_dir):
    from hummingbird_jax.data import load_frozen_encoders

    return load_frozen_encoders(str(reference_dir / "vae.safetensors"), config=str(reference_dir / "vae.yaml"))


def _by_index(source):
    return {int(source[i]["index"]): source[i] for i in range(len(source))}


def test_encode_writes_a_tfds_dataset_that_tfds_reads(encoded, manifest, frozen):
    import ml_dtypes
    import tensorflow_datasets as tfds

    from hummingbird_jax.text import tokenize

    source = tfds.data_source("hummingbird_latents", data_dir=encoded, split="train")
    assert len(source) == len(VIDEOS)
    builder = tfds.builder_from_directory(os.path.join(encoded, "hummingbird_latents", "1.0.0"))
    meta = builder.info.metadata
    assert meta["frames"] == FRAMES and meta["stride"] == STRIDE and list(meta["size"]) == list(SIZE)
    assert meta["scale_factor"] == pytest.approx(0.18215) and meta["posterior"] == "moments"
    assert not os.path.exists(os.path.join(encoded, "encoding", "chunks"))  # removed once the dataset exists

    root = os.path.dirname(manifest)
    for index, ex in _by_index(source).items():
        name, n, fps, *_ = VIDEOS[index]
        assert ex["mean"].shape == (FRAMES, SIZE[0] // 8, SIZE[1] // 8, 4) and ex["mean"].dtype == ml_dtypes.bfloat16
        assert ex["fps"] == fps // STRIDE and ex["stride"] == STRIDE
        assert ex["start"] == min(SKIP, n - (FRAMES - 1) * STRIDE - 1)
        np.testing.assert_array_equal(ex["tokens"], tokenize([f"a video number {index}"])[0])
        # The stored posterior is the VAE's on exactly that clip.
        clip = read_clip(os.path.join(root, name), frames=FRAMES, size=SIZE, stride_range=(STRIDE, STRIDE),
                         skip_first=SKIP)
        mean, logvar = frozen.encode_video(clip.frames[None].astype(np.float32) / 127.5 - 1.0)
        np.testing.assert_allclose(ex["mean"].astype(np.float32), mean[0], rtol=1e-2, atol=1e-2 * np.abs(mean).max())
        np.testing.assert_allclose(ex["logvar"].astype(np.float32), logvar[0], rtol=1e-2, atol=0.05)


def test_a_finished_encode_reruns_as_a_no_op_and_other_settings_are_refused(encoded, manifest, reference_dir, capsys):
    model = str(reference_dir / "vae.safetensors")
    config = ["--config", str(reference_dir / "vae.yaml")]
    assert cli_main(_encode_args(manifest, encoded, model, *config)) == 0
    assert "already complete (5 clips)" in capsys.readouterr().out
    # Other settings into the same folder are refused with one line naming the difference.
    assert cli_main(_encode_args(manifest, encoded, model, *config, "--stride", "1")) == 2  # last one wins
    err = capsys.readouterr().err
    assert "stride: 2 → 1" in err and "new --out folder" in err


def test_encode_resumes_after_an_interruption(encoded, manifest, frozen, tmp_path):
    import tensorflow_datasets as tfds

    from hummingbird_jax.data import encode_manifest

    out = str(tmp_path / "out")
    kwargs = dict(frames=FRAMES, stride=STRIDE, size=SIZE, skip_first=SKIP, batch_size=2, chunk_size=3, progress=False)

    def stop_after_first(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_manifest(manifest, out, frozen, on_chunk=stop_after_first, **kwargs)
    assert sorted(os.listdir(os.path.join(out, "encoding", "chunks"))) == ["chunk-000000.npz"]
    summary = encode_manifest(manifest, out, frozen, **kwargs)
    assert summary.chunks_done_before == 1 and summary.encoded == len(VIDEOS)
    assert summary.skipped == {"too_short": 1, "unreadable": 1}
    resumed = _by_index(tfds.data_source("hummingbird_latents", data_dir=out, split="train"))
    straight = _by_index(tfds.data_source("hummingbird_latents", data_dir=encoded, split="train"))
    assert resumed.keys() == straight.keys()
    for i in straight:
        np.testing.assert_array_equal(resumed[i]["mean"], straight[i]["mean"])


def test_latent_loader_batches_samples_and_shards(encoded):
    import tensorflow_datasets as tfds

    from hummingbird_jax.data import latent_loader

    stored = _by_index(tfds.data_source("hummingbird_latents", data_dir=encoded, split="train"))
    loader = latent_loader(encoded, batch_size=2, seed=0, sample_posterior=False, shard_index=0, shard_count=1)
    b = next(loader)
    assert b["latents"].shape == (2, FRAMES, 4, 6, 4) and b["latents"].dtype == np.float32
    assert b["tokens"].shape == (2, 77) and b["tokens"].dtype == np.int32 and b["fps"].dtype == np.int32
    for row, index in enumerate(b["index"]):
        ex = stored[int(index)]
        np.testing.assert_allclose(b["latents"][row], 0.18215 * ex["mean"].astype(np.float32), rtol=1e-6)
        assert b["fps"][row] == ex["fps"]

    sampled = next(latent_loader(encoded, batch_size=2, seed=0, shard_index=0, shard_count=1))
    np.testing.assert_array_equal(sampled["index"], b["index"])
    diff = np.abs(sampled["latents"] - b["latents"])
    std = 0.18215 * np.exp(0.5 * np.stack([stored[int(i)]["logvar"].astype(np.float32) for i in b["index"]]))
    assert diff.max() > 0 and np.all(diff <= 6 * std + 1e-6)  # a posterior draw, not the mean

    seen = []
    for shard in (0, 1):
        it = latent_loader(encoded, batch_size=1, seed=0, num_epochs=1, drop_remainder=False,
                           shard_index=shard, shard_count=2)
        seen.append({int(x["index"][0]) for x in it})
    assert len(seen[0]) == len(seen[1]) == 2 and not seen[0] & seen[1]


def test_latent_loader_state_restores_the_next_batches(encoded):
    from hummingbird_jax.data import latent_loader

    def make():
        return latent_loader(encoded, batch_size=2, seed=4, shard_index=0, shard_count=1)

    loader = make()
    for _ in range(4):
        next(loader)
    state = loader.get_state()
    expected = [next(loader) for _ in range(3)]
    restored = make()
    restored.set_state(state)
    for want in expected:
        got = next(restored)
        np.testing.assert_array_equal(got["latents"], want["latents"])
        np.testing.assert_array_equal(got["index"], want["index"])


def test_text_contexts_from_a_converted_model_directory(manifest, reference_dir, tmp_path):
    import json

    import jax.numpy as jnp
    import tensorflow_datasets as tfds
    from safetensors.numpy import load_file

    from hummingbird_jax.convert.clip import text_encoder_from_torch
    from hummingbird_jax.convert.vae import vae_from_torch
    from hummingbird_jax.data import latent_loader
    from hummingbird_jax.model_dir import save_component
    from hummingbird_jax.models import CLIPTextConfig, CLIPTextEncoder, VAEConfig

    vae_cfg = VAEConfig.from_lvdm_yaml(str(reference_dir / "vae.yaml"))
    text_spec = json.loads((reference_dir / "e2e.json").read_text())["text_encoder"]
    text_cfg = CLIPTextConfig(width=text_spec["width"], heads=text_spec["heads"], layers=text_spec["layers"])
    text_sd = load_file(str(reference_dir / "e2e_text_encoder.safetensors"))
    text_params = text_encoder_from_torch(text_sd, text_cfg)
    model = str(tmp_path / "model")
    save_component(model, "vae", vae_from_torch(load_file(str(reference_dir / "vae.safetensors")), vae_cfg), vae_cfg)
    save_component(model, "text_encoder", text_params, text_cfg)

    out = str(tmp_path / "out")
    assert cli_main(_encode_args(manifest, out, model, "--text-context", "--posterior", "mean")) == 0
    source = tfds.data_source("hummingbird_latents", data_dir=out, split="train")
    ex = source[0]
    assert "logvar" not in ex and ex["context"].shape == (77, text_spec["width"])
    want = CLIPTextEncoder(text_cfg).apply({"params": text_params}, jnp.asarray(ex["tokens"][None]))[0]
    np.testing.assert_allclose(ex["context"].astype(np.float32), want, rtol=1e-2, atol=1e-2 * float(jnp.abs(want).max()))
    b = next(latent_loader(out, batch_size=2, seed=0, shard_index=0, shard_count=1))
    assert b["context"].shape == (2, 77, text_spec["width"]) and b["context"].dtype == np.float32


def test_encode_rejects_bad_arguments_before_loading_models(manifest, tmp_path, capsys):
    assert cli_main(_encode_args(manifest, str(tmp_path / "o"), str(tmp_path / "nope.ckpt"))) == 2
    assert "nope.ckpt" in capsys.readouterr().err
    assert cli_main(_encode_args(manifest, str(tmp_path / "o"), "x", "--size", "30", "48")) == 2
    assert "multiples of 8" in capsys.readouterr().err


def test_encode_with_a_decoding_worker_process_writes_the_same_dataset(encoded, manifest, frozen, tmp_path):
    import tensorflow_datasets as tfds

    from hummingbird_jax.data import encode_manifest

    out = str(tmp_path / "out")
    encode_manifest(manifest, out, frozen, frames=FRAMES, stride=STRIDE, size=SIZE, skip_first=SKIP, batch_size=2,
                    chunk_size=3, num_workers=1, progress=False)
    got = _by_index(tfds.data_source("hummingbird_latents", data_dir=out, split="train"))
    want = _by_index(tfds.data_source("hummingbird_latents", data_dir=encoded, split="train"))
    assert got.keys() == want.keys()
    for i in want:
        np.testing.assert_array_equal(got[i]["mean"], want[i]["mean"])
