"""``hummingbird convert``: official PyTorch checkpoints <-> converted JAX model directories.

A .safetensors file written by ``jax-to-torch`` records its components' configs in its metadata
(:data:`CONFIGS_METADATA`), so ``torch-to-jax`` converts it back without ``--config``, whatever its size.
"""

from __future__ import annotations

import json
import os
import time

import jax.numpy as jnp

from hummingbird_jax import hardware, training  # training: a lazy facade, Grain and Orbax load on first use
from hummingbird_jax.convert.checkpoint_io import (
    load_torch_checkpoint,
    read_safetensors_metadata,
    save_lightning_ckpt,
    save_safetensors,
)
from hummingbird_jax.convert.full_model import (
    TEXT_PREFIX,
    components_to_state_dict,
    convert_checkpoint,
    text_config_from_state_dict,
)
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.errors import CheckpointError, CommandError
from hummingbird_jax.model_dir import (
    _from_jsonable,
    _to_jsonable,
    components,
    load_component,
    resolve_unet_config,
    save_component,
)

CONFIGS_METADATA = "hummingbird_configs"


def register(subparsers) -> None:
    p = subparsers.add_parser("convert", help="convert weights between PyTorch checkpoints and JAX directories")
    sub = p.add_subparsers(dest="direction", metavar="DIRECTION")
    sub.required = True

    t2j = sub.add_parser("torch-to-jax", help="official .ckpt/.pt/.safetensors -> Orbax model directory")
    t2j.add_argument("checkpoint", help="checkpoint file (.ckpt, .pt, .pth, .bin, .safetensors)")
    t2j.add_argument("--config", default=None,
                     help="official YAML (reads unet_config / first_stage_config) or a preset: vc2, hb-0.9b, hb-0.7b "
                     "(default: the configs recorded by 'convert jax-to-torch', else recognised from the keys)")
    t2j.add_argument("--time-cond", action="store_true", help="preset with time_cond_proj (stage-2 students)")
    t2j.add_argument("--text-heads", type=int, default=None,
                     help="attention heads of the text tower (default: width / 64, as in OpenCLIP)")
    t2j.add_argument("--dtype", choices=hardware.DTYPES, default=None, help="cast params (default: float32)")
    t2j.add_argument("--out", required=True, help="output directory")
    t2j.set_defaults(func=torch_to_jax)

    j2t = sub.add_parser("jax-to-torch", help="converted model directory -> .safetensors or Lightning .ckpt")
    j2t.add_argument("directory", help="a directory written by 'convert torch-to-jax' (or a training checkpoint step)")
    j2t.add_argument("--out", required=True, help="FILE.safetensors or FILE.ckpt ({'state_dict': ...}, needs torch)")
    j2t.set_defaults(func=jax_to_torch)


def torch_to_jax(args) -> int:
    if not os.path.isfile(args.checkpoint):
        raise CommandError(f"checkpoint not found: {args.checkpoint}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CommandError(f"--out {args.out} exists and is not a directory (expected an output directory)")
    recorded = recorded_configs(args.checkpoint) if args.config is None else {}
    unet_cfg = resolve_unet_config(args.config, args.time_cond) if args.config is not None else recorded.get("unet")
    start = time.perf_counter()
    state_dict = load_torch_checkpoint(args.checkpoint)
    print(f"read {len(state_dict)} tensors from {args.checkpoint} in {time.perf_counter() - start:.1f}s")
    yaml_path = args.config if args.config and args.config.endswith((".yaml", ".yml")) else None
    try:
        text_cfg = recorded.get("text_encoder")
        if args.text_heads and any(k.startswith(TEXT_PREFIX) for k in state_dict):
            text_cfg = text_config_from_state_dict(state_dict, heads=args.text_heads)
        converted = convert_checkpoint(state_dict, unet_config=unet_cfg, yaml_path=yaml_path, text_config=text_cfg,
                                       vae_config=recorded.get("vae"),
                                       dtype=jnp.dtype(args.dtype) if args.dtype else None)
    except ConversionError as err:
        raise CommandError(f"{args.checkpoint}: {err}") from None
    except ValueError as err:  # no preset recognised from the keys, or a config that does not fit
        raise CommandError(f"{args.checkpoint}: {err}; give --config (the official YAML or a preset)") from None
    for name, (params, config) in converted.items():
        save_component(args.out, name, params, config)
        print(f"wrote {name} -> {os.path.join(args.out, name)}")
    return 0


def recorded_configs(checkpoint: str) -> dict:
    """``{component: config}`` recorded in a .safetensors file by ``jax-to-torch`` (``{}`` otherwise)."""
    if not checkpoint.endswith(".safetensors"):
        return {}
    text = read_safetensors_metadata(checkpoint).get(CONFIGS_METADATA)
    if text is None:
        return {}
    try:
        return {name: _from_jsonable(entry["config_type"], entry["config"]) for name, entry in json.loads(text).items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{checkpoint}: its recorded {CONFIGS_METADATA} cannot be read ({err}); "
                              "give --config") from None


def jax_to_torch(args) -> int:
    if not args.out.endswith((".safetensors", ".ckpt")):
        raise CommandError(f"--out must end with .safetensors or .ckpt, got {args.out}")
    if not os.path.isdir(args.directory):
        raise CommandError(f"not a directory: {args.directory}")
    if os.path.isdir(args.out):
        raise CommandError(f"--out {args.out} is a directory (expected a FILE.safetensors or FILE.ckpt path)")
    if training.is_training_checkpoint(args.directory):  # WORKDIR/checkpoints/STEP: the (LoRA-merged) student U-Net
        loaded = {"unet": training.student_from_checkpoint(args.directory)}
    else:
        loaded = {name: load_component(args.directory, name) for name in components(args.directory)}
    state_dict = components_to_state_dict(loaded)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.out.endswith(".safetensors"):
        configs = {name: {"config_type": type(config).__name__, "config": _to_jsonable(config)}
                   for name, (_, config) in loaded.items()}
        save_safetensors(state_dict, args.out, metadata={CONFIGS_METADATA: json.dumps(configs)})
    else:
        save_lightning_ckpt(state_dict, args.out)
    print(f"wrote {len(state_dict)} tensors ({', '.join(loaded)}) -> {args.out}")
    return 0
