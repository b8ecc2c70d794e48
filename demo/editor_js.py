"""What the page does in the browser for the image editors: a semi-transparent mask display and a message when a
file that is not an image is given to an editor. Plain JavaScript, run once when the page loads (an empty
``gr.HTML``'s ``js_on_load``, placed by :mod:`demo.layout`); no server work.

Semi-transparent mask (issue 18). The editor's brush layer IS the mask (its alpha), so the paint itself stays
opaque and the app receives exactly what it did. Gradio 6.31's editor draws the photo and its layers with PixiJS
in one canvas (no element per layer to fade with CSS), so the page lays a copy of the photo, at
``1 - MASK_DISPLAY_OPACITY``, over the editor's image (the same texture, following its zoom and position every
frame): under the paint the photo and the subject's edges show through. The copy is a sibling of the editor's
image container on the Pixi stage, not inside it: the editor's exports (background, layers, composite) and its
frame (see :mod:`harmonization.image_io.editor_frame`) never include it. The editors' Pixi applications are found
through PixiJS's devtools hook ``globalThis.__PIXI_APP_INIT__`` (called for every application; in light mode Gradio
also sets ``globalThis.__PIXI_APP__``). If a later Gradio draws its editor differently, nothing is found and the
paint is simply opaque again; errors are caught, the editor is never stopped.

Files that are not images. Gradio's editor drops a file whose type is not ``image/*`` without a word (the message
came only at Harmonize: "upload a portrait"); one it cannot decode shows nothing. The page checks what the editor's
file input receives or what is dropped on it and says so at once, naming the file (never a server path: the file
has not left the browser).
"""

from __future__ import annotations

import json

import gradio as gr

from .config import MASK_DISPLAY_OPACITY

#: The editors whose files and display this module looks after, with how messages name them.
EDITORS = {"fg_editor": "portrait editor", "comp_editor": "composite editor"}

_OVERLAY_JS = """
const state = window.__harmonizationEditor;
const attach = (app, how) => {
    if (!app || state.apps.includes(app)) return;
    state.apps.push(app);
    state.caught.push(how);
    const start = () => {
        if (!app.ticker || !app.stage) { setTimeout(start, 50); return; }
        app.ticker.add(() => sync(app));  // before the application's own render (it runs last in each frame)
    };
    start();
};
const sync = (app) => {
    try {
        const stage = app.stage;
        // The editor's image container holds the background layer (zIndex -1) and the brush layers.
        const image = stage.children.find((c) => c !== app.__photoOverlay && c.children &&
                                                 c.children.some((k) => k.zIndex === -1));
        if (!image) return;
        const background = image.children.find((k) => k.zIndex === -1);
        const photo = background.children.length > 1 ? background.children[background.children.length - 1] : null;
        let overlay = app.__photoOverlay;
        if (!overlay) {
            overlay = new image.constructor();
            overlay.eventMode = 'none';
            overlay.label = 'photo-over-mask';
            app.__photoOverlay = overlay;
        }
        if (overlay.parent !== stage) stage.addChildAt(overlay, stage.getChildIndex(image) + 1);
        const shown = state.photoAlpha > 0 && photo && photo.texture && !photo.texture.destroyed &&
            image.visible && background.visible;
        overlay.visible = !!shown;
        if (!shown) return;
        let copy = overlay.children[0];
        if (!copy) {
            copy = new photo.constructor(photo.texture);
            copy.eventMode = 'none';
            overlay.addChild(copy);
        }
        if (copy.texture !== photo.texture) copy.texture = photo.texture;
        copy.position.set(background.x + photo.x * background.scale.x, background.y + photo.y * background.scale.y);
        copy.scale.set(background.scale.x * photo.scale.x, background.scale.y * photo.scale.y);
        copy.alpha = state.photoAlpha;
        overlay.position.copyFrom(image.position);
        overlay.scale.copyFrom(image.scale);
        overlay.pivot.copyFrom(image.pivot);
    } catch (error) {
        if (!state.error) { state.error = String(error); console.warn('mask display:', error); }
    }
};
const previous = globalThis.__PIXI_APP_INIT__;
globalThis.__PIXI_APP_INIT__ = (app, version) => {
    if (typeof previous === 'function') previous(app, version);
    attach(app, 'init');
};
let lightApp = globalThis.__PIXI_APP__;
attach(lightApp, 'global');
try {
    Object.defineProperty(globalThis, '__PIXI_APP__', {
        configurable: true, get: () => lightApp, set: (app) => { lightApp = app; attach(app, 'global'); },
    });
} catch (error) { /* a page that froze it: the init hook still works */ }
"""

_FILES_JS = """
const noteStyle = 'position: fixed; top: 16px; right: 16px; z-index: 10000; max-width: 380px; padding: 0.75em 1em;' +
    'border: 1px solid #d97706; border-radius: 6px; background: #fffbeb; color: #92400e; cursor: pointer;' +
    'box-shadow: 0 2px 8px rgba(0, 0, 0, 0.15); font-size: 0.95em;';
const say = (text) => {
    let note = document.getElementById('editor_file_note');
    if (!note) {
        note = document.createElement('div');
        note.id = 'editor_file_note';
        note.setAttribute('role', 'alert');
        note.style.cssText = noteStyle;
        note.title = 'Click to close';
        note.addEventListener('click', () => { note.style.display = 'none'; });
        document.body.appendChild(note);
    }
    note.textContent = text;
    note.style.display = 'block';
    clearTimeout(state.noteTimer);
    state.noteTimer = setTimeout(() => { note.style.display = 'none'; }, 15000);
};
const check = (files, editor) => {
    const where = state.editors[editor.id];
    for (const file of files) {
        const name = String(file.name || 'The file').split(/[\\\\/]/).pop();
        if (!String(file.type || '').startsWith('image/')) {
            say(`${name} is not an image, so the ${where} did not load it. Choose a photo (PNG, JPEG or WebP).`);
        } else if (typeof createImageBitmap === 'function') {
            createImageBitmap(file).then((bitmap) => { if (bitmap.close) bitmap.close(); }, () => {
                say(`${name} could not be read as an image (damaged, or a format this browser cannot show), so ` +
                    `the ${where} shows nothing. Choose a PNG, JPEG or WebP photo.`);
            });
        }
    }
};
const selector = Object.keys(state.editors).map((id) => `#${id}`).join(', ');
document.addEventListener('change', (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.files) return;
    const editor = input.closest(selector);
    if (editor) check([...input.files], editor);
}, true);
document.addEventListener('drop', (event) => {
    const editor = event.target instanceof Element ? event.target.closest(selector) : null;
    if (editor && event.dataTransfer && event.dataTransfer.files) check([...event.dataTransfer.files], editor);
}, true);
"""


def page_js(opacity: float = MASK_DISPLAY_OPACITY) -> str:
    """The JavaScript run once per page: the photo over the editors' paint at ``1 - opacity`` (``opacity``: how
    opaque the paint looks, in (0, 1]; 1 turns the overlay off) and the file checks."""
    if not 0.0 < opacity <= 1.0:
        raise ValueError(f"The mask display opacity must be in (0, 1]; got {opacity!r}.")
    settings = json.dumps({"photoAlpha": round(1.0 - opacity, 3), "editors": EDITORS})
    return ("(() => {\n"
            "if (window.__harmonizationEditor) return;\n"
            f"window.__harmonizationEditor = Object.assign({{apps: [], caught: []}}, {settings});\n"
            "{\n" + _OVERLAY_JS + "}\n{\n" + "const state = window.__harmonizationEditor;\n" + _FILES_JS + "}\n"
            "})();")


def build() -> gr.HTML:
    """The (empty, invisible) HTML element that runs :func:`page_js` when the page loads, in the current Blocks."""
    return gr.HTML("", js_on_load=page_js(), elem_id="editor_js", container=False, padding=False,
                   apply_default_css=False)
