"""The official PyTorch modules of AMD-Hummingbird-T2V, imported from a user's checkout at run time and
loaded with our weights, so benchmarks can run them beside the JAX models in one process.

Nothing of the official code is copied here. ``--torch-reference DIR`` names the repository root or its
``acceleration/t2v-turbo`` folder (the students' U-Nets live only there, so it is preferred). Weights
go through :mod:`hummingbird_jax.convert` (``unet_to_torch``, ``vae_to_torch``,
``text_encoder_to_torch``) and every load is ``strict=True``, so a missing or extra tensor fails.

* U-Net: ``lvdm.modules.networks.openaimodel3d[_t2v_jun_09B|_07B].UNetModel``, as the released YAMLs name it.
* VAE decode: ``lvdm.modules.networks.ae_modules.Decoder`` behind a ``post_quant_conv``, the two layers
  ``AutoencoderKL.decode`` runs (that class derives from ``pytorch_lightning.LightningModule``, which is
  not needed to decode), frame by frame after dividing by the latent scale as
  ``LatentDiffusion.decode_first_stage_2DAE`` does (:func:`decode_latents`).
* Text: the official ``FrozenOpenCLIPEmbedder.encode_with_transformer`` (token + position embedding,
  every block but the last, ``ln_final``) run over an OpenCLIP text tower rebuilt from ``torch.nn``
  parts with open_clip's names and block (``nn.MultiheadAttention``, exact GELU, causal mask): the
  embedder's constructor downloads ViT-H-14 through ``open_clip``, which the benchmark neither needs
  nor installs. Tokens come from :func:`hummingbird_jax.text.tokenize` (pinned to ``open_clip.tokenize``).

While the official files import, absent modules they import but these paths never call (torchvision,
cv2, and always open_clip, kornia and transformers for the text file, whose T5/CLIP imports alone take
seconds) are stand-ins that raise on any use; they are removed from ``sys.modules`` afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import sys
import types

import numpy as np

from hummingbird_jax.convert.clip import text_encoder_to_torch
from hummingbird_jax.convert.unet import unet_to_torch
from hummingbird_jax.convert.vae import vae_to_torch
from hummingbird_jax.models.clip import CLIPTextConfig
from hummingbird_jax.models.unet_config import UNet3DConfig
from hummingbird_jax.models.vae import VAEConfig

OFFICIAL_SUBDIR = os.path.join("acceleration", "t2v-turbo")
OFFICIAL_NORM_GROUPS = 32  # lvdm's normalization(): GroupNorm32(32, channels)
_UNET_FILE = os.path.join("lvdm", "modules", "networks", "openaimodel3d.py")
_OWN_TOP_LEVEL = ("lvdm", "utils")  # the official checkout's top-level packages
_OPTIONAL = ("torchvision", "cv2")  # imported by lvdm/utils files for saving videos, never called here
_TEXT_UNUSED = ("open_clip", "kornia", "transformers")  # condition.py's other encoders
TEXT_MODULE = "lvdm.modules.encoders.condition"
VAE_MODULE = "lvdm.modules.networks.ae_modules"


class OfficialCodeError(ValueError):
    """The official checkout is missing, incomplete or cannot be imported (one line, names the flag)."""


def official_root(code_dir: str) -> str:
    """The folder holding the official ``lvdm`` package: ``DIR/acceleration/t2v-turbo`` or ``DIR`` itself."""
    if not os.path.isdir(code_dir):
        raise OfficialCodeError(f"--torch-reference {code_dir!r}: no such directory")
    for root in (os.path.join(code_dir, OFFICIAL_SUBDIR), code_dir):
        if os.path.isfile(os.path.join(root, _UNET_FILE)):
            return os.path.abspath(root)
    raise OfficialCodeError(f"--torch-reference {code_dir!r}: no {_UNET_FILE} there or under {OFFICIAL_SUBDIR}/ "
                            "(expected a checkout of AMD-Hummingbird-T2V)")


class _StandIn(types.ModuleType):
    """An absent module while the official files import: its names exist, any use raises."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{self.__name__}.{name}")


class _Unavailable:
    def __init__(self, name: str):
        self._name = name

    def __call__(self, *args, **kwargs):
        raise ImportError(f"{self._name} is not available (the official code called a stand-in)")

    def __getattr__(self, name):
        return _Unavailable(f"{self._name}.{name}")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # absent, or a build that does not match the installed torch
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        return False


def import_official(code_dir: str, module: str, stand_ins: tuple[str, ...] = ()):
    """Import ``module`` from the checkout; ``stand_ins`` (and any absent optional module) are placeholders."""
    root = official_root(code_dir)
    for name in _OWN_TOP_LEVEL:
        loaded = sys.modules.get(name)
        places = [getattr(loaded, "__file__", None) or "", *getattr(loaded, "__path__", [])]
        if loaded is not None and not any(str(place).startswith(root) for place in places):
            raise OfficialCodeError(f"--torch-reference: a different top-level module {name!r} is already "
                                    f"imported ({loaded!r}); the official code needs its own")
    placed = [name for name in stand_ins if name not in sys.modules]
    placed += [name for name in _OPTIONAL if name not in sys.modules and not _importable(name)]
    for name in placed:
        sys.modules[name] = _StandIn(name)
    sys.path.insert(0, root)
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise OfficialCodeError(f"--torch-reference: importing {module} from {root} failed: {err}") from None
    finally:
        sys.path.remove(root)
        for name in placed:
            del sys.modules[name]


def torch_state(arrays: dict):
    """``{name: numpy}`` → ``{name: float32 torch tensor}`` (writable copies)."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    return {k: torch.from_numpy(np.array(v, np.float32)) for k, v in arrays.items()}


# ---- U-Net -----------------------------------------------------------------------------------------
def official_target(cfg: UNet3DConfig) -> str:
    """The official module file for this block structure (as in the released YAML configs)."""
    if not cfg.use_middle_block:
        return "lvdm.modules.networks.openaimodel3d_t2v_jun_07B"
    if cfg.num_res_blocks == 1:
        return "lvdm.modules.networks.openaimodel3d_t2v_jun_09B"
    return "lvdm.modules.networks.openaimodel3d"


def official_kwargs(cfg: UNet3DConfig) -> dict:
    """``unet_config.params`` of the official YAML for ``cfg``."""
    return dict(
        in_channels=cfg.in_channels, out_channels=cfg.out_channels, model_channels=cfg.model_channels,
        attention_resolutions=list(cfg.attention_resolutions), num_res_blocks=cfg.num_res_blocks,
        channel_mult=list(cfg.channel_mult), num_head_channels=cfg.num_head_channels,
        transformer_depth=cfg.transformer_depth, context_dim=cfg.context_dim, use_linear=cfg.use_linear,
        use_checkpoint=False, temporal_conv=cfg.temporal_conv, temporal_attention=cfg.temporal_attention,
        temporal_selfatt_only=cfg.temporal_selfatt_only, use_relative_position=cfg.use_relative_position,
        use_causal_attention=cfg.use_causal_attention, temporal_length=cfg.temporal_length,
        addition_attention=cfg.addition_attention, fps_cond=cfg.fps_cond, dropout=cfg.dropout,
        time_cond_proj_dim=cfg.time_cond_proj_dim,
    )


def check_official_unet(cfg: UNet3DConfig) -> None:
    """Refuse configs the official ``UNetModel`` cannot express (the toy world's U-Nets: 8 GroupNorm
    groups, v-prediction), before anything is built."""
    problems = []
    if cfg.norm_groups != OFFICIAL_NORM_GROUPS:
        problems.append(f"{cfg.norm_groups} GroupNorm groups (official: {OFFICIAL_NORM_GROUPS})")
    if cfg.parameterization != "eps":
        problems.append(f"{cfg.parameterization}-prediction (official: eps)")
    if problems:
        raise OfficialCodeError(f"--torch-reference: the official U-Net has no counterpart of this one: "
                                f"{', '.join(problems)}")


def build_unet(code_dir: str, cfg: UNet3DConfig, params):
    """The official ``UNetModel`` for ``cfg`` (float32, eval) with ``params`` loaded strictly."""
    check_official_unet(cfg)
    module = import_official(code_dir, official_target(cfg))
    unet = module.UNetModel(**official_kwargs(cfg)).eval()
    unet.load_state_dict(torch_state(unet_to_torch(params, cfg, prefix="")), strict=True)
    return unet


# ---- VAE decode ------------------------------------------------------------------------------------
def build_vae_decoder(code_dir: str, cfg: VAEConfig, params):
    """``post_quant_conv`` + the official ``Decoder`` (the decode half of ``AutoencoderKL``), loaded strictly."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    ae = import_official(code_dir, VAE_MODULE)
    ddconfig = dict(double_z=True, z_channels=cfg.z_channels, resolution=cfg.resolution, in_channels=cfg.in_channels,
                    out_ch=cfg.out_ch, ch=cfg.ch, ch_mult=list(cfg.ch_mult), num_res_blocks=cfg.num_res_blocks,
                    attn_resolutions=list(cfg.attn_resolutions), dropout=0.0)
    vae = torch.nn.Module()
    with contextlib.redirect_stdout(io.StringIO()):  # the Decoder prints its latent shape
        vae.decoder = ae.Decoder(**ddconfig)
    vae.post_quant_conv = torch.nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)
    state = {k: v for k, v in vae_to_torch(params, cfg, prefix="").items()
             if k.startswith(("decoder.", "post_quant_conv."))}
    vae.load_state_dict(torch_state(state), strict=True)
    return vae.eval()


def decode_latents(vae, z, scale_factor: float):
    """``decode_first_stage_2DAE``: ``z (b, c, t, h, w)`` / scale → frames decoded one time step at a time
    through ``AutoencoderKL.decode`` (``post_quant_conv`` then ``decoder``) → ``(b, 3, t, H, W)``."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    z = z / scale_factor
    frames = [vae.decoder(vae.post_quant_conv(z[:, :, i])).unsqueeze(2) for i in range(z.shape[2])]
    return torch.cat(frames, dim=2)


# ---- text tower ------------------------------------------------------------------------------------
@functools.cache
def _openclip_block_class():
    """open_clip's ``ResidualAttentionBlock`` (v2.24, no layer scale); made on first use, when torch is
    imported, because the official ``text_transformer_forward`` calls ``block(x, attn_mask=…)``."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    class ResidualAttentionBlock(torch.nn.Module):
        def __init__(self, width: int, heads: int, mlp_width: int):
            super().__init__()
            self.ln_1 = torch.nn.LayerNorm(width)
            self.attn = torch.nn.MultiheadAttention(width, heads)
            self.ln_2 = torch.nn.LayerNorm(width)
            self.mlp = torch.nn.Sequential()
            self.mlp.add_module("c_fc", torch.nn.Linear(width, mlp_width))
            self.mlp.add_module("gelu", torch.nn.GELU())
            self.mlp.add_module("c_proj", torch.nn.Linear(mlp_width, width))

        def forward(self, x, attn_mask=None):
            y = self.ln_1(x)
            x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
            return x + self.mlp(self.ln_2(x))

    return ResidualAttentionBlock


def _openclip_text_tower(cfg: CLIPTextConfig, projection_dim: int):
    """A module with open_clip's text-tower attributes and state-dict names (``token_embedding``,
    ``positional_embedding``, ``transformer.resblocks.{i}``, ``ln_final``, ``text_projection``,
    ``logit_scale``, the causal ``attn_mask`` buffer)."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    block = _openclip_block_class()
    tower = torch.nn.Module()
    tower.token_embedding = torch.nn.Embedding(cfg.vocab_size, cfg.width)
    tower.positional_embedding = torch.nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
    tower.transformer = torch.nn.Module()
    tower.transformer.grad_checkpointing = False
    mlp_width = int(cfg.width * cfg.mlp_ratio)
    tower.transformer.resblocks = torch.nn.ModuleList(block(cfg.width, cfg.heads, mlp_width) for _ in range(cfg.layers))
    tower.ln_final = torch.nn.LayerNorm(cfg.width)
    tower.text_projection = torch.nn.Parameter(torch.zeros(cfg.width, projection_dim))
    tower.logit_scale = torch.nn.Parameter(torch.zeros(()))
    mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu_(1)
    tower.register_buffer("attn_mask", mask, persistent=False)
    return tower


def build_text_encoder(code_dir: str, cfg: CLIPTextConfig, params):
    """The official ``FrozenOpenCLIPEmbedder`` (penultimate layer) around the rebuilt tower, loaded
    strictly; call ``encode_with_transformer(tokens)`` on it."""
    import torch  # deferred: PyTorch is needed only with --torch-reference

    condition = import_official(code_dir, TEXT_MODULE, stand_ins=_TEXT_UNUSED)
    state = text_encoder_to_torch(params, prefix="")
    embedder = condition.FrozenOpenCLIPEmbedder.__new__(condition.FrozenOpenCLIPEmbedder)
    torch.nn.Module.__init__(embedder)  # its own __init__ would download ViT-H-14 through open_clip
    embedder.model = _openclip_text_tower(cfg, int(np.shape(state["text_projection"])[1]))
    embedder.model.load_state_dict(torch_state(state), strict=True)
    embedder.layer, embedder.layer_idx = "penultimate", 1  # VideoCrafter2's conditioner
    embedder.max_length, embedder.device = cfg.context_length, "cpu"
    embedder.freeze()
    return embedder
