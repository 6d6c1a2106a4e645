"""The `models` subcommand: `models [list]`, `models add PATH`, `models remove ID`,
`models convert ID`, `models download HUB_ID`, `models export-gguf RUN_OR_MODEL --type f16|q8_0`,
`models add-endpoint URL [--name N] [--api-key-env VAR]`, `models remove-endpoint N`;
each action takes only its own flags."""
from __future__ import annotations

import argparse
import json
from typing import TextIO

from core.cli.drive import drive
from core.models.gguf_llama import OUT_TYPES as GGUF_TYPES


def _list_flags(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: `models --json list` and `models list --json` both count, and the list parser's
    # default never overwrites the flag given before it.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print a JSON list")
    parser.add_argument("--task", default=argparse.SUPPRESS,
                        help="only models for this task, e.g. text-generation")


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="list, add, remove, convert, download or export models",
                            description="Without an action: list the models (as `models list`).")
    _list_flags(models)
    models.set_defaults(handler=run_list, models_parser=models)
    actions = models.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="list the models (the default)")
    _list_flags(listing)
    listing.set_defaults(handler=run_list)
    add = actions.add_parser("add", help="remember a local model folder or file")
    add.add_argument("path", metavar="PATH", help="a model folder, a .gguf or a whisper .pt file")
    add.set_defaults(handler=run_add)
    remove = actions.add_parser("remove", help="forget a model you added, or delete what the app "
                                               "made (a converted copy, a trained model)")
    remove.add_argument("model", metavar="ID", help="registry id or name")
    remove.set_defaults(handler=run_remove)
    convert = actions.add_parser("convert", help="convert a GGUF model to safetensors, once")
    convert.add_argument("model", metavar="ID", help="registry id, name or .gguf path")
    convert.set_defaults(handler=run_convert)
    export = actions.add_parser(
        "export-gguf", help="write a language model or fine-tuned run as a GGUF file for llama.cpp",
        description="Merge the LoRA if there is one, write a GGUF (tokenizer and chat template in "
                    "its metadata) and list it as a chat model. The Llama family (SmolLM2, Llama, "
                    "TinyLlama) is supported.")
    export.add_argument("model", metavar="RUN_OR_MODEL",
                        help="a fine-tune run's name, a registry id or name, or a model folder")
    export.add_argument("--type", dest="out_type", choices=GGUF_TYPES, default=GGUF_TYPES[0],
                        help="f16: the weights as they are; q8_0: 8-bit, about half the size")
    export.add_argument("--name", help="the new model's name (default: the model's name and type)")
    export.set_defaults(handler=run_export_gguf)
    download = actions.add_parser("download", help="download a Hub model into the HF cache")
    download.add_argument("hub_id", metavar="HUB_ID", help="owner/name")
    download.set_defaults(handler=run_download)
    endpoint = actions.add_parser(
        "add-endpoint", help="list a remote OpenAI-compatible server's models as chat models",
        description="vLLM, TGI, llama.cpp's server, Ollama, LM Studio or our own: its /v1/models "
                    "are listed as NAME/MODEL, and `chat --model NAME/MODEL` streams from it.")
    endpoint.add_argument("url", metavar="URL", help="its base URL, e.g. http://127.0.0.1:8000/v1")
    endpoint.add_argument("--name", help="what to call it (default: its host and port)")
    endpoint.add_argument("--api-key-env", metavar="VAR",
                          help="read its API key from this environment variable (the key is kept "
                               "in the system keyring, or a file only you can read)")
    endpoint.set_defaults(handler=run_add_endpoint)
    forget = actions.add_parser("remove-endpoint", help="forget an endpoint and its key")
    forget.add_argument("name", metavar="NAME")
    forget.set_defaults(handler=run_remove_endpoint)


def _registry(args: argparse.Namespace):
    from core.models import Registry

    return getattr(args, "registry", None) or Registry()


def _only_list_flags(args: argparse.Namespace) -> None:
    """`models --json add X`: the list flags given before another action are an error too."""
    given = [f"--{name}" for name in ("json", "task") if hasattr(args, name)]
    if given and args.action not in (None, "list"):
        args.models_parser.error(f"{', '.join(given)} only applies to 'models list'")


def run_add(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _only_list_flags(args)
    entry = _registry(args).add_local(args.path)
    print(f"added {entry.id} ({entry.task.value}, {entry.format.value})", file=out)
    return 0


def run_remove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _only_list_flags(args)
    print(_registry(args).remove(args.model), file=out)
    return 0


def run_convert(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models import convert_gguf

    _only_list_flags(args)
    registry = _registry(args)
    entry = registry.get(args.model)
    done = drive(lambda c: convert_gguf(registry, entry, c), err)
    print(done.converted_path, file=out)
    return 0


def run_export_gguf(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models import export_gguf

    _only_list_flags(args)
    registry = _registry(args)
    done = drive(lambda c: export_gguf(registry, args.model, args.out_type, args.name, c), err)
    print(f"exported {done.id} ({done.note}): {done.path}", file=out)
    return 0


def run_download(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models import download

    _only_list_flags(args)
    registry = _registry(args)
    done = drive(lambda c: download(registry, args.hub_id, c), err)
    print(done.path, file=out)
    return 0


def run_add_endpoint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import os

    from core.errors import BadInput, WorkbenchError

    _only_list_flags(args)
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise BadInput(f"The environment variable {args.api_key_env} is not set or empty.")
    store = _registry(args).endpoints
    endpoint = store.add(args.url, args.name, key)
    print(f"added endpoint {endpoint.name} ({endpoint.url})"
          + (f", key in the {endpoint.key}" if endpoint.key else ""), file=out)
    try:
        models = store.models(endpoint, fresh=True)
    except WorkbenchError as exc:
        print(f"warning: {exc.user_message()}", file=err)
        return 0
    for model in models:
        print(f"  {endpoint.name}/{model}", file=out)
    return 0


def run_remove_endpoint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _only_list_flags(args)
    print(_registry(args).endpoints.remove(args.name), file=out)
    return 0


def run_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from core.models import Task

    task = None
    if getattr(args, "task", None):
        try:
            task = Task(args.task)
        except ValueError:
            print(f"error: unknown task '{args.task}' (one of: "
                  f"{', '.join(t.value for t in Task)})", file=err)
            return 2
    entries = _registry(args).entries(task)
    if getattr(args, "json", False):
        json.dump([e.to_json() for e in entries], out, indent=2)
        out.write("\n")
        return 0
    rows = [(e.id, e.name, e.task.value, e.format.value, e.source.value, human_size(e.size_bytes),
             e.load_path or e.hub_id or "") for e in entries]
    header = ("ID", "NAME", "TASK", "FORMAT", "SOURCE", "SIZE", "PATH")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1], file=out)
    return 0


def human_size(n: int | None) -> str:
    from core.paths import human_bytes

    return "-" if n is None else human_bytes(n)
