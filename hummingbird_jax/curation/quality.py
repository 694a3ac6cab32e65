"""Video quality assessment (the paper's first curation step): DOVER scores per clip.

Adds ``dover_technical`` (compression, blur, noise: the fragment view), ``dover_aesthetic`` (the
whole frame at 224×224) and ``dover_overall``, each in (0, 1), as DOVER's released evaluation fuses
them (``evaluate_a_set_of_videos.fuse_results``). The model runs in this process on batches of
videos (``kind="model"``); views are sampled with a fixed seed, so a re-run gives the same scores.
A clip row (``start_frame``/``end_frame`` from ``split``) is scored on its own frames. A file that
cannot be decoded fails alone: its row gets ``error="unreadable: …"``.

The user brings the weights (``DOVER.pth`` or ``DOVER-Mobile.pth``); nothing is downloaded. The
architecture comes from ``--config`` (the official ``dover.yml``), or from the checkpoint itself:
a ConvNeXt-V2 technical backbone means DOVER-Mobile.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import yaml

from hummingbird_jax import registry
from hummingbird_jax.convert.checkpoint_io import load_torch_checkpoint
from hummingbird_jax.convert.rules import ConversionError
from hummingbird_jax.curation.stage import Stage
from hummingbird_jax.data.dover_views import sample_dover_views
from hummingbird_jax.dover import DOVERConfig, dover_params_from_torch, fuse_dover, network_views
from hummingbird_jax.models.dover import BRANCHES, dover_scores

QUALITY_COLUMNS = ("dover_technical", "dover_aesthetic", "dover_overall")
BATCH_SIZE = 2  # videos per DOVER call


class QualityError(ValueError):
    """The weights or the DOVER config cannot be used (one line, names the file)."""


def model_args_from(config: str | os.PathLike | None, state_dict: dict | None = None) -> dict:
    """``model.args`` from an official YAML, a preset name, or (``None``) guessed from the weights."""
    if config is None:
        mobile = state_dict is not None and any(k.startswith("technical_backbone.stages.") for k in state_dict)
        return registry.DOVER["dover-mobile" if mobile else "dover"]
    if str(config) in registry.DOVER:
        return registry.DOVER[str(config)]
    path = Path(config)
    if not path.is_file():
        raise QualityError(f"DOVER config '{path}' does not exist "
                           f"(expected dover.yml or a preset: {', '.join(registry.DOVER)})")
    try:
        args = (yaml.safe_load(path.read_text()) or {})["model"]["args"]
    except (yaml.YAMLError, KeyError, TypeError) as err:
        raise QualityError(f"DOVER config '{path}': expected an official dover.yml with model.args ({err})") from err
    return args


class QualityStage(Stage):
    name = "quality"
    columns = QUALITY_COLUMNS
    kind = "model"

    def __init__(self, weights: str | os.PathLike, *, config=None, batch_size: int = BATCH_SIZE, seed: int = 0,
                 sample_types: dict | None = None):
        """``config``: an official ``dover.yml``, a preset name (``dover``, ``dover-mobile``), a
        :class:`~hummingbird_jax.models.dover.DOVERConfig`, or ``None`` (recognised from the weights).
        ``sample_types``: view settings in ``dover.yml``'s form (default: the released test settings)."""
        self.weights = str(Path(weights).resolve())
        self.config = config if config is None or hasattr(config, "technical") else str(config)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.sample_types = sample_types
        self._model = None

    def params(self):
        config = dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else self.config
        # JSON round trip: the journal header is compared with what was read back from disk
        return json.loads(json.dumps({"weights": self.weights, "config": config, "seed": self.seed,
                                      "sample_types": self.sample_types}))

    def __getstate__(self):  # the loaded model never travels to other processes
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def setup(self):
        """Loads and converts the weights once; problems raise :class:`QualityError`."""
        if self._model is not None:
            return
        if not os.path.isfile(self.weights):
            raise QualityError(f"DOVER weights '{self.weights}' do not exist")
        try:
            state = load_torch_checkpoint(self.weights)
        except Exception as err:  # noqa: BLE001 -- any unreadable file is the user's input problem
            raise QualityError(f"DOVER weights '{self.weights}' could not be read: {err}") from err
        try:
            if isinstance(self.config, DOVERConfig):
                cfg = self.config
            else:
                cfg = DOVERConfig.from_official(model_args_from(self.config, state))
            params = dover_params_from_torch(state, cfg)
        except (ValueError, ConversionError) as err:
            raise QualityError(f"DOVER weights '{self.weights}': {err}") from err
        self._model = (cfg, params)

    def _views(self, row):
        start, end = row.get("start_frame"), row.get("end_frame")
        frame_range = None if start is None or end is None else (int(start), int(end))
        return sample_dover_views(row["path"], self.sample_types, seed=self.seed, frame_range=frame_range)[0]

    def process(self, rows):
        cfg, params = self._model
        results: list[dict | None] = [None] * len(rows)
        inputs = []
        for i, row in enumerate(rows):
            try:
                inputs.append((i, network_views(self._views(row), self.sample_types)))
            except Exception as err:  # noqa: BLE001 -- one bad file fails alone
                results[i] = {"error": f"unreadable: {type(err).__name__}: {err}"}
        if inputs:
            clips = {b: [v[b].shape[0] for _, v in inputs] for b in BRANCHES}
            # Pad to the batch size with copies of the first video: one compiled shape per run.
            padded = inputs + [inputs[0]] * max(0, self.batch_size - len(inputs))
            batch = {b: np.concatenate([v[b] for _, v in padded]) for b in BRANCHES}
            raw = {b: np.asarray(s) for b, s in dover_scores(params, cfg, batch).items()}
            for n, (i, _) in enumerate(inputs):
                per_video = {}
                for b in BRANCHES:
                    first = sum(clips[b][:n])
                    per_video[b] = float(np.mean(raw[b][first:first + clips[b][n]]))
                fused = fuse_dover(per_video["technical"], per_video["aesthetic"])
                results[i] = {f"dover_{k}": round(float(v), 6) for k, v in fused.items()}
        return results
