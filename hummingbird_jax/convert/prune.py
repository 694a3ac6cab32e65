"""Teacher → student initialisation by block pruning ("half the blocks per level, drop the middle").

The VideoCrafter2 teacher has 2 ResBlocks per level (3 output blocks per level); the Hummingbird
students keep the first of each pair: teacher input blocks {0,1,3,4,6,7,9,10} → {0..7} and output
blocks {1,2,4,5,6,8,9,11} → {0..7}. The 0.9B keeps the middle block, the 0.7B drops it. Everything
else (embeddings, ``init_attn``, ``out``) maps by name.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.models.unet3d import unet_param_shapes
from hummingbird_jax.models.unet_config import UNet3DConfig


def kept_input_blocks(teacher: UNet3DConfig, student: UNet3DConfig) -> list[int]:
    """Teacher input blocks the student keeps: conv_in, the first res blocks of each level, the downsamplers."""
    levels = len(teacher.channel_mult)
    if student.channel_mult != teacher.channel_mult or student.num_res_blocks > teacher.num_res_blocks:
        raise ValueError("student must have the teacher's levels and at most its blocks per level")
    kept, index = [0], 1
    for level in range(levels):
        kept += [index + i for i in range(student.num_res_blocks)]
        index += teacher.num_res_blocks
        if level != levels - 1:
            kept.append(index)  # the downsampler
            index += 1
    return kept


def kept_output_blocks(teacher: UNet3DConfig, student: UNet3DConfig, teacher_shapes: Any,
                       student_shapes: Any) -> list[int]:
    """Teacher output blocks the student keeps.

    Per level, the block that upsamples (the level's last) maps to the teacher's last; every other
    student block takes the latest unused teacher block of that level with the same parameter shapes
    (the skip it concatenates fixes its input width). For VC2 → Hummingbird this gives the official
    {1, 2, 4, 5, 6, 8, 9, 11}.
    """
    t_per, s_per = teacher.num_res_blocks + 1, student.num_res_blocks + 1
    shape_of = lambda tree, i: jax.tree_util.tree_map(lambda a: tuple(a.shape), tree[f"output_blocks.{i}"])
    kept = []
    for level in range(len(teacher.channel_mult)):
        t_blocks = list(range(level * t_per, (level + 1) * t_per))
        chosen = []
        for j in range(s_per - 1):
            want = shape_of(student_shapes, level * s_per + j)
            fits = [i for i in t_blocks[:-1] if i not in chosen and shape_of(teacher_shapes, i) == want]
            if not fits:
                raise ConversionError(f"no teacher output block fits student output block {level * s_per + j}")
            chosen.append(fits[-1])
        kept += sorted(chosen) + [t_blocks[-1]]
    return kept


def block_map(teacher_config: UNet3DConfig, student_config: UNet3DConfig,
              teacher_shapes: Any = None) -> dict[str, str | None]:
    """Student top-level module name → teacher module name (``None``: not in the teacher)."""
    teacher_shapes = teacher_shapes if teacher_shapes is not None else unet_param_shapes(teacher_config)
    student_shapes = unet_param_shapes(student_config)
    inputs = kept_input_blocks(teacher_config, student_config)
    outputs = kept_output_blocks(teacher_config, student_config, teacher_shapes, student_shapes)
    mapping: dict[str, str | None] = {}
    for name in student_shapes:
        kind, _, index = name.partition(".")
        if kind == "input_blocks":
            mapping[name] = f"input_blocks.{inputs[int(index)]}"
        elif kind == "output_blocks":
            mapping[name] = f"output_blocks.{outputs[int(index)]}"
        else:
            mapping[name] = name if name in teacher_shapes else None
    return mapping


def prune_teacher_to_student(teacher_params: Any, student_config: UNet3DConfig,
                             teacher_config: UNet3DConfig | None = None) -> dict:
    """Student params copied from the teacher by :func:`block_map` (arrays are shared, not copied).

    A stage-2 student's ``time_cond_proj`` (absent from the teacher) starts at zero, so the pruned
    student computes exactly what the map gives whatever guidance embedding it is fed.
    """
    teacher_config = teacher_config or student_config.replace(
        num_res_blocks=_count_res_blocks(teacher_params, student_config), use_middle_block=True,
        time_cond_proj_dim=None)
    expected = unet_param_shapes(student_config)
    student: dict[str, Any] = {}
    for name, source in block_map(teacher_config, student_config, teacher_params).items():
        if source is None and name == "time_cond_proj":
            student[name] = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), expected[name])
        elif source is None:
            raise ConversionError(f"teacher params have no {name!r}")
        else:
            student[name] = teacher_params[source]
    _check_shapes(student, expected)
    return student


def _count_res_blocks(teacher_params: Any, cfg: UNet3DConfig) -> int:
    n_inputs = sum(1 for k in teacher_params if k.startswith("input_blocks."))
    levels = len(cfg.channel_mult)
    return (n_inputs - 1 - (levels - 1)) // levels


def _check_shapes(params: Any, expected: Any) -> None:
    got = jax.tree_util.tree_map(lambda a: tuple(a.shape), params)
    want = jax.tree_util.tree_map(lambda a: tuple(a.shape), expected)
    if jax.tree_util.tree_structure(got) != jax.tree_util.tree_structure(want) or got != want:
        raise ConversionError("pruned params do not fit the student config (teacher of a different width?)")
