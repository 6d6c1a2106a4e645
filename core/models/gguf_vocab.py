"""A Hugging Face byte-level BPE tokenizer as GGUF metadata: tokens, token types, merges, the
pre-tokenizer llama.cpp should use, the special token ids and the chat template.

llama.cpp names its pre-tokenizers (``tokenizer.ggml.pre``); the ones a byte-level BPE Llama
tokenizer can have are recognised here from the tokenizer's own ``pre_tokenizer`` description,
so the GGUF splits text exactly as the tokenizer it was made from. Anything else is refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import BadInput

# The Llama 3 split pattern, as Llama 3 tokenizers write it (llama.cpp's "llama-bpe").
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
                  r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# gguf.TokenType values (kept here so this module stays light at import)
NORMAL, UNUSED, CONTROL, USER_DEFINED = 1, 5, 3, 4


@dataclass(frozen=True)
class GgufVocab:
    pre: str  # llama.cpp's pre-tokenizer name
    tokens: list[str]
    token_types: list[int]
    merges: list[str]  # "a b", by rank
    special_ids: dict[str, int]  # bos / eos / unk / pad -> id
    add_bos: bool
    add_eos: bool
    chat_template: str | None


def _byte_level(node: dict | None, *, use_regex: bool) -> bool:
    return (isinstance(node, dict) and node.get("type") == "ByteLevel"
            and bool(node.get("use_regex", True)) == use_regex
            and not node.get("add_prefix_space", False))


def pre_tokenizer_name(pre: dict | None) -> str | None:
    """llama.cpp's name for a byte-level BPE pre-tokenizer description; None when unknown."""
    if _byte_level(pre, use_regex=True):
        return "gpt-2"
    if not isinstance(pre, dict) or pre.get("type") != "Sequence":
        return None
    steps = pre.get("pretokenizers") or []
    if len(steps) != 2:
        return None
    first, second = steps
    if (first.get("type") == "Digits" and first.get("individual_digits")
            and _byte_level(second, use_regex=True)):
        return "smollm"
    if (first.get("type") == "Split" and (first.get("pattern") or {}).get("Regex") == LLAMA3_PATTERN
            and _byte_level(second, use_regex=False)):
        return "llama-bpe"
    return None


def _chat_template(tokenizer) -> str | None:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # several named templates: the default one
        template = template.get("default")
    return template if isinstance(template, str) and template else None


def read_vocab(tokenizer, vocab_size: int, name: str) -> GgufVocab:
    """The GGUF vocabulary of a fast byte-level BPE tokenizer; BadInput for any other kind."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise BadInput(f"The tokenizer of '{name}' has no fast (tokenizers) version; exporting it "
                       "to GGUF is not supported yet.")
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or spec.get("normalizer") is not None:
        raise BadInput(f"The tokenizer of '{name}' is not a byte-level BPE tokenizer; exporting it "
                       "to GGUF is not supported yet.",
                       hint="GPT-2-style BPE tokenizers (SmolLM2, Llama 3) are supported.")
    pre = pre_tokenizer_name(spec.get("pre_tokenizer"))
    if pre is None:
        raise BadInput(f"The pre-tokenizer of '{name}' is not one llama.cpp knows; exporting it to "
                       "GGUF is not supported yet.")

    vocab: dict[str, int] = dict(tokenizer.get_vocab())
    if vocab and max(vocab.values()) >= vocab_size:
        raise BadInput(f"The tokenizer of '{name}' has more tokens than the model's vocabulary.")
    added = {t["id"]: t for t in spec.get("added_tokens") or []}
    by_id = {i: tok for tok, i in vocab.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(CONTROL if added[i].get("special") else USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(NORMAL)

    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or []]
    special = {}
    for kind in ("bos", "eos", "unk", "pad"):
        tid = getattr(tokenizer, f"{kind}_token_id", None)
        if isinstance(tid, int) and 0 <= tid < vocab_size:
            special[kind] = tid
    probe = tokenizer.encode("a")
    add_bos = "bos" in special and len(probe) > 1 and probe[0] == special["bos"]
    add_eos = "eos" in special and len(probe) > 1 and probe[-1] == special["eos"]
    return GgufVocab(pre, tokens, types, merges, special, add_bos, add_eos,
                     _chat_template(tokenizer))


def write_vocab(writer, vocab: GgufVocab) -> None:
    """Add ``vocab`` to a gguf.GGUFWriter as llama.cpp's "gpt2" tokenizer."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id,
              "unk": writer.add_unk_token_id, "pad": writer.add_pad_token_id}
    for kind, tid in vocab.special_ids.items():
        adders[kind](tid)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
