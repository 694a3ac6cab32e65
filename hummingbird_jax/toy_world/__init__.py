"""The toy text-video world: the whole Hummingbird method in miniature, on a 2-core CPU.

One concept per module: ``world`` (labels, captions, rendering), ``dataset`` (mp4 files + manifest),
``curate`` (the real curation chain), ``clips`` (arrays and labels), ``classifier`` (the independent
judge), ``vae``, ``text_encoder``, ``reward`` (contrastive video-text reward), ``teacher`` (plain
diffusion pre-training), ``sampling`` (teacher/student samplers and their cost), ``phases`` (the
resumable run), ``presets``; ``stage1`` and ``stage2`` are the training engine's experiment configs.

Public names (resolved on first use, so that reading the presets does not pay for the training engine's
Grain and Orbax): :func:`run_phases`, :data:`PHASES`, :func:`get_preset`, :data:`PRESETS`, :class:`Preset`.
"""

from __future__ import annotations

from hummingbird_jax.lazy_exports import lazy_exports

_EXPORTS = {
    "PHASES": "phases",
    "run_phases": "phases",
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
}

__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
