"""Recaption: rewrite short captions into detailed ones with a local instruction-tuned causal LM.

Any ``transformers`` causal LM with a chat template works; the default name is
``meta-llama/Llama-3.1-8B-Instruct`` (the paper uses a LLaMA-8B class model), loaded with
``local_files_only=True``: pass a directory (config, weights, tokenizer) or a name already in the
local Hugging Face cache. Nothing is downloaded.

Prompt (the release ships none; this one asks for what a text-to-video model must learn to follow):
``SYSTEM_PROMPT`` as the system turn, then a user turn with the short caption and, when the motion
stage ran, its camera label as a hint (``CAMERA_HINTS``). Generation is greedy (reproducible) and
batched with left padding.

Each output is cleaned (surrounding quotes, a leading "Caption:" label, a preamble line such as
"Here is a detailed caption:" followed by the caption) and checked by :func:`check_caption`:
not empty, not a refusal, no remaining preamble, not cut off by ``max_new_tokens``, no list, and
``min_words`` ≤ words ≤ ``max_words``. A failed check keeps the original caption and records
``recaption_status = "fallback:<reason>"``; otherwise ``"ok"``. The original caption is kept in
``text_original`` and the new one replaces ``text``.
"""

from __future__ import annotations

import re

from hummingbird_jax.curation.stage import Stage

DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"

SYSTEM_PROMPT = (
    "You write captions for the training set of a text-to-video model. Rewrite the short caption you "
    "are given into one detailed caption of 40 to 90 words. Describe, in this order: the main subject "
    "(appearance, colours, clothing or texture), the action, the scene and background, the camera "
    "motion, the lighting, and the visual style (for example documentary footage, cinematic, "
    "animation). Keep every fact of the short caption and add only details it plausibly implies; do "
    "not invent names, brands or on-screen text. Write one paragraph in the present tense. Reply with "
    "the caption only: no preamble, no quotation marks, no lists, no notes."
)

CAMERA_HINTS = {
    "static": "static camera",
    "pan": "the camera pans sideways",
    "tilt": "the camera tilts up or down",
    "zoom_in": "the camera zooms in",
    "zoom_out": "the camera zooms out",
    "dolly_zoom": "dolly zoom: the subject keeps its size while the background stretches",
    "object_motion": "static camera, the subject moves",
}

REFUSAL = re.compile(
    r"\b(I can(?:not|'t|’t)|I am unable|I'm unable|I’m unable|as an AI|I(?:'m| am) sorry|I apologi[sz]e|"
    r"I won't|I will not|cannot (?:assist|help|fulfil)|against my guidelines)\b",
    re.IGNORECASE,
)
PREAMBLE = re.compile(
    r"^(sure|certainly|of course|okay|ok|absolutely|here(?:'s| is| are)|below is|i(?:'d| would) "
    r"describe|the (?:detailed |rewritten )?caption (?:is|reads))\b",
    re.IGNORECASE,
)
LABEL = re.compile(r"^(?:detailed |rewritten |new )?caption\s*:\s*", re.IGNORECASE)
LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)


def build_messages(caption: str, camera_motion: str | None = None) -> list[dict]:
    user = f"Short caption: {caption.strip()}"
    hint = CAMERA_HINTS.get(camera_motion or "")
    if hint:
        user += f"\nCamera motion (measured): {hint}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def clean_output(text: str) -> str:
    """Removes wrapping the model adds around the caption (quotes, a label, a preamble line)."""
    text = text.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and PREAMBLE.match(lines[0]) and lines[0].rstrip().endswith(":"):
        text = "\n".join(lines[1:]).strip()
    text = LABEL.sub("", text).strip()
    if len(text) >= 2 and text[0] in "\"'“" and text[-1] in "\"'”":
        text = text[1:-1].strip()
    return text


def check_caption(text: str, *, min_words: int, max_words: int, truncated: bool = False) -> str | None:
    """``None`` if ``text`` is a usable caption, else the reason it is not."""
    if not text.strip():
        return "empty"
    if REFUSAL.search(text):
        return "refusal"
    if PREAMBLE.match(text):
        return "preamble"
    if truncated:
        return "truncated"
    if LIST_LINE.search(text):
        return "list"
    words = len(text.split())
    if words < min_words:
        return "too_short"
    if words > max_words:
        return "too_long"
    return None


BATCH_SIZE = 8  # captions generated together
MAX_NEW_TOKENS = 160
MIN_WORDS = 12  # shorter outputs fall back to the original caption
MAX_WORDS = 120  # longer outputs fall back too


class RecaptionStage(Stage):
    name = "recaption"
    columns = ("text", "text_original", "recaption_status")
    kind = "model"
    summary_column = "recaption_status"

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = BATCH_SIZE, max_new_tokens: int = MAX_NEW_TOKENS,
                 min_words: int = MIN_WORDS, max_words: int = MAX_WORDS, use_motion_hint: bool = True,
                 device: str | None = None, dtype: str = "auto"):
        self.model_name = str(model)
        self.batch_size = int(batch_size)
        self.max_new_tokens, self.min_words, self.max_words = int(max_new_tokens), int(min_words), int(max_words)
        self.use_motion_hint, self.device, self.dtype = bool(use_motion_hint), device, dtype
        self._model = self._tokenizer = None

    def params(self):
        return dict(model=self.model_name, max_new_tokens=self.max_new_tokens, min_words=self.min_words,
                    max_words=self.max_words, use_motion_hint=self.use_motion_hint, prompt=SYSTEM_PROMPT)

    def __getstate__(self):  # the loaded model never travels to other processes
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    def check_available(self) -> None:
        """Fails fast (before hours of other stages) when the model is not on this machine."""
        from transformers import AutoConfig

        try:
            AutoConfig.from_pretrained(self.model_name, local_files_only=True)
        except OSError as err:
            raise FileNotFoundError(
                f"recaption model '{self.model_name}' is not available locally (nothing is downloaded): "
                f"pass --model DIR with config.json, weights and tokenizer files, or skip re-captioning. ({err})"
            ) from err

    def setup(self):
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(self.model_name, local_files_only=True)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
                     "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[self.dtype]
            model = AutoModelForCausalLM.from_pretrained(self.model_name, local_files_only=True, dtype=dtype)
        except OSError as err:
            raise FileNotFoundError(
                f"recaption model '{self.model_name}' is not available locally (nothing is downloaded): "
                f"pass --model DIR with config.json, weights and tokenizer files. ({err})"
            ) from err
        if tokenizer.chat_template is None:
            raise ValueError(f"the tokenizer of '{self.model_name}' has no chat template; use an instruct model")
        tokenizer.padding_side = "left"  # generation continues from the right end of every row
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model.to(device).eval()

    def prompts(self, rows) -> list[str]:
        return [
            self._tokenizer.apply_chat_template(
                build_messages(self._source(row), row.get("camera_motion") if self.use_motion_hint else None),
                tokenize=False,
                add_generation_prompt=True,
            )
            for row in rows
        ]

    @staticmethod
    def _source(row) -> str:
        original = row.get("text_original")
        return str(original if original is not None else row.get("text") or "")

    def process(self, rows):
        import torch

        batch = self._tokenizer(self.prompts(rows), return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(self._model.device) for k, v in batch.items()}
        eos = self._model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else self._tokenizer.eos_token_id])
        with torch.inference_mode():
            generated = self._model.generate(
                **batch, do_sample=False, max_new_tokens=self.max_new_tokens,
                pad_token_id=self._tokenizer.pad_token_id,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1]:].tolist()
        out = []
        for row, tokens in zip(rows, new_tokens):
            source = self._source(row)
            ended = any(t in eos_ids for t in tokens)
            text = clean_output(self._tokenizer.decode(tokens, skip_special_tokens=True))
            reason = check_caption(text, min_words=self.min_words, max_words=self.max_words, truncated=not ended)
            out.append({
                "text": source if reason else text,
                "text_original": source,
                "recaption_status": f"fallback:{reason}" if reason else "ok",
            })
        return out
