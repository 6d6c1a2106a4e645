"""Tiny random models built in seconds, for tests that need a real model but not real quality."""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a good film with a great story and fine acting",
    "a bad film, dull and far too long",
    "hello world, this is a tiny model for tests",
    "What is the capital of France? Paris is the capital of France.",
] * 20


def tiny_tokenizer(save_to: Path | None = None):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1,
                            special_tokens=["<|endoftext|>", "<pad>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                  bos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  pad_token="<pad>")
    if save_to is not None:
        tok.save_pretrained(save_to)
    return tok


def tiny_gpt2(folder: Path) -> Path:
    """A 2-layer GPT-2 with a byte-level tokenizer, saved as an HF folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tiny_tokenizer(folder)
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def tiny_distilbert_classifier(folder: Path, labels=("negative", "positive")) -> Path:
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    tok = tiny_tokenizer(folder)
    torch.manual_seed(0)
    cfg = DistilBertConfig(vocab_size=len(tok), dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                           max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                           id2label=dict(enumerate(labels)),
                           label2id={l: i for i, l in enumerate(labels)})
    DistilBertForSequenceClassification(cfg).save_pretrained(folder)
    return folder
