"""Google Drive downloads: a shared file's download address, and the confirmation page Drive shows for large files.

Drive answers ``/uc?export=download&id=...`` either with the file or with an HTML page ("too large to scan for
viruses") whose form, link or ``download_warning`` cookie confirms the download; at most two such pages are followed.
"""

from __future__ import annotations

import html.parser
import logging
import re
import urllib.parse
from pathlib import Path

from .download import open_stream, stream_to_file
from .locations import google_drive_url
from .sources import GoogleDriveSource

__all__ = ["download_google_drive", "next_download_url"]

logger = logging.getLogger(__name__)


class _ConfirmPageParser(html.parser.HTMLParser):
    """Collects the forms (action + named inputs), links and title of a Google Drive confirmation page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self.title = ""
        self._in_form = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
            self._in_form = True
        elif tag == "input" and self._in_form and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def next_download_url(page: str, page_url: str, file_id: str, cookies: dict[str, str]) -> str | None:
    """The address that confirms a download on a Drive warning page, or None when the page offers none."""
    parser = _ConfirmPageParser()
    parser.feed(page)
    for action, inputs in parser.forms:
        if "confirm" in inputs or inputs.get("id") == file_id:
            return urllib.parse.urljoin(page_url, action) + "?" + urllib.parse.urlencode(inputs)
    for link in parser.links:
        if re.search(r"[?&]confirm=([0-9A-Za-z_-]+)", link):
            return urllib.parse.urljoin(page_url, link)
    for name, value in cookies.items():
        if name.startswith("download_warning"):
            query = urllib.parse.urlencode({"export": "download", "id": file_id, "confirm": value})
            return f"{google_drive_url()}?{query}"
    return None


def download_google_drive(source: GoogleDriveSource, target: Path) -> Path:
    """Download a shared Drive file, following at most two confirmation pages (large files are not virus-scanned)."""
    cookies: dict[str, str] = {}
    url = f"{google_drive_url()}?{urllib.parse.urlencode({'export': 'download', 'id': source.file_id})}"
    logger.info("Downloading Google Drive file %s to %s", source.file_id, target)
    for _ in range(3):
        header = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        with open_stream(url, headers=header) as response:
            cookies.update(dict(response.cookies.items()))
            if response.headers.get("Content-Type", "").split(";")[0].strip() != "text/html":
                return stream_to_file(response, target)
            page = response.read()[: 1 << 20].decode("utf-8", errors="replace")
            page_url = str(response.url)
        next_url = next_download_url(page, page_url, source.file_id, cookies)
        if next_url is None:
            parser = _ConfirmPageParser()
            parser.feed(page)
            raise OSError(
                f"Google Drive answered with a web page (title {parser.title.strip()!r}) and no download "
                "confirmation; the file may be over its download quota or no longer shared"
            )
        url = next_url
    raise OSError("Google Drive kept answering with confirmation pages")
