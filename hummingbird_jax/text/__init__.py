"""Text side of the pipeline: OpenCLIP's tokenizer."""

from hummingbird_jax.text.tokenizer import (
    CONTEXT_LENGTH,
    EOT_TOKEN,
    SOT_TOKEN,
    VOCAB_SIZE,
    BPETokenizer,
    default_tokenizer,
    tokenize,
)

__all__ = [
    "CONTEXT_LENGTH",
    "EOT_TOKEN",
    "SOT_TOKEN",
    "VOCAB_SIZE",
    "BPETokenizer",
    "default_tokenizer",
    "tokenize",
]
