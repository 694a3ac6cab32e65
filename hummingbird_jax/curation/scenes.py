"""Split: cut each video into scenes with PySceneDetect, one manifest row per clip.

Training clips must not straddle a cut (the model would learn a jump as motion). PySceneDetect's
``ContentDetector`` (HSV content change between frames, ``threshold`` 27 by default, scenes at least
``min_scene_len`` frames) finds the cuts; a video without cuts stays one clip. Each output row gets
``start_frame``/``end_frame`` (end exclusive), ``scene_index``, and ``frames``/``duration`` of the
clip; the whole video's values move to ``video_frames``/``video_duration``. Rows that already are
clips are searched only inside their span. Clips shorter than ``min_frames`` are dropped and counted.
"""

from __future__ import annotations

import pandas as pd

from hummingbird_jax.curation.stage import Stage, has_error

THRESHOLD = 27.0  # PySceneDetect ContentDetector's content-change threshold
MIN_SCENE_LEN = 15  # shortest scene, in frames
MIN_FRAMES = 8  # clips shorter than this are dropped


class SceneSplitStage(Stage):
    name = "split"
    columns = ("scenes",)
    kind = "cpu"
    batch_size = 1

    def __init__(self, threshold: float = THRESHOLD, min_scene_len: int = MIN_SCENE_LEN, min_frames: int = MIN_FRAMES):
        self.threshold, self.min_scene_len, self.min_frames = float(threshold), int(min_scene_len), int(min_frames)
        self.dropped_short = 0

    def params(self):
        return dict(threshold=self.threshold, min_scene_len=self.min_scene_len, min_frames=self.min_frames)

    def setup(self):
        import logging

        logging.getLogger("pyscenedetect").setLevel(logging.WARNING)  # one line per video otherwise

    def process(self, rows):
        from scenedetect import ContentDetector, detect

        out = []
        for row in rows:
            start = int(row.get("start_frame") or 0)
            end = int(row["end_frame"]) if row.get("end_frame") is not None else int(row["frames"])
            scenes = detect(
                row["path"],
                ContentDetector(threshold=self.threshold, min_scene_len=self.min_scene_len),
                start_time=start if start else None,
                end_time=end if row.get("end_frame") is not None else None,
                backend="pyav",
            )
            spans = [[int(a.frame_num), int(b.frame_num)] for a, b in scenes] or [[start, end]]
            spans[-1][1] = min(max(spans[-1][1], end), end)  # the last scene runs to the end of the span
            out.append({"scenes": spans})
        return out

    def finalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = []
        self.dropped_short = 0
        for record in frame.to_dict("records"):
            scenes = record.pop("scenes", None)
            if has_error(record.get("error")) or not isinstance(scenes, list):
                rows.append(record)
                continue
            fps = record.get("fps") or 0
            video_frames = record.get("video_frames", record.get("frames"))
            video_duration = record.get("video_duration", record.get("duration"))
            for index, (start, end) in enumerate(scenes):
                if end - start < self.min_frames:
                    self.dropped_short += 1
                    continue
                clip = dict(record)
                clip.update(
                    start_frame=int(start),
                    end_frame=int(end),
                    scene_index=index,
                    frames=int(end - start),
                    duration=round((end - start) / fps, 4) if fps else None,
                    video_frames=video_frames,
                    video_duration=video_duration,
                )
                rows.append(clip)
        columns = [c for c in frame.columns if c != "scenes"]
        extra = [c for c in ("start_frame", "end_frame", "scene_index", "video_frames", "video_duration") if c not in columns]
        out = pd.DataFrame(rows, columns=columns + extra)
        for column in ("start_frame", "end_frame", "scene_index"):
            out[column] = out[column].astype("Int64")
        return out
