"""What the browser app needs around Gradio: a body limit on its routes, page script, styles."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API (/api, /v1) has its own 64 KB limit in newsrag.api_plumbing; these cover Gradio's routes.
MAX_UI_BODY_BYTES = 256 * 1024  # a question is at most a few KB; events carry small values
UPLOAD_OVERHEAD_BYTES = 1 << 20  # multipart headers around the files of one upload
API_PREFIXES = ("/api/", "/v1/")

# On a narrow screen the sidebar starts closed, so it never covers the question box.
PAGE_SCRIPT = """
() => {
  const close = () => {
    const sidebar = document.querySelector('#newsrag-sidebar');
    if (!sidebar) return false;
    if (window.innerWidth < 700 && sidebar.classList.contains('open')) {
      const toggle = sidebar.querySelector('button');
      if (toggle) toggle.click();
    }
    return true;
  };
  let tries = 0;
  const timer = setInterval(() => { if (close() || ++tries > 100) clearInterval(timer); }, 50);
}
"""

UI_STYLESHEET = """
/* Gradio's per-component progress overlays: the chat's "searching…" placeholder says it instead. */
.progress-text, .eta-bar, .progress-level, .meta-text-center, .meta-text { display: none !important; }
.wrap.translucent, .wrap.generating { background: transparent !important; border: none !important; }
/* Error replies take no thumbs: there is no answer to rate (the buttons follow their message). */
.message-row:has(.newsrag-error) + .message-buttons { display: none !important; }
#newsrag-feedback-note { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#newsrag-feedback-note p { margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.newsrag-searching { opacity: 0.7; font-style: italic; }
#newsrag-footer { text-align: center; font-size: 0.85em; opacity: 0.8; margin-top: 12px; }
@media (max-width: 700px) {
  #newsrag-sources { max-height: none; }
}
"""


class GradioBodyLimit:
    """Refuse oversized request bodies on Gradio's routes with 413 (uploads get their own limit)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(API_PREFIXES) or path in ("/api", "/v1"):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if path.endswith("/upload") else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(send, limit)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    return {"type": "http.disconnect"}  # the app stops reading: nothing is kept
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the 413 below is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)
        if refused and not started:
            await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = f'{{"error": "request body over {limit:,} bytes: send less"}}'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
