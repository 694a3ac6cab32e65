"""BERT's uncased WordPiece tokenizer, as InternVideo2 reads prompts: ``[CLS]`` then the word pieces,
cut to ``max_length`` (40) and padded with ``[PAD]``, and the attention mask beside.

There is no ``[SEP]``: InternVideo2's own ``BertTokenizer`` (the ALBEF/BLIP variant its demo and the
release's reward load) builds a single sequence as ``[CLS] X``, so a prompt keeps up to 39 pieces.

The tokenizing itself is transformers' (the Rust ``tokenizers`` backend); the vocabulary is a
``vocab.txt`` the user has locally (``bert-large-uncased``'s for the released model), so nothing is
downloaded. :func:`character_vocabulary` gives a small self-contained vocabulary for random-weight runs.
"""

from __future__ import annotations

import functools
import os
import string
import tempfile
from typing import Sequence

import numpy as np

__all__ = ["WordPieceTokenizer", "character_vocabulary", "read_vocabulary", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def character_vocabulary() -> list[str]:
    """Special tokens, then lower-case letters, digits and punctuation as word starts and ``##``
    continuations: every lower-case ASCII word tokenizes (letter by letter) without ``[UNK]``."""
    symbols = string.ascii_lowercase + string.digits
    return [*SPECIAL_TOKENS, *symbols, *string.punctuation, *("##" + s for s in symbols)]


def read_vocabulary(path: str) -> dict[str, int]:
    """``vocab.txt`` -> ``{token: line number}`` (a repeated token keeps its last line, as BERT's loader)."""
    with open(path, encoding="utf-8") as fh:
        return {line.rstrip("\n"): i for i, line in enumerate(fh)}


def _rust_tokenizer(vocab_file: str, lower_case: bool):
    # Deferred: transformers is an optional dependency, needed only when InternVideo2 prompts are tokenized.
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        return transformers.BertTokenizerFast(vocab_file=vocab_file, do_lower_case=lower_case)
    # transformers 5: BertTokenizer is the Rust-backed one and takes the vocabulary itself (its
    # BertTokenizerFast alias silently ignores a vocab_file).
    return transformers.BertTokenizer(vocab=read_vocabulary(vocab_file), do_lower_case=lower_case)


class WordPieceTokenizer:
    """``tokenize(prompts) -> (input_ids, attention_mask)``, both ``(len(prompts), max_length)`` int32."""

    def __init__(self, vocab: str | Sequence[str], max_length: int = 40, lower_case: bool = True):
        """``vocab``: a ``vocab.txt`` path, or the vocabulary itself as a list of tokens."""
        if isinstance(vocab, str):
            if not os.path.isfile(vocab):
                raise FileNotFoundError(f"WordPiece vocabulary {vocab!r} is not a file (give BERT's vocab.txt)")
            path = vocab
        else:
            handle = tempfile.NamedTemporaryFile("w", suffix="-vocab.txt", delete=False, encoding="utf-8")
            with handle:
                handle.write("\n".join(vocab) + "\n")
            path = handle.name
        self.vocab_file = path
        self.max_length = int(max_length)
        self.lower_case = lower_case

    @functools.cached_property
    def backend(self):
        return _rust_tokenizer(self.vocab_file, self.lower_case)

    @property
    def vocab_size(self) -> int:
        return len(self.backend.get_vocab())

    def tokenize(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        backend = self.backend
        pieces = backend(list(prompts), add_special_tokens=False, truncation=True, max_length=self.max_length - 1)
        ids = np.full((len(prompts), self.max_length), backend.pad_token_id, np.int32)
        mask = np.zeros((len(prompts), self.max_length), np.int32)
        for row, words in enumerate(pieces["input_ids"]):
            ids[row, 0] = backend.cls_token_id
            ids[row, 1 : len(words) + 1] = words
            mask[row, : len(words) + 1] = 1
        return ids, mask
