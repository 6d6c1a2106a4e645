"""Chat: streaming engines, settings and the conversation history.

What the panels, the CLI and other packages use; the modules inside may move."""
from __future__ import annotations

from core.chat.attach import Attachment, Chunk, read_attachment
from core.chat.engine import (
    ENGINES,
    ChatEngine,
    LoadedInfo,
    ReplyStats,
    Token,
    Truncated,
    open_chat,
)
from core.chat.export_training import ChatTrainingExport, write_chat_training
from core.chat.history import (
    Conversation,
    HistoryDamaged,
    HistoryStore,
    HistoryUnavailable,
    title_from,
)
from core.chat.llama import BEAM_REFUSED, LlamaEngine
from core.chat.remote import RemoteEngine, RemoteInfo
from core.chat.retrieval import (
    EMBED_MODEL,
    RetrievalOptions,
    Retriever,
    Source,
    Sources,
    answer_with_files,
    fits_whole,
)
from core.chat.settings import (
    DEFAULT_CHAT_MODEL,
    PRESETS,
    ChatRequest,
    GenerationSettings,
    ModelDefaults,
    model_defaults,
)

__all__ = [
    'EMBED_MODEL', 'Attachment', 'Chunk', 'RetrievalOptions', 'Retriever', 'Source', 'Sources',
    'answer_with_files', 'fits_whole', 'read_attachment',
    'BEAM_REFUSED', 'ENGINES', 'ChatEngine', 'ChatRequest', 'ChatTrainingExport', 'Conversation',
    'DEFAULT_CHAT_MODEL',
    'GenerationSettings', 'HistoryDamaged', 'HistoryStore', 'HistoryUnavailable', 'LlamaEngine',
    'LoadedInfo', 'ModelDefaults', 'PRESETS', 'RemoteEngine', 'RemoteInfo', 'ReplyStats', 'Token',
    'Truncated', 'model_defaults', 'open_chat', 'title_from', 'write_chat_training',
]
