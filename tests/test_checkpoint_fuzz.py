"""Random byte-level damage to real checkpoint files and YAML configs ends in one error type that
names the file (never MemoryError, SafetensorError, BadZipFile, a bare JSON or pickle error), or,
for damage the format cannot see (a flipped bit inside tensor data), in the same tensors' shapes."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

from hummingbird_jax.convert.checkpoint_io import (
    load_torch_checkpoint,
    save_safetensors,
)
from hummingbird_jax.errors import CheckpointError, ConfigError
from hummingbird_jax.model_dir import resolve_unet_config
from hummingbird_jax.models.unet_config import UNet3DConfig

torch = pytest.importorskip("torch")

CASES = 24  # per format and kind of damage; seeded, so every run tries the same files
TENSORS = {"model.a.weight": np.arange(24, dtype=np.float32).reshape(4, 6), "model.b.bias": np.arange(5),
           "model.scale": np.array(0.5, np.float32)}
SHAPES = {k: v.shape for k, v in TENSORS.items()}


def _torch_state():
    return {"state_dict": {k: torch.from_numpy(np.array(v)) for k, v in TENSORS.items()}}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("originals")
    save_safetensors(TENSORS, root / "m.safetensors")
    torch.save(_torch_state(), root / "m.ckpt")
    torch.save(_torch_state(), root / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("m.safetensors", "m.ckpt"):
        assert {k: v.shape for k, v in load_torch_checkpoint(root / name).items()} == SHAPES
    return {name: (root / name).read_bytes() for name in ("m.safetensors", "m.ckpt", "legacy.pt")}


def _truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _flip(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 8))):
        out[int(rng.integers(0, len(out)))] ^= int(rng.integers(1, 256))
    return bytes(out)


def _lying_safetensors_header(data: bytes, rng) -> bytes:
    n = int.from_bytes(data[:8], "little")
    if rng.random() < 0.5:  # the header length itself
        return struct.pack("<Q", int(rng.integers(n + 1, 2**63))) + data[8:]
    header = json.loads(data[8:8 + n])
    key = sorted(k for k in header if k != "__metadata__")[int(rng.integers(0, len(TENSORS)))]
    header[key]["data_offsets"][1] += int(rng.integers(1, 2**40))  # the tensor's extent
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _lying_zip_sizes(data: bytes, rng) -> bytes:
    """Central-directory sizes of a member claim far more than the file holds."""
    out = bytearray(data)
    starts = [i for i in range(len(out) - 4) if out[i:i + 4] == b"PK\x01\x02"]
    at = starts[int(rng.integers(0, len(starts)))]
    for offset in (20, 24):  # compressed size, uncompressed size
        out[at + offset:at + offset + 4] = struct.pack("<I", int(rng.integers(2**20, 2**32)))
    return bytes(out)


def _lying_pickle_length(data: bytes, rng) -> bytes:
    """A correctly zipped data.pkl whose counted string claims gigabytes it does not have."""
    source = zipfile.ZipFile(io.BytesIO(data))
    claimed = int(rng.integers(2**31, 2**50))
    bomb = b"\x80\x04\x8e" + struct.pack("<Q", claimed) + b"x" * 16 + b"."
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info, bomb if info.filename.endswith("data.pkl") else body)
    return buffer.getvalue()


def _outcome(path):
    try:
        loaded = load_torch_checkpoint(path)
    except CheckpointError as err:
        assert str(path) in str(err)
        return "error"
    assert {k: v.shape for k, v in loaded.items()} == SHAPES
    return "loaded"


DAMAGE = {
    ("m.safetensors", "truncate"): _truncate, ("m.safetensors", "flip"): _flip,
    ("m.safetensors", "lie"): _lying_safetensors_header,
    ("m.ckpt", "truncate"): _truncate, ("m.ckpt", "flip"): _flip, ("m.ckpt", "lie"): _lying_zip_sizes,
    ("m.ckpt", "pickle"): _lying_pickle_length,
    ("legacy.pt", "truncate"): _truncate, ("legacy.pt", "flip"): _flip,
}


@pytest.mark.parametrize("name, kind", list(DAMAGE))
def test_damaged_checkpoint_ends_in_one_error_naming_the_file(originals, tmp_path, name, kind):
    rng = np.random.default_rng(sorted(DAMAGE).index((name, kind)))
    outcomes = []
    for case in range(CASES):
        path = tmp_path / f"{case}-{name}"
        path.write_bytes(DAMAGE[name, kind](originals[name], rng))
        outcomes.append(_outcome(path))
    if kind in ("truncate", "lie", "pickle") or name == "legacy.pt":
        assert set(outcomes) == {"error"}  # damage the reader must notice


def test_text_file_named_safetensors_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("these are notes, not weights\n" * 10)  # its first 8 bytes claim a 7 EB header
    with pytest.raises(CheckpointError, match="header claims"):
        load_torch_checkpoint(path)


LVDM_YAML = """\
model:
  target: lvdm.models.ddpm3d.LatentDiffusion
  params:
    scale_factor: 0.18215
    unet_config:
      target: lvdm.modules.networks.openaimodel3d.UNetModel
      params:
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [4, 2, 1]
        num_res_blocks: 2
        channel_mult: [1, 2, 4, 4]
        num_head_channels: 64
        transformer_depth: 1
        context_dim: 1024
        use_linear: true
        temporal_conv: true
        temporal_attention: true
        temporal_selfatt_only: true
        temporal_length: 16
        addition_attention: true
        fps_cond: true
"""


@pytest.mark.parametrize("kind", ["truncate", "flip", "splice"])
def test_damaged_yaml_config_ends_in_one_error_naming_the_file(tmp_path, kind):
    rng = np.random.default_rng(["truncate", "flip", "splice"].index(kind) + 100)
    original = LVDM_YAML.encode()
    assert resolve_unet_config(_write(tmp_path / "ok.yaml", original)) == UNet3DConfig.vc2_teacher()
    for case in range(3 * CASES):
        if kind == "truncate":
            data = _truncate(original, rng)
        elif kind == "flip":
            data = _flip(original, rng)
        else:  # YAML syntax characters dropped in at random places
            data = bytearray(original)
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] = ord(rng.choice(list(":[]{}&*!|>'\"-#\t,%@")))
            data = bytes(data)
        path = _write(tmp_path / f"{case}.yaml", data)
        try:
            cfg = resolve_unet_config(path)
        except ConfigError as err:
            assert path in str(err)
        else:
            assert isinstance(cfg, UNet3DConfig)


def _write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
