"""``python app.py --mcp``: Gradio's MCP server lists the harmonize tool (schema with the docstring's Args) and runs
it over the streamable HTTP transport (the ``mcp`` package's own client)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_scene
from PIL import Image

pytestmark = pytest.mark.app

mcp = pytest.importorskip("mcp", reason="the MCP server needs gradio's mcp extra: pip install -r requirements.txt")


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    import app

    with app.serve_locally(mcp=True) as url:
        yield url


def _schema(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}gradio_api/mcp/schema", timeout=30) as response:
        return json.load(response)


def test_schema_lists_the_harmonize_tool_with_its_args(mcp_url: str) -> None:
    tools = {tool["name"]: tool for tool in _schema(mcp_url)}
    assert {"harmonize", "harmonize_with_options", "object_mask", "compare_all"} <= set(tools)
    tool = tools["harmonize"]
    assert tool["meta"]["endpoint_name"] == "harmonize"
    assert tool["description"].startswith("Harmonize a composite photo")
    properties = tool["inputSchema"]["properties"]
    assert list(properties) == ["composite", "mask", "method"]
    assert set(tool["inputSchema"]["required"]) == {"composite", "mask"}
    assert "white (255) where the pasted object is" in properties["mask"]["description"]
    assert properties["method"]["default"] == "local"
    options = tools["harmonize_with_options"]["inputSchema"]["properties"]["options"]
    assert "strength=0.8" in options["description"]


def test_main_refuses_mcp_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from demo import api

    monkeypatch.setattr(api.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r"gradio\[mcp\]"):
        api.mcp_wanted(True)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(api.MCP_ENV, raising=False)
    assert api.mcp_wanted(False) is None


def _data_url(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_an_mcp_client_calls_the_harmonize_tool(mcp_url: str, tmp_path: Path) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    composite, mask = make_scene(48, 64)
    composite[~mask] = (30, 60, 200)  # a blue scene: "global" pulls the pasted object towards it
    mask8 = mask.astype(np.uint8) * 255

    async def call() -> object:
        async with streamable_http_client(f"{mcp_url}gradio_api/mcp/") as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            assert "harmonize" in {tool.name for tool in listed.tools}
            return await session.call_tool("harmonize", {"composite": _data_url(composite),
                                                         "mask": _data_url(mask8), "method": "global"})

    result = asyncio.run(asyncio.wait_for(call(), timeout=120))
    assert not result.isError, result
    images = [c for c in result.content if c.type == "image"]
    texts = [c.text for c in result.content if c.type == "text"]
    if images:
        out = np.asarray(Image.open(io.BytesIO(base64.b64decode(images[0].data))).convert("RGB"))
    else:  # a URL of the result on the server
        url = next(t for t in texts if "http" in t)
        url = url[url.index("http"):].split()[0].rstrip(").,'\"")
        with urllib.request.urlopen(url, timeout=30) as response:
            out = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
    assert out.shape == composite.shape
    assert np.array_equal(out[~mask], composite[~mask])  # the background untouched
    assert np.abs(out[mask].astype(int) - composite[mask]).mean() > 3  # the object harmonized
