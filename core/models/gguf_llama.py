"""A loaded Hugging Face Llama-family causal LM written as a GGUF file llama.cpp runs.

What llama.cpp's own converter does for the Llama case, on a model already in memory: the
hyper-parameters under ``llama.*``, the tensors renamed through gguf's tensor-name map, the
query and key projections permuted from Hugging Face's rotary layout to llama.cpp's, 1-D
tensors and norms kept in float32, every other weight in float16 or Q8_0 (a weight whose rows
do not split into Q8_0 blocks falls back to float16). Tensors are converted and written one at
a time, so memory holds the model plus one converted tensor.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.cancel import CancelToken
from core.errors import BadInput
from core.events import Progress
from core.models.gguf_vocab import read_vocab, write_vocab

LLAMA_ARCHITECTURES = ("LlamaForCausalLM",)
OUT_TYPES = ("f16", "q8_0")


def check_llama(config: dict, name: str) -> None:
    """BadInput unless ``config`` (a config.json) is a Llama-family causal LM."""
    archs = config.get("architectures") or []
    if config.get("model_type") != "llama" or not any(a in LLAMA_ARCHITECTURES for a in archs):
        what = (archs[0] if archs else config.get("model_type")) or "this kind of"
        raise BadInput(f"Exporting {what} models to GGUF is not supported yet ('{name}').",
                       hint="The Llama family (SmolLM2, Llama, TinyLlama) can be exported.")


def permute(weights, n_head: int, n_head_kv: int | None):
    """Hugging Face's rotary layout of a q/k projection (halves) to llama.cpp's (pairs)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


@dataclass
class _Planned:
    gguf_name: str
    hf_name: str
    qtype: object  # gguf.GGMLQuantizationType


def _rope(config) -> dict:
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    params = dict(params)
    params.setdefault("rope_theta", getattr(config, "rope_theta", 10000.0))
    return params


def _write_hparams(writer, config, out_type: str, name: str) -> None:
    import gguf

    n_head = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_head
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or n_head)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    rope = _rope(config)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type == "linear" and rope.get("factor"):
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif rope_type != "default":
        raise BadInput(f"'{name}' uses {rope_type} rotary scaling; exporting it to GGUF is not "
                       "supported yet.")
    ftype = {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_file_type(ftype[out_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _plan(state: dict, config, out_type: str) -> list[_Planned]:
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    wanted = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[out_type]
    block = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0]
    plan = []
    for hf_name, tensor in state.items():
        if hf_name.endswith(".rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        new = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise BadInput(f"The tensor '{hf_name}' has no GGUF name; this model is not a plain "
                           "Llama and cannot be exported yet.")
        if tensor.dim() <= 1 or new.endswith("_norm.weight") or not new.endswith(".weight"):
            qtype = gguf.GGMLQuantizationType.F32
        elif wanted is gguf.GGMLQuantizationType.Q8_0 and tensor.shape[-1] % block:
            qtype = gguf.GGMLQuantizationType.F16
        else:
            qtype = wanted
        plan.append(_Planned(new, hf_name, qtype))
    return plan


def _converted(tensor, item: _Planned, config):
    """The numpy data of one tensor, permuted and cast or quantized for the GGUF."""
    import gguf
    import numpy as np
    import torch

    data = tensor.detach().to("cpu", torch.float32)
    n_head = config.num_attention_heads
    if item.hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        data = permute(data, n_head, n_head)
    elif item.hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        data = permute(data, n_head, getattr(config, "num_key_value_heads", None) or n_head)
    array = data.contiguous().numpy()
    if item.qtype is gguf.GGMLQuantizationType.F32:
        return array.astype(np.float32)
    if item.qtype is gguf.GGMLQuantizationType.F16:
        return array.astype(np.float16)
    return gguf.quants.quantize(array, item.qtype)


def _nbytes(shape, qtype) -> tuple[tuple[int, ...], object, int]:
    """(shape to declare, numpy dtype to declare, byte count) of a planned tensor."""
    import math

    import gguf
    import numpy as np

    if qtype is gguf.GGMLQuantizationType.F32:
        return tuple(shape), np.dtype(np.float32), 4 * math.prod(shape)
    if qtype is gguf.GGMLQuantizationType.F16:
        return tuple(shape), np.dtype(np.float16), 2 * math.prod(shape)
    byte_shape = gguf.quant_shape_to_byte_shape(tuple(shape), qtype)
    return byte_shape, np.dtype(np.uint8), math.prod(byte_shape)


def write_llama_gguf(model, tokenizer, path: Path, out_type: str, name: str,
                     cancel: CancelToken) -> Iterator[Progress]:
    """Write ``model`` (a transformers Llama causal LM) and ``tokenizer`` to ``path``; yields
    Progress per tensor. BadInput for what the GGUF cannot hold."""
    import gguf

    if out_type not in OUT_TYPES:
        raise BadInput(f"Unknown GGUF type '{out_type}'; pick one of {', '.join(OUT_TYPES)}.")
    config = model.config
    check_llama(config.to_dict(), name)
    vocab = read_vocab(tokenizer, config.vocab_size, name)
    state = model.state_dict()
    plan = _plan(state, config, out_type)

    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        _write_hparams(writer, config, out_type, name)
        write_vocab(writer, vocab)
        for item in plan:
            shape, dtype, nbytes = _nbytes(state[item.hf_name].shape, item.qtype)
            writer.add_tensor_info(item.gguf_name, shape, dtype, nbytes, raw_dtype=item.qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total = len(plan)
        for i, item in enumerate(plan):
            cancel.raise_if_cancelled()
            yield Progress("Writing the GGUF tensors", i, total, item.gguf_name)
            writer.write_tensor_data(_converted(state[item.hf_name], item, config))
        yield Progress("Writing the GGUF tensors", total, total)
    finally:
        writer.close()
