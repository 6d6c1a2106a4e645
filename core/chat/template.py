"""A chat template (Jinja, as stored in a GGUF's ``tokenizer.chat_template``) rendered the way
transformers' ``apply_chat_template`` renders it: a sandboxed environment with ``trim_blocks`` and
``lstrip_blocks``, the loop-control extension, its ``tojson`` filter and ``raise_exception`` /
``strftime_now`` helpers, and the special tokens (``bos_token``, ``eos_token``...) as variables.
The text is then tokenized without adding special tokens, as transformers does."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.errors import BadInput


def compile_template(source: str) -> Any:
    """A compiled template; BadInput when the Jinja does not parse."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    try:
        return env.from_string(source)
    except jinja2.exceptions.TemplateError as exc:
        raise BadInput(f"The model's chat template does not parse: {exc}") from exc


def render(template: Any, messages: list[dict], special_tokens: dict[str, str], *,
           add_generation_prompt: bool = True) -> str:
    """The prompt text for ``messages`` (role/content dicts, oldest first)."""
    import jinja2

    try:
        return template.render(messages=[dict(m) for m in messages], tools=None, documents=None,
                               add_generation_prompt=add_generation_prompt, **special_tokens)
    except jinja2.exceptions.TemplateError as exc:
        raise BadInput(f"The model's chat template refused this conversation: {exc}") from exc
