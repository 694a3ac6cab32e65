"""Data curation: turn a pile of captioned videos into a clean training manifest (SPEC §6).

Stages are column producers (:class:`Stage`) run by one resumable, atomic, parallel runner
(:func:`run_stage`): ingest/probe, scene split, camera motion, LLM re-captioning; ``filter`` applies
thresholds from a config and writes the training manifest (``path,text,fps,…``) with a report.
"""

from data_pipeline.filter import DEFAULT_CONFIG, FilterConfigError, apply_filter, load_config, run_filter
from data_pipeline.manifest import ManifestError, read_manifest, write_manifest
from data_pipeline.motion import MotionStage, classify, clip_scores
from data_pipeline.pipeline import ingest, run_pipeline
from data_pipeline.probe import ProbeStage, probe_video, sources
from data_pipeline.quality import QualityStage
from data_pipeline.recaption import RecaptionStage, build_messages, check_caption, clean_output
from data_pipeline.scenes import SceneSplitStage
from data_pipeline.stage import Stage, StageSummary, run_stage

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
    "run_filter",
    "run_pipeline",
    "run_stage",
    "sources",
    "write_manifest",
]
