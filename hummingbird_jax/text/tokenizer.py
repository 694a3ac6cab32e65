"""OpenCLIP's byte-level BPE tokenizer, token for token, without PyTorch.

The U-Net context and the HPS reward are only meaningful with the exact token ids the text towers
were trained on, so this follows ``open_clip.tokenize`` (v2.24) to the id: text is repaired with
ftfy, HTML-unescaped twice, whitespace-collapsed and lower-cased; words are split with CLIP's regex,
mapped to printable byte symbols and merged by BPE rank; every row is ``<start_of_text> … <end_of_text>``
zero-padded to the context length, and over-long rows are cut so that the last id is still
``<end_of_text>`` (the text towers pool at the EOT position).

The merges table (``bpe_simple_vocab_16e6.txt.gz``, the file CLIP was released with) ships inside
the package, so tokenizing works offline.
"""

from __future__ import annotations

import functools
import gzip
import html
import os
from typing import Iterable, Sequence

import ftfy
import numpy as np
import regex

__all__ = [
    "CONTEXT_LENGTH",
    "SOT_TOKEN",
    "EOT_TOKEN",
    "VOCAB_SIZE",
    "BPETokenizer",
    "default_tokenizer",
    "tokenize",
]

CONTEXT_LENGTH = 77
VOCAB_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bpe_simple_vocab_16e6.txt.gz")
# CLIP keeps the first 49152 - 256 - 2 merges of the file: 256 byte symbols, their 256 word-final
# twins, the merges and the two special tokens make a 49408-entry vocabulary.
_NUM_MERGES = 49152 - 256 - 2
_SPECIAL = ("<start_of_text>", "<end_of_text>")
SOT_TOKEN = 49406
EOT_TOKEN = 49407
VOCAB_SIZE = 49408
_WORD_END = "</w>"


@functools.lru_cache(maxsize=None)
def byte_symbols() -> dict[int, str]:
    """Byte -> one printable unicode character, so BPE never sees whitespace or control bytes.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes take code points 256, 257, …
    in byte order. The resulting 256 characters are the first 256 vocabulary entries.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable}  # insertion order is vocabulary order
    table.update({b: chr(256 + n) for n, b in enumerate(others)})
    return table


def clean_text(text: str) -> str:
    """ftfy repair, double HTML unescape, whitespace collapse, lower case (open_clip's ``lower`` clean)."""
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class BPETokenizer:
    """CLIP's BPE over a merges file; ``encode`` gives ids without SOT/EOT, ``__call__`` a padded batch."""

    def __init__(self, vocab_file: str | os.PathLike = VOCAB_FILE):
        vocab_file = os.fspath(vocab_file)
        try:
            with gzip.open(vocab_file, "rt", encoding="utf-8") as fh:
                lines = fh.read().split("\n")
        except (OSError, EOFError) as err:
            raise ValueError(f"cannot read BPE merges from {vocab_file!r}: {err}") from err
        merges = [tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1]]
        if len(merges) != _NUM_MERGES or any(len(m) != 2 for m in merges):
            raise ValueError(
                f"{vocab_file!r} is not CLIP's merges file: expected {_NUM_MERGES} merge lines of two "
                f"symbols after the header, found {len(merges)}"
            )
        symbols = list(byte_symbols().values())
        vocab = symbols + [s + _WORD_END for s in symbols] + ["".join(m) for m in merges] + list(_SPECIAL)
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.decoder = {i: token for token, i in self.encoder.items()}
        self.merge_rank = {merge: rank for rank, merge in enumerate(merges)}
        self.byte_to_symbol = byte_symbols()
        self.symbol_to_byte = {s: b for b, s in self.byte_to_symbol.items()}
        self.sot_token = self.encoder[_SPECIAL[0]]
        self.eot_token = self.encoder[_SPECIAL[1]]
        self.vocab_size = len(self.encoder)
        # Special tokens written literally in a prompt are matched whole and kept as one id, as in CLIP.
        self._word_pattern = regex.compile(
            "|".join(_SPECIAL) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            regex.IGNORECASE,
        )
        self._cache: dict[str, tuple[str, ...]] = {s: (s,) for s in _SPECIAL}

    def _merge(self, word: str) -> tuple[str, ...]:
        """Apply merges lowest rank first until none applies; the last symbol carries ``</w>``."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = [*word[:-1], word[-1] + _WORD_END]
        while len(parts) > 1:
            ranked = [
                (self.merge_rank.get((a, b), None), (a, b)) for a, b in zip(parts[:-1], parts[1:])
            ]
            ranked = [(r, pair) for r, pair in ranked if r is not None]
            if not ranked:
                break
            first, second = min(ranked)[1]
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        result = tuple(parts)
        self._cache[word] = result
        return result

    def encode(self, text: str) -> list[int]:
        """Token ids of one string (cleaned as in CLIP), without SOT/EOT and without truncation."""
        ids = []
        for word in self._word_pattern.findall(clean_text(text)):
            symbols = "".join(self.byte_to_symbol[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._merge(symbols))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (special and padding ids dropped); the inverse of ``encode`` up to cleaning."""
        pieces = [self.decoder[int(i)] for i in ids if int(i) not in (0, self.sot_token, self.eot_token)]
        words = "".join(pieces).split(_WORD_END)
        data = b" ".join(bytes(self.symbol_to_byte[c] for c in word) for word in words)
        return data.decode("utf-8", errors="replace").strip()

    def __call__(self, texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH) -> np.ndarray:
        """``int32 (B, context_length)``: SOT, ids, EOT, zero padding; long rows end in EOT."""
        if isinstance(texts, str):
            texts = [texts]
        if context_length < 2:
            raise ValueError(f"context_length must be at least 2 (SOT and EOT), got {context_length}")
        out = np.zeros((len(texts), context_length), dtype=np.int32)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"prompt {row} is {type(text).__name__}, expected str")
            ids = [self.sot_token, *self.encode(text), self.eot_token]
            if len(ids) > context_length:
                ids = ids[:context_length]
                ids[-1] = self.eot_token
            out[row, : len(ids)] = ids
        return out


@functools.lru_cache(maxsize=1)
def default_tokenizer() -> BPETokenizer:
    """The tokenizer over the packaged merges file (built once per process)."""
    return BPETokenizer()


def tokenize(texts: str | Sequence[str], context_length: int = CONTEXT_LENGTH) -> np.ndarray:
    """``open_clip.tokenize`` equivalent: a string or list of strings -> ``int32 (B, context_length)``."""
    return default_tokenizer()(texts, context_length)
