"""The model registry: one name per model, unknown names listed; the bounded compile cache."""

import jax.numpy as jnp
import pytest

from hummingbird_jax import registry
from hummingbird_jax.diffusion.sampling import SamplerSpec
from hummingbird_jax.errors import ConfigError
from hummingbird_jax.inference import CompileCache


@pytest.mark.parametrize("lookup,kind", [(registry.unet, "U-Net preset"), (registry.vae, "VAE"),
                                         (registry.text_tower, "text tower"),
                                         (registry.backbone, "evaluation backbone")])
def test_unknown_names_list_the_known_ones(lookup, kind):
    with pytest.raises(ConfigError, match=f"unknown {kind} 'tiny'; expected one of ") as err:
        lookup("tiny")
    assert len(str(err.value).splitlines()) == 1


def test_unknown_reward_size_names_the_kind():
    with pytest.raises(ConfigError, match="unknown viclip reward size 'huge'; expected one of vit-l14, tiny"):
        registry.reward_config("viclip", "huge", 8)


def test_each_unet_names_a_registered_vae_and_text_tower_that_fit_it():
    for name, entry in registry.UNETS.items():
        unet, text = entry.build(), registry.text_tower(entry.text)
        assert unet.context_dim == text.width, name
        assert unet.in_channels == registry.vae(entry.vae).embed_dim, name


def test_default_samplers():
    assert registry.unet_entry("vc2").is_teacher and registry.TEACHER_SAMPLER.scale_arr
    assert not registry.unet_entry("hb-0.7b").is_teacher and registry.STUDENT_SAMPLER.method == "lcm"
    assert registry.PLAIN_TEACHER_SAMPLER == registry.TEACHER_SAMPLER.replace(scale_arr=False)
    with pytest.raises(ValueError, match="steps=0"):
        SamplerSpec("lcm", 0)


def test_compile_cache_keeps_the_most_recently_used_programs():
    cache = CompileCache(max_entries=2)
    x = jnp.zeros((2,))
    _, first = cache.get("double", lambda a: a * 2, x)
    assert first > 0 and cache.get("double", lambda a: a * 2, x)[1] == 0.0
    cache.get("triple", lambda a: a * 3, x)
    cache.get("double", lambda a: a * 2, x)  # now the most recent
    cache.get("square", lambda a: a * a, x)  # evicts "triple"
    assert len(cache) == 2
    assert cache.get("double", lambda a: a * 2, x)[1] == 0.0
    assert cache.get("triple", lambda a: a * 3, x)[1] > 0
    assert cache.get("double", lambda a: a * 2, jnp.zeros((3,)))[1] > 0  # another shape, another program


def test_every_reward_kind_has_one_scorer():
    from hummingbird_jax.training.models import REWARD_BUILDERS

    assert set(REWARD_BUILDERS) == set(registry.REWARDS)
