"""The tokenizer reproduces open_clip.tokenize id for id (fixtures from open_clip 2.24)."""

import json

import numpy as np
import pytest
from conftest import REFERENCE
from safetensors.numpy import load_file

from hummingbird_jax.text import EOT_TOKEN, SOT_TOKEN, VOCAB_SIZE, BPETokenizer, default_tokenizer, tokenize



def _fixture(name):
    meta = json.loads((REFERENCE / f"{name}.json").read_text())
    prompts = meta["prompts"]
    return prompts, load_file(str(REFERENCE / f"{name}.io.safetensors"))["tokens"]


@pytest.mark.parametrize("name", ["text_encoder", "clip", "e2e"])
def test_tokens_match_open_clip_for_every_fixture_prompt(name):
    prompts, expected = _fixture(name)
    tokens = tokenize(prompts)
    assert tokens.dtype == np.int32 and tokens.shape == (len(prompts), 77)
    for i, prompt in enumerate(prompts):
        np.testing.assert_array_equal(tokens[i], expected[i], err_msg=f"prompt {i}: {prompt!r}")


def test_vocabulary_has_clip_size_and_special_ids():
    tok = default_tokenizer()
    assert tok.vocab_size == VOCAB_SIZE == 49408
    assert (tok.sot_token, tok.eot_token) == (SOT_TOKEN, EOT_TOKEN) == (49406, 49407)


def test_empty_prompt_is_sot_eot_then_padding():
    row = tokenize([""])[0]
    assert row[:2].tolist() == [SOT_TOKEN, EOT_TOKEN] and not row[2:].any()


def test_long_prompt_is_cut_to_context_and_still_ends_with_eot():
    row = tokenize(["word " * 200])[0]
    assert row[0] == SOT_TOKEN and row[-1] == EOT_TOKEN and (row[1:-1] != 0).all()
    assert (row == EOT_TOKEN).sum() == 1


def test_cleaning_lowercases_collapses_whitespace_and_unescapes_html():
    a, b = tokenize(["  A   Cat\n&amp; DOG ", "a cat & dog"])
    np.testing.assert_array_equal(a, b)


def test_single_string_and_custom_context_length():
    assert tokenize("a cat").shape == (1, 77)
    short = tokenize(["a cat sitting on a mat"], context_length=4)[0]
    assert short.shape == (4,) and short[0] == SOT_TOKEN and short[-1] == EOT_TOKEN


def test_decode_inverts_encode_up_to_cleaning():
    tok = default_tokenizer()
    text = "an astronaut riding a horse on mars, 水墨画 🚀"
    assert tok.decode(tokenize([text])[0]) == "an astronaut riding a horse on mars , 水墨画 🚀"


def test_bad_input_is_reported(tmp_path):
    with pytest.raises(TypeError, match="prompt 1"):
        tokenize(["ok", 3])
    bad = tmp_path / "vocab.txt.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="vocab.txt.gz"):
        BPETokenizer(bad)
