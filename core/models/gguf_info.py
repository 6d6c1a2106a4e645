"""What a GGUF file's metadata says about it: architecture, quantisation, context length, name.

Read with gguf.GGUFReader (it maps the file; a few seconds for a large vocabulary), so the
registry reads it once, when a file is added or exported, and keeps the result.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput, ModelUnavailable


@dataclass(frozen=True)
class GgufInfo:
    architecture: str
    quantisation: str  # e.g. "Q4_1", "F16", "Q8_0"
    context_length: int | None
    name: str | None

    @property
    def note(self) -> str:
        """The line the model list shows: "GGUF Q4_1 · context 8192"."""
        context = f" · context {self.context_length}" if self.context_length else ""
        return f"GGUF {self.quantisation}{context}"


def gguf_file(path: str | Path) -> Path:
    """The .gguf file a path names: the file itself, or the first one in a folder."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.gguf"))
        if not files:
            raise ModelUnavailable(f"No .gguf file in '{path}'.")
        return files[0]
    return path


def _value(reader, key: str):
    field = reader.fields.get(key)
    if field is None:
        return None
    try:
        return field.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def quantisation_name(file_type: int | None, tensor_types: list[str]) -> str:
    """"Q4_1" for general.file_type 3; without it, the commonest type of the 2-D weights."""
    import gguf

    if file_type is not None:
        try:
            return gguf.LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_").removeprefix(
                "ALL_")
        except ValueError:
            pass
    if not tensor_types:
        return "unknown"
    return Counter(tensor_types).most_common(1)[0][0]


def gguf_info(path: str | Path) -> GgufInfo:
    """The metadata of a GGUF file (or of the first .gguf in a folder); BadInput when the file is
    not a readable GGUF (truncated, corrupt, or something else)."""
    file = gguf_file(path)
    import gguf

    try:
        reader = gguf.GGUFReader(str(file))
    except Exception as exc:  # the reader raises ValueError, struct.error, IndexError...
        raise BadInput(f"'{file.name}' is not a readable GGUF file (truncated or corrupt?): "
                       f"{exc}") from exc
    arch = _value(reader, "general.architecture") or "unknown"
    context = _value(reader, f"{arch}.context_length")
    types = [t.tensor_type.name for t in reader.tensors if len(t.shape) == 2]
    return GgufInfo(str(arch), quantisation_name(_value(reader, "general.file_type"), types),
                    int(context) if isinstance(context, int) else None,
                    _value(reader, "general.name"))
