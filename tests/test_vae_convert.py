"""PyTorch <-> Flax conversion of the VAE: manifest, exact round trip, full checkpoints, bad input."""

import jax
import numpy as np
import pytest
from conftest import REFERENCE, conversion_error, read_manifest
from safetensors.numpy import load_file

from hummingbird_jax.convert import vae_from_torch, vae_to_torch
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.convert.vae import vae_torch_shapes
from hummingbird_jax.models import VAEConfig
from hummingbird_jax.models.vae import vae_param_shapes


@pytest.fixture(scope="module")
def small():
    return VAEConfig.from_lvdm_yaml(str(REFERENCE / "vae.yaml")), load_file(str(REFERENCE / "vae.safetensors"))


def test_full_size_keys_and_shapes_reproduce_manifest():
    cfg = VAEConfig.sd_kl_f8()
    shapes = vae_torch_shapes(cfg)  # from jax.eval_shape: nothing allocated
    assert shapes == read_manifest("keys_vae.tsv")
    assert sum(int(np.prod(s)) for s in shapes.values()) == 83_653_863
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(vae_param_shapes(cfg)))


def test_round_trip_is_exact(small):
    cfg, sd = small
    back = vae_to_torch(vae_from_torch(sd, cfg), cfg)
    assert back.keys() == sd.keys()
    for key in sd:
        assert back[key].dtype == sd[key].dtype and np.array_equal(back[key], sd[key]), key


def test_unprefixed_tensors_and_full_checkpoint_give_same_params(small):
    cfg, sd = small
    bare = {k[len("first_stage_model."):]: v for k, v in sd.items()}
    full = dict(sd)
    full["model.diffusion_model.input_blocks.0.0.weight"] = np.zeros((8, 4, 3, 3), np.float32)
    full["cond_stage_model.model.ln_final.weight"] = np.ones(8, np.float32)
    full["alphas_cumprod"] = np.linspace(1, 0, 10, dtype=np.float32)
    a, b = vae_from_torch(bare, cfg), vae_from_torch(full, cfg)
    assert jax.tree.all(jax.tree.map(np.array_equal, a, b))
    assert vae_to_torch(a, cfg, prefix="").keys() == bare.keys()


def test_bad_state_dict_lists_every_problem_in_one_error(small):
    cfg, sd = small
    bad = dict(sd)
    del bad["first_stage_model.decoder.mid.attn_1.q.weight"]
    bad["first_stage_model.encoder.extra.weight"] = np.zeros(3, np.float32)
    bad["first_stage_model.quant_conv.weight"] = np.zeros((8, 8, 3, 3), np.float32)
    msg = conversion_error(vae_from_torch, bad, cfg, source="bad.ckpt")
    assert "bad.ckpt" in msg
    assert "first_stage_model.decoder.mid.attn_1.q.weight (64, 64, 1, 1)" in msg
    assert "first_stage_model.encoder.extra.weight" in msg
    assert "first_stage_model.quant_conv.weight: checkpoint (8, 8, 3, 3), expected (8, 8, 1, 1)" in msg


def test_checkpoint_for_another_config_is_refused(small):
    _, sd = small
    with pytest.raises(ConversionError, match="with wrong shape"):
        vae_from_torch(sd, VAEConfig(ch=64, ch_mult=(1, 2, 2, 2)))


def test_to_torch_refuses_params_of_another_config(small):
    cfg, sd = small
    params = vae_from_torch(sd, cfg)
    with pytest.raises(ConversionError, match="do not fit the config"):
        vae_to_torch(params, cfg.replace(num_res_blocks=1))
