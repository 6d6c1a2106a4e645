"""What a GGUF file says about itself, read from its header without loading it: architecture,
quantisation (``general.file_type``), training context length and chat template; and whether the
file is whole (a truncated or foreign file is refused here, before llama.cpp sees it)."""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BadInput, ModelUnavailable

MAGIC = b"GGUF"
# value types: u8 i8 u16 i16 u32 i32 f32 bool string array u64 i64 f64
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# general.file_type (llama.cpp's llama_ftype) -> the quantisation's usual name
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4",
}


class _Truncated(Exception):
    pass


@dataclass(frozen=True)
class GgufInfo:
    path: str
    size_bytes: int
    architecture: str
    quantization: str  # "Q4_1", "F16"...; "" when the file does not say
    context_length: int | None
    chat_template: str | None
    tensors: int
    metadata: dict = field(default_factory=dict, repr=False)  # scalar keys only


class _Reader:
    def __init__(self, buf) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _Truncated()
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self, keep: bool = True) -> str | None:
        n = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise _Truncated()
        start, self.pos = self.pos, self.pos + n
        return bytes(self.buf[start:self.pos]).decode("utf-8", "replace") if keep else None

    def value(self, kind: int):
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:  # skipped: the vocabulary and merges are long and not needed here
            inner, count = self.take("<I"), self.take("<Q")
            if inner in _SCALARS:
                self.pos += struct.calcsize(_SCALARS[inner]) * count
                if self.pos > len(self.buf):
                    raise _Truncated()
            elif inner == _STRING:
                for _ in range(count):
                    self.string(keep=False)
            else:
                for _ in range(count):
                    self.value(inner)
            return None
        raise ValueError(f"unknown value type {kind}")


def read_gguf(path: str | Path) -> GgufInfo:
    """The header of a GGUF file. ModelUnavailable when it is missing; BadInput when it is not a
    GGUF file, is cut short, or its header does not parse."""
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"The GGUF file '{path}' is missing.")
    size = path.stat().st_size
    name = path.name
    with path.open("rb") as fh:
        if size < 24 or fh.read(4) != MAGIC:
            raise BadInput(f"'{name}' is not a GGUF file (it does not start with 'GGUF').")
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        r = _Reader(buf)
        r.pos = 4
        version = r.take("<I")
        if version not in (2, 3):
            raise BadInput(f"'{name}' is GGUF version {version}; this build reads versions 2 and 3.")
        n_tensors, n_kv = r.take("<Q"), r.take("<Q")
        meta: dict = {}
        for _ in range(n_kv):
            key = r.string()
            value = r.value(r.take("<I"))
            if value is not None:
                meta[key] = value
        last_offset = 0
        for _ in range(n_tensors):
            r.string(keep=False)
            dims = r.take("<I")
            r.pos += 8 * dims
            r.take("<I")  # tensor type
            last_offset = max(last_offset, r.take("<Q"))
        align = int(meta.get("general.alignment", 32)) or 32
        data_start = -(-r.pos // align) * align
        if n_tensors and data_start + last_offset >= size:
            raise _Truncated()
    except _Truncated:
        raise BadInput(f"'{name}' is truncated or corrupt: the file ends before its header says "
                       f"it should ({size:,} bytes).",
                       hint="Download it again; an interrupted download leaves such a file.") from None
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise BadInput(f"'{name}' is corrupt: its GGUF header does not parse ({exc}).") from None
    finally:
        buf.close()
    arch = str(meta.get("general.architecture", ""))
    if not arch:
        raise BadInput(f"'{name}' is corrupt: its header names no model architecture.")
    ctx = meta.get(f"{arch}.context_length")
    ftype = meta.get("general.file_type")
    return GgufInfo(str(path), size, arch, FILE_TYPES.get(ftype, "" if ftype is None else f"type {ftype}"),
                    int(ctx) if ctx else None, meta.get("tokenizer.chat_template"), n_tensors, meta)
