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


def tiny_llama(folder: Path, chat_template: str | None = None) -> Path:
    """A 2-layer Llama (grouped-query attention, untied output) with the byte-level tokenizer,
    saved as an HF folder. Its weights are drawn wide (sharp logits, so greedy choices do not
    hinge on rounding) and rounded to float16, so an f16 GGUF export holds them exactly."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    if chat_template:
        tok.chat_template = chat_template
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, initializer_range=0.3,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    model.save_pretrained(folder)
    return folder


def tiny_distilbert_classifier(folder: Path, labels=("negative", "positive")) -> Path:
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    tok = tiny_tokenizer(folder)
    torch.manual_seed(0)
    cfg = DistilBertConfig(vocab_size=len(tok), dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                           max_position_embeddings=128, pad_token_id=tok.pad_token_id,
                           id2label=dict(enumerate(labels)),
                           label2id={lab: i for i, lab in enumerate(labels)})
    DistilBertForSequenceClassification(cfg).save_pretrained(folder)
    return folder


def tiny_bert_masked_lm(folder: Path) -> Path:
    """A 2-layer BERT masked LM with a word-level WordPiece vocabulary (it has a [MASK] token)."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    words = sorted({w.strip(",.?").lower() for line in CORPUS for w in line.split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "?"] + words
    wordpiece = BertWordPieceTokenizer({w: i for i, w in enumerate(vocab)}, lowercase=True)
    tok = PreTrainedTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]",
                                  pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                  mask_token="[MASK]", model_max_length=64)
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertForMaskedLM(cfg).save_pretrained(folder)
    return folder
