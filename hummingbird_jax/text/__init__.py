"""Tokenizers: OpenCLIP's byte-pair encoding (:mod:`.tokenizer`, the text encoder's and the rewards' CLIP
towers) and BERT's WordPiece (:mod:`.wordpiece`, InternVideo2's text tower)."""

from hummingbird_jax.text.tokenizer import (
    CONTEXT_LENGTH,
    EOT_TOKEN,
    SOT_TOKEN,
    VOCAB_SIZE,
    BPETokenizer,
    default_tokenizer,
    tokenize,
)
from hummingbird_jax.text.wordpiece import (
    SPECIAL_TOKENS,
    WordPieceTokenizer,
    character_vocabulary,
    read_vocabulary,
)

__all__ = [
    "CONTEXT_LENGTH",
    "EOT_TOKEN",
    "SOT_TOKEN",
    "VOCAB_SIZE",
    "BPETokenizer",
    "default_tokenizer",
    "tokenize",
    "SPECIAL_TOKENS",
    "WordPieceTokenizer",
    "character_vocabulary",
    "read_vocabulary",
]
