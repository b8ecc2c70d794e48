"""A Hugging Face Hub stand-in on 127.0.0.1 for tests: serves a folder as one repository at one revision, with the
headers ``hf_hub_download`` reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``), so downloads go through
huggingface_hub's real code into its real cache layout, offline."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.parse
from pathlib import Path


class HubServer:
    """Serve ``folder`` as ``{url}/{repo_id}/resolve/{revision}/<path>`` (other revisions and paths: 404)."""

    def __init__(self, folder: Path, repo_id: str, revision: str) -> None:
        self.folder, self.repo_id, self.revision = folder, repo_id, revision
        self.commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _file(self) -> Path | None:
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                prefix = f"/{server.repo_id}/resolve/{server.revision}/"
                if not path.startswith(prefix):
                    return None
                target = (server.folder / path[len(prefix):]).resolve()
                inside = target.is_relative_to(server.folder.resolve())
                return target if inside and target.is_file() else None

            def _answer(self, body: bool) -> None:
                server.requests.append((self.command, self.path))
                target = self._file()
                if target is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", server.commit)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802 - name fixed by http.server
                self._answer(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(body=True)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
