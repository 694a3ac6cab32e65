"""Data curation: turn a pile of captioned videos into a clean training manifest (SPEC §6).

Stages are column producers (:class:`Stage`) run by one resumable, atomic, parallel runner
(:func:`run_stage`): ingest/probe, scene split, camera motion, LLM re-captioning; ``filter`` applies
thresholds from a config and writes the training manifest (``path,text,fps,…``) with a report.
"""

from hummingbird_jax.curation.filter import DEFAULT_CONFIG, FilterConfigError, apply_filter, load_config, run_filter
from hummingbird_jax.curation.motion import MotionStage, classify, clip_scores
from hummingbird_jax.curation.probe import ProbeStage, probe_video, sources
from hummingbird_jax.curation.quality import QualityStage
from hummingbird_jax.curation.recaption import RecaptionStage, build_messages, check_caption, clean_output
from hummingbird_jax.curation.run import ingest, run_curation
from hummingbird_jax.curation.scenes import SceneSplitStage
from hummingbird_jax.curation.stage import Stage, StageSummary, run_stage
from hummingbird_jax.curation.tables import read_manifest, write_manifest
from hummingbird_jax.errors import ManifestError

__all__ = [
    "DEFAULT_CONFIG",
    "FilterConfigError",
    "ManifestError",
    "MotionStage",
    "ProbeStage",
    "QualityStage",
    "RecaptionStage",
    "SceneSplitStage",
    "Stage",
    "StageSummary",
    "apply_filter",
    "build_messages",
    "check_caption",
    "classify",
    "clean_output",
    "clip_scores",
    "ingest",
    "load_config",
    "probe_video",
    "read_manifest",
    "run_curation",
    "run_filter",
    "run_stage",
    "sources",
    "write_manifest",
]
