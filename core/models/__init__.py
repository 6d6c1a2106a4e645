"""The model registry, Hub downloads, GGUF conversion and export, the one HF loader and adapters.

Other packages, panels and the CLI import these names from ``core.models``; every module here
is light at import (torch, transformers and huggingface_hub load inside functions).
"""
from core.models.adapters import ADAPTER_CONFIG, adapter_base, adapter_config, apply_adapter
from core.models.catalog import BUNDLED, HUB_CATALOGUE, PACKS, RESOURCES, PackSpec, find_pack
from core.models.convert import convert_gguf, ensure_loadable, prepared
from core.models.detect import dir_size, inspect_path, slug
from core.models.embed import Embedder, Embeddings, open_embedder
from core.models.endpoint_api import EndpointModelMissing, EndpointRefused, EndpointUnreachable
from core.models.endpoints import Endpoint, EndpointStore
from core.models.entry import HUB_ID, META_FILE, SOURCE_LABELS, Format, ModelEntry, Source, Task
from core.models.export_gguf import export_gguf
from core.models.gguf_info import GgufInfo, gguf_info
from core.models.gguf_llama import OUT_TYPES as GGUF_OUT_TYPES
from core.models.hub import OFFLINE_HINT, download
from core.models.loading import (
    context_length,
    dtype_for,
    is_out_of_memory,
    load_hf,
    load_trained,
    out_of_memory,
    trained_kind,
)
from core.models.registry import Registry
from core.models.userlist import UserList

__all__ = [
    "ADAPTER_CONFIG", "BUNDLED", "Embedder", "Embeddings", "Endpoint", "EndpointModelMissing",
    "EndpointRefused", "EndpointStore",
    "EndpointUnreachable", "GGUF_OUT_TYPES", "HUB_CATALOGUE", "HUB_ID", "META_FILE",
    "OFFLINE_HINT", "PACKS", "RESOURCES", "SOURCE_LABELS", "Format", "GgufInfo", "ModelEntry",
    "PackSpec", "Registry", "Source", "Task", "UserList", "adapter_base", "adapter_config",
    "apply_adapter", "context_length", "convert_gguf", "dir_size", "download", "dtype_for",
    "ensure_loadable", "export_gguf", "find_pack", "gguf_info", "inspect_path", "is_out_of_memory",
    "load_hf", "load_trained", "open_embedder", "out_of_memory", "prepared", "slug", "trained_kind",
]
