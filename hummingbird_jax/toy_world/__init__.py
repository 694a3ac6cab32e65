"""The toy text-video world: the whole Hummingbird method in miniature, on a 2-core CPU.

One concept per module: ``world`` (labels, captions, rendering), ``dataset`` (mp4 files + manifest),
``curate`` (the real curation chain), ``clips`` (arrays and labels), ``classifier`` (the independent
judge), ``vae``, ``text_encoder``, ``reward`` (contrastive video-text reward), ``teacher`` (plain
diffusion pre-training), ``sampling`` (teacher/student samplers and their cost), ``phases`` (the
resumable run), ``presets``; ``stage1`` and ``stage2`` are the training engine's experiment configs.
"""
