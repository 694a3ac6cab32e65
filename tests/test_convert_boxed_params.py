"""Exporters accept the params exactly as ``Module.init`` returns them: ``nn.Partitioned`` boxes
(logical axis names) are unboxed, so no exported key ends in ``.value`` and the keys and shapes are
the official ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import read_manifest
from flax.core import meta

from hummingbird_jax import registry
from hummingbird_jax.convert.clip import (
    _clip_shapes,
    clip_manifest,
    clip_to_torch,
    text_encoder_to_torch,
)
from hummingbird_jax.convert.unet import unet_to_torch, unet_torch_shapes
from hummingbird_jax.convert.vae import vae_to_torch
from hummingbird_jax.models.clip import (
    CLIPConfig,
    CLIPTextConfig,
    CLIPTextEncoder,
    CLIPVisionConfig,
)
from hummingbird_jax.models.unet3d import unet_abstract_variables
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig, vae_param_shapes

PRESETS = {"hb_0.7b": UNet3DConfig.hummingbird_0_7b}  # the other presets' manifests: test_unet_conversion.py


def _shapes(state_dict) -> dict:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


@pytest.mark.parametrize("name, time_cond", [("hb_0.7b", True)])
def test_unet_to_torch_of_boxed_abstract_params_equals_the_official_manifest(name, time_cond):
    cfg = PRESETS[name](time_cond_proj_dim=256 if time_cond else None)
    boxed = unet_abstract_variables(cfg)["params"]
    assert any(isinstance(leaf, meta.Partitioned)
               for leaf in jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, meta.Partitioned)))
    exported = unet_to_torch(boxed, cfg)
    assert _shapes(exported) == read_manifest(f"keys_unet_{name}{'+time_cond_proj' if time_cond else ''}.tsv")


def test_unet_to_torch_of_boxed_real_arrays_has_no_box_keys():
    cfg = registry.unet("tiny-0.7b", time_cond_proj_dim=registry.GUIDANCE_EMBED_DIM)
    # The tree of a plain ``UNet3D(cfg).init(...)["params"]``: real arrays inside nn.Partitioned boxes.
    rng = np.random.default_rng(0)
    params = jax.tree_util.tree_map(lambda s: rng.standard_normal(s.shape).astype(np.float32),
                                    unet_abstract_variables(cfg)["params"])
    exported = unet_to_torch(params, cfg)
    assert not [k for k in exported if k.endswith(".value")]
    assert _shapes(exported) == unet_torch_shapes(cfg)
    assert all(isinstance(v, np.ndarray) for v in exported.values())


def test_vae_text_and_clip_exporters_accept_boxed_abstract_trees():
    box = lambda tree: jax.tree_util.tree_map(lambda s: meta.Partitioned(s, (None,) * len(s.shape)), tree)
    vae = vae_to_torch(box(vae_param_shapes(VAEConfig.sd_kl_f8())), VAEConfig.sd_kl_f8())
    assert _shapes(vae) == read_manifest("keys_vae.tsv")
    cfg = CLIPTextConfig.vit_h_14()
    text = jax.eval_shape(lambda: CLIPTextEncoder(cfg).init(jax.random.key(0),
                                                            jnp.zeros((1, cfg.context_length), jnp.int32)))["params"]
    assert _shapes(text_encoder_to_torch(box(text))) == read_manifest("keys_text_encoder.tsv")
    small = CLIPConfig(embed_dim=32, vision=CLIPVisionConfig(width=64, layers=2, heads=2, patch_size=8, image_size=16),
                       text=CLIPTextConfig(width=32, heads=2, layers=2, context_length=8, vocab_size=64))
    clip = clip_to_torch(box(_clip_shapes(small)))
    assert _shapes(clip) == clip_manifest(small) and not [k for k in clip if ".value" in k]
