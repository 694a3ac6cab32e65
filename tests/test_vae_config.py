"""VAE configs: official YAML, presets, other sizes and dtypes, clear errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hummingbird_jax.convert import vae_from_torch, vae_to_torch
from hummingbird_jax.models import AutoencoderKL, VAEConfig
from hummingbird_jax.models.vae import init_vae_params, vae_param_shapes

# XLA's RngBitGenerator compiles several times faster on CPU than threefry for the many init draws.
FAST_KEY = jax.random.key(0, impl="rbg")
YAML = """
model:
  params:
    scale_factor: 0.13025
    first_stage_config:
      target: lvdm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 8
        ddconfig: {double_z: true, z_channels: 8, resolution: 64, in_channels: 3, out_ch: 3, ch: 64,
                   ch_mult: [1, 2], num_res_blocks: 1, attn_resolutions: [32], dropout: 0.0}
        lossconfig: {target: torch.nn.Identity}
"""


def test_sd_kl_f8_preset_is_the_spec_model():
    cfg = VAEConfig.sd_kl_f8()
    assert (cfg.embed_dim, cfg.ch, cfg.ch_mult, cfg.num_res_blocks, cfg.attn_resolutions) == (4, 128, (1, 2, 4, 4), 2, ())
    assert cfg.scale_factor == 0.18215 and cfg.downsample_factor == 8


def test_yaml_with_other_widths_levels_and_attention_builds_a_working_vae(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(YAML)
    cfg = VAEConfig.from_lvdm_yaml(str(path))
    assert (cfg.ch, cfg.ch_mult, cfg.embed_dim, cfg.attn_resolutions, cfg.scale_factor) == (64, (1, 2), 8, (32,), 0.13025)
    params = init_vae_params(cfg, FAST_KEY)
    # attention at resolution 32 = level 1 of 64: inside those levels' blocks, as in ldm
    sd = vae_to_torch(params, cfg)
    assert "first_stage_model.encoder.down.1.attn.0.q.weight" in sd
    assert "first_stage_model.decoder.up.1.attn.1.proj_out.weight" in sd
    assert not any(".down.0.attn" in k or ".up.0.attn" in k for k in sd)
    x = jax.random.uniform(jax.random.key(1), (2, 16, 24, 3), minval=-1, maxval=1)
    model = AutoencoderKL(cfg)
    mean, logvar = model.apply({"params": params}, x, method=AutoencoderKL.encode)
    assert mean.shape == logvar.shape == (2, 8, 12, 8)
    out = model.apply({"params": params}, x)
    assert out.shape == x.shape and bool(jnp.all(jnp.isfinite(out)))
    back = vae_from_torch(sd, cfg)
    assert jax.tree.all(jax.tree.map(np.array_equal, back, params))


def test_logvar_is_clamped_and_sample_uses_it():
    cfg = VAEConfig(ch=32, ch_mult=(1,), num_res_blocks=1)
    params = init_vae_params(cfg, FAST_KEY)
    # push quant_conv's logvar half far outside [-30, 20] in both directions
    q = params["quant_conv"]
    params = {**params, "quant_conv": {"kernel": q["kernel"] * 0, "bias": jnp.array([0, 0, 0, 0, 99, -99, 0, 5.0])}}
    x = jnp.zeros((1, 2, 2, 3))
    model = AutoencoderKL(cfg)
    _, logvar = model.apply({"params": params}, x, method=AutoencoderKL.encode)
    assert logvar[0, 0, 0].tolist() == [20.0, -30.0, 0.0, 5.0]
    mean = jnp.zeros((4096,))
    draw = AutoencoderKL.sample(mean, jnp.full((4096,), 2 * np.log(3.0)), jax.random.key(1))
    assert 2.7 < float(jnp.std(draw)) < 3.3


def test_bfloat16_compute_tracks_float32():
    cfg = VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1)
    params = init_vae_params(cfg, FAST_KEY)
    z = jax.random.normal(jax.random.key(1), (1, 2, 3, 4))
    ref = AutoencoderKL(cfg).apply({"params": params}, z, method=AutoencoderKL.decode)
    bf = cfg.replace(dtype="bfloat16", param_dtype="bfloat16")
    bf_params = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
    out = AutoencoderKL(bf).apply({"params": bf_params}, z, method=AutoencoderKL.decode)
    assert out.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(out - ref)) / jnp.max(jnp.abs(ref))) < 5e-2
    assert all(s.dtype == jnp.bfloat16 for s in jax.tree.leaves(vae_param_shapes(bf)))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ddconfig": {"double_z": False}}, "double_z"),
        ({"ddconfig": {"tanh_out": True}}, "tanh_out"),
        ({"embed_dim": None}, "embed_dim"),
        ({"target": "ldm.models.autoencoder.VQModel"}, "expected an AutoencoderKL"),
    ],
)
def test_unsupported_or_incomplete_yaml_is_refused_naming_the_field(tmp_path, change, message):
    import yaml

    doc = yaml.safe_load(YAML)
    stage = doc["model"]["params"]["first_stage_config"]
    if "target" in change:
        stage["target"] = change["target"]
    elif "ddconfig" in change:
        stage["params"]["ddconfig"].update(change["ddconfig"])
    else:
        del stage["params"]["embed_dim"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=message) as err:
        VAEConfig.from_lvdm_yaml(str(path))
    assert str(path) in str(err.value)


def test_channels_must_fit_groupnorm_groups():
    with pytest.raises(ValueError, match="divide by"):
        VAEConfig(ch=48)
    assert dataclasses.is_dataclass(VAEConfig) and hash(VAEConfig.sd_kl_f8()) == hash(VAEConfig.sd_kl_f8())
