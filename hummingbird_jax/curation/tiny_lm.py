"""A tiny chat LM built offline, to exercise the recaption stage without downloading a model.

:func:`build_tiny_chat_model` trains a small byte-level BPE tokenizer on the given texts, wraps it
in ``PreTrainedTokenizerFast`` with a chat template, initialises a 2-layer ``LlamaForCausalLM`` at
random and, if ``teach`` pairs are given, fits it for a few hundred steps to answer those chat
prompts with the given replies (so tests know what a correct generation looks like). The result is
saved like any Hugging Face model directory and loads with ``local_files_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tokenizer(texts: list[str], vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )


def build_tiny_chat_model(
    directory: str | os.PathLike,
    texts: list[str],
    teach: list[tuple[list[dict], str]] = (),
    *,
    hidden: int = 64,
    layers: int = 2,
    steps: int = 400,
    seed: int = 0,
) -> Path:
    """Saves a tokenizer and a tiny Llama to ``directory``; returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    corpus = list(texts) + [m["content"] for messages, _ in teach for m in messages] + [r for _, r in teach]
    tokenizer = build_tokenizer(corpus)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    if teach:
        _fit(model, tokenizer, teach, steps)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _fit(model, tokenizer, teach, steps) -> None:
    """Teacher-forced cross-entropy on the replies only, until memorised."""
    import torch

    sequences, labels = [], []
    for messages, reply in teach:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        sequences.append(prompt_ids + reply_ids)
        labels.append([-100] * len(prompt_ids) + reply_ids)
    length = max(map(len, sequences))
    pad = tokenizer.pad_token_id
    ids = torch.tensor([s + [pad] * (length - len(s)) for s in sequences])
    target = torch.tensor([s + [-100] * (length - len(s)) for s in labels])
    mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in sequences])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small runs fastest on one thread
    model.train()
    try:
        for _ in range(steps):
            loss = model(input_ids=ids, attention_mask=mask, labels=target).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss.item() < 1e-3:
                break
    finally:
        torch.set_num_threads(threads)
        model.eval()
    return loss.item()
