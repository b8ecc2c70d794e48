"""What the page does in the browser: scroll to the results when they arrive, say so when the editor cannot start
(no WebGL), examples' tables that fit their box, and a compact phone-width layout (narrower margins, Harmonize and
Stop kept at the bottom of the screen). Plain JavaScript and CSS strings, attached in
:mod:`demo.layout` (no server work)."""

from __future__ import annotations

import gradio as gr

SCROLL_TO_RESULTS_JS = """() => {
    const target = document.getElementById('result_naive');
    if (target) target.scrollIntoView({behavior: 'smooth', block: 'start'});
}"""

def show_tab_js(name: str) -> str:
    """JavaScript that selects the tab whose button reads ``name`` (quoted safely for JS)."""
    quoted = name.replace("\\", "\\\\").replace("'", "\\'")
    return ("() => { const tab = [...document.querySelectorAll('button[role=tab]')]"
            f".find(b => b.innerText.trim() === '{quoted}'); if (tab) tab.click(); }}")


NO_WEBGL_MESSAGE = ("This browser cannot start the image editor: it needs WebGL, which is turned off or not "
                    "available here. Turn on hardware acceleration (or try another browser); the API works without "
                    "it (see 'Use via API' below).")

NO_WEBGL_JS = """() => {
    const canvas = document.createElement('canvas');
    let ok = false;
    try { ok = !!(window.WebGLRenderingContext && (canvas.getContext('webgl2') || canvas.getContext('webgl'))); }
    catch (e) { ok = false; }
    const note = document.getElementById('no_webgl');
    if (note) note.style.display = ok ? 'none' : 'block';
}"""

MOBILE_CSS = """
#no_webgl { display: none; padding: 0.75em 1em; border: 1px solid #d97706; border-radius: 6px;
            background: #fffbeb; color: #92400e; }
/* The examples' tables fit their box: columns share its width, long headers wrap, thumbnails shrink (the
   headers are the inputs' long labels and pushed the table sideways, at 1400 px as at 390 px). */
#examples_portrait table, #examples_composite table { table-layout: fixed; width: 100% !important; }
#examples_portrait th, #examples_composite th, #examples_portrait td, #examples_composite td {
  white-space: normal !important; overflow-wrap: anywhere; word-break: break-word; }
#examples_portrait td img, #examples_composite td img { max-width: 100%; height: auto; }
#examples_portrait td > span > div, #examples_composite td > span > div { max-width: 100%; }
@media (max-width: 640px) {
  #fg_editor, #comp_editor { min-height: 320px; }
  #result_notes, #downloads { font-size: 0.9em; }
  .gradio-container { padding-left: 4px !important; padding-right: 4px !important; padding-bottom: 72px !important; }
  /* Compact: Harmonize and Stop stay at the bottom of the screen (the run row is far below the editor there). */
  #run_btn, #run_btn_composite { position: fixed; right: 12px; bottom: 12px; z-index: 60; width: auto;
                                 min-width: 150px; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.35); }
  #stop_btn, #stop_btn_composite { position: fixed; right: 174px; bottom: 12px; z-index: 60; width: auto;
                                   min-width: 80px; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.35); }
  #examples_portrait th, #examples_composite th { font-size: 0.75em; padding: 4px 2px; }
  #examples_portrait td, #examples_composite td { padding: 4px 2px; font-size: 0.8em; }
}
"""


def build_notices() -> None:
    """The (hidden) no-WebGL notice and the page's CSS, in the current Blocks."""
    gr.HTML(f"<style>{MOBILE_CSS}</style><div id='no_webgl' role='alert'>{NO_WEBGL_MESSAGE}</div>",
            elem_id="client_notices", padding=False)


def attach(demo: gr.Blocks) -> None:
    """The checks that run when the page loads."""
    demo.load(None, None, None, js=NO_WEBGL_JS)
