"""`python app.py`: build the index from the corpus if it is missing, then serve UI and API.

The chat is at http://<host>:<port>/ (default http://127.0.0.1:7860), the HTTP API under /api
and /v1 of the same process. Settings come from NEWSRAG_* environment variables and .env.
"""

from __future__ import annotations

import os

# Before anything imports Gradio: no telemetry or version checks leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsrag.config import Settings


def fail(message: str) -> int:
    """Print one line to stderr and return the exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def load_settings() -> Settings | str:
    """Settings from the environment, or one line naming the bad NEWSRAG_ variable."""
    try:
        return Settings()
    except ValidationError as error:
        return "bad setting: " + "; ".join(
            f"NEWSRAG_{'_'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        )


def port_is_free(host: str, port: int) -> bool:
    """True when host:port can be bound now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def build_index(settings: Settings, embedder: Any) -> None:
    """Ingest the corpus folder, with a progress bar in the terminal."""
    from newsrag.ingest import ingest

    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        raise FileNotFoundError(
            f"no index in {settings.index_dir} and no corpus folder {corpus}: "
            "put articles there or set NEWSRAG_CORPUS_DIR"
        )
    print(f"No index in {settings.index_dir}: building it from {corpus}/ …", flush=True)
    report = ingest([corpus], settings=settings, progress=True, embedder=embedder)
    for item in report.skipped:
        print(f"skipped: {item.message()}", file=sys.stderr, flush=True)
    print(report.summary(), flush=True)


def open_assistant(settings: Settings) -> Any:
    """Load the model, build the index if missing, open the Assistant; None (and a warning) on failure."""
    from newsrag.embedding import Embedder
    from newsrag.manifest import Manifest

    print(f"Loading the embedding model ({settings.embedding_model}) …", flush=True)
    embedder = Embedder.load(settings=settings)
    try:
        if Manifest.load(Path(settings.index_dir)).model is None:
            build_index(settings, embedder)
        from newsrag.assistant import Assistant

        return Assistant.open(settings, embedder=embedder)
    except (OSError, RuntimeError, ValueError) as error:
        # The app still starts: the chat shows the problem and retries on each question.
        print(f"warning: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return None


def announce(server: Any, address: str) -> None:
    """Print the address once the server accepts connections."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.1)
    print(f"newsrag is serving on {address}/  (chat; HTTP API under /api)", flush=True)


def main() -> int:
    """Open (or build) the index, then serve UI + API until interrupted."""
    settings = load_settings()
    if isinstance(settings, str):
        return fail(settings)
    from newsrag.server import ServeConfigError, check_bind

    try:
        check_bind(settings.host, settings)
    except ServeConfigError as error:
        return fail(str(error))
    if not port_is_free(settings.host, settings.port):
        return fail(
            f"{settings.host}:{settings.port} is in use: stop that server or set NEWSRAG_PORT"
        )

    assistant = open_assistant(settings)

    import uvicorn

    from newsrag.server import create_app
    from newsrag.ui import mount_ui

    app = create_app(settings, assistant=assistant)
    app = mount_ui(app, assistant=assistant, settings=settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")
    )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    address = f"http://{host}:{settings.port}"
    threading.Thread(target=announce, args=(server, address), daemon=True).start()
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
