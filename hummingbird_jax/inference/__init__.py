"""Inference: a bundle of the three models (:mod:`.bundle`), a bounded cache of compiled programs
(:mod:`.compile_cache`) and text-to-video generation (:mod:`.text_to_video`)."""

from hummingbird_jax.hardware import DTYPES
from hummingbird_jax.inference.bundle import COMPONENTS, ModelBundle, abstract_params, random_params
from hummingbird_jax.inference.compile_cache import CompileCache
from hummingbird_jax.inference.text_to_video import TextToVideo, check_generation_args

__all__ = ["COMPONENTS", "DTYPES", "CompileCache", "ModelBundle", "TextToVideo", "abstract_params",
           "check_generation_args", "random_params"]
