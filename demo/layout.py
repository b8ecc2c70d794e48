"""The page: components, their events and the API endpoints (:func:`build_demo`)."""

from __future__ import annotations

import gradio as gr

from harmonization import available_methods
from harmonization.serving.jobs import (
    DEFAULT_PAINTERLY_QUALITY,
    PAINTERLY_QUALITY,
    is_painterly,
    method_choices,
    unavailable_note,
)

from . import advanced, client, compare, editor_js, masks, placement, uploads, warm
from .api import harmonize, harmonize_with_options
from .config import BRUSH_COLOR, CACHE_TTL_S, DEFAULT_METHOD, EDITOR_CANVAS_SIZE, TITLE
from .examples import example_rows, one_progress, slow_example
from .handlers import (
    api_harmonize_painterly,
    label_columns,
    painterly_note,
    place_on_click,
    quality_visibility,
    run_composite,
    run_portrait,
)


def _editor(label: str, elem_id: str) -> gr.ImageEditor:
    return gr.ImageEditor(
        label=label,
        elem_id=elem_id,
        type="numpy",
        image_mode="RGBA",
        sources=("upload", "clipboard"),
        brush=gr.Brush(colors=[BRUSH_COLOR], color_mode="fixed", default_size=24),
        layers=gr.LayerOptions(allow_additional_layers=False),
        transforms=(),
        format="png",
        height=460,
        canvas_size=EDITOR_CANVAS_SIZE,
    )


def build_demo() -> gr.Blocks:
    """Build the Blocks app (not launched)."""
    choices = method_choices()
    warm.forget()  # only this page's examples are warmed
    with gr.Blocks(title=TITLE, delete_cache=(CACHE_TTL_S, CACHE_TTL_S)) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "Paste a subject into a new scene and make it take the scene's light and colour. Paint the subject "
            "with the brush, choose a background, and compare the **naive** cut-and-paste with a **global** and a "
            "**local** harmonization. Results keep the full resolution and never change background pixels."
        )
        client.build_notices()  # the no-WebGL notice (shown only when the editor cannot start) and narrow-screen CSS
        editor_js.build()  # the editors' semi-transparent mask display and their not-an-image message
        with gr.Tabs():
            with gr.Tab("Portrait + background"):
                with gr.Row():
                    with gr.Column():
                        fg_editor = _editor("Portrait: upload, then paint over the subject", "fg_editor")
                        with gr.Row():
                            auto_btn = gr.Button("Auto subject mask (people)", size="sm", elem_id="auto_mask_btn")
                            refine_btn = gr.Button("Refine mask edges", size="sm", elem_id="refine_mask_btn")
                        with gr.Row():
                            object_btn, object_strokes, object_box = masks.build_object_tools()
                    with gr.Column():
                        bg_image = gr.Image(label="Background (photo or painting): click where the subject stands",
                                            elem_id="bg_image", type="filepath", sources=["upload", "clipboard"],
                                            height=460)
                        preview = placement.build_preview()  # where the subject will stand, before Harmonize
                with gr.Row():
                    scale = gr.Slider(0.1, 1.5, value=0.5, step=0.01, label="Scale (subject height / background)",
                                      elem_id="scale")
                    pos_x = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Horizontal position (feet)",
                                      elem_id="pos_x")
                    pos_y = gr.Slider(0.0, 1.0, value=0.9, step=0.01, label="Vertical position (feet)",
                                      elem_id="pos_y")
                    flip = gr.Checkbox(value=False, label="Flip left-right", elem_id="flip")
                with gr.Row():
                    method = gr.Dropdown(choices=choices, value=DEFAULT_METHOD, label="Method (right-hand column)",
                                         elem_id="method")
                    quality = gr.Radio(list(PAINTERLY_QUALITY), value=DEFAULT_PAINTERLY_QUALITY,
                                       label="Painterly quality (preview: 256 px, faster)",
                                       elem_id="painterly_quality", visible=is_painterly(DEFAULT_METHOD))
                    run_btn = gr.Button("Harmonize", variant="primary", elem_id="run_btn")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop_btn", min_width=80)
                    compare_btn = gr.Button("Compare all methods", elem_id="compare_btn")
                painterly_hint = gr.Markdown("", elem_id="painterly_note")
            with gr.Tab("Composite + mask"):
                comp_editor = _editor("Composite: upload, then paint over the pasted object", "comp_editor")
                refine_btn2 = gr.Button("Refine mask edges", size="sm", elem_id="refine_mask_btn_composite")
                with gr.Row():  # the portrait tab's any-object mask (/object_mask serves both editors' values)
                    object_btn2, object_strokes2, object_box2 = masks.build_object_tools("_composite")
                with gr.Row():
                    method2 = gr.Dropdown(choices=choices, value=DEFAULT_METHOD, label="Method (right-hand column)",
                                          elem_id="method_composite")
                    quality2 = gr.Radio(list(PAINTERLY_QUALITY), value=DEFAULT_PAINTERLY_QUALITY,
                                        label="Painterly quality (preview: 256 px, faster)",
                                        elem_id="painterly_quality_composite", visible=is_painterly(DEFAULT_METHOD))
                    run_btn2 = gr.Button("Harmonize", variant="primary", elem_id="run_btn_composite")
                    stop_btn2 = gr.Button("Stop", variant="stop", elem_id="stop_btn_composite", min_width=80)
                    compare_btn2 = gr.Button("Compare all methods", elem_id="compare_btn_composite")
                painterly_hint2 = gr.Markdown("", elem_id="painterly_note_composite")
        adv = advanced.build_advanced()
        with gr.Row(equal_height=True):
            result_naive = gr.Image(label="Naive (cut and paste)", elem_id="result_naive", format="png",
                                    interactive=False, buttons=["download", "fullscreen"])
            result_global = gr.Image(label="Global baseline", elem_id="result_global", format="png", interactive=False,
                                     buttons=["download", "fullscreen"])
            result_local = gr.Image(label="Chosen method", elem_id="result_local", format="png", interactive=False,
                                    buttons=["download", "fullscreen"])
        notes = gr.Markdown(elem_id="result_notes", label="notes")
        slider = gr.ImageSlider(label="Before / after (naive vs chosen method)", elem_id="result_slider", format="png",
                                interactive=False)
        downloads = gr.File(label="Downloads: full-resolution PNGs and a zip of all three", file_count="multiple",
                            elem_id="downloads", interactive=False)
        unavailable = unavailable_note()
        if unavailable:
            gr.Markdown(unavailable, elem_id="unavailable_methods")
        gallery, compare_painterly = compare.build_compare()
        fg_full, comp_full = masks.full_image_state(fg_editor), masks.full_image_state(comp_editor)
        fg_frame, comp_frame = masks.frame_state(fg_editor), masks.frame_state(comp_editor)  # what a tool last sent

        outputs = [result_naive, result_global, result_local, slider, downloads, notes]
        portrait_inputs = [fg_editor, bg_image, scale, pos_x, pos_y, flip, method]
        # preprocess=False: uploads reach the handlers as file references, so our reader validates them and an
        # unreadable file becomes a clear message instead of a generic processing error (and _gate() checks every
        # reference). concurrency_limit=None: the handlers are async and wait for their lane (FAST_LANE,
        # PAINTERLY_LANE, MASK_LANE), which bounds the work; a waiting request holds no thread.
        lanes = {"concurrency_limit": None, "preprocess": False}
        # A run's progress shows once, on the chosen method's column (every output showed the same bar and timer).
        runs = {**lanes, "show_progress_on": [result_local]}
        # The runs take the Advanced values and the full-resolution file behind a phone photo's display copy (a
        # State: not part of the API, whose inputs are the page's first ones plus the Advanced values).
        run = run_btn.click(advanced.run_portrait_advanced, [*portrait_inputs, quality, *adv.inputs, fg_full],
                            outputs, api_name="run_portrait_advanced", **runs)
        run2 = run_btn2.click(advanced.run_composite_advanced, [comp_editor, method2, quality2, *adv.inputs,
                                                                comp_full], outputs, api_name="run_composite_advanced",
                              **runs)
        for event, chosen in ((run, method), (run2, method2)):  # then: columns labelled, results scrolled to
            event.success(label_columns, chosen, outputs[:4], api_name=False, show_progress="hidden",
                          queue=False).then(None, None, None, js=client.SCROLL_TO_RESULTS_JS)
        # Stop: cancels the request; a running job ends at its next progress report (demo.handlers.StoppedError).
        for button in (stop_btn, stop_btn2):
            button.click(None, None, None, cancels=[run, run2], api_name=False, queue=False)
        with gr.Row(visible=False):  # /run_portrait and /run_composite as before (API only): the same inputs
            api_run_btn, api_run_btn2 = gr.Button("run_portrait"), gr.Button("run_composite")
        api_run_btn.click(run_portrait, [*portrait_inputs, quality], outputs, api_name="run_portrait", **runs)
        api_run_btn2.click(run_composite, [comp_editor, method2, quality2], outputs, api_name="run_composite",
                           **runs)
        compare_btn.click(compare.compare_all, [*portrait_inputs[:6], compare_painterly, quality, *adv.inputs,
                                                fg_full], gallery, api_name="compare_all", **lanes)
        compare_btn2.click(compare.compare_all_composite, [comp_editor, compare_painterly, quality2, *adv.inputs,
                                                           comp_full], gallery, api_name="compare_all_composite",
                           **lanes)
        # Mask tools: (editor value) -> editor value with the mask as its brush layer (and the State).
        fg_tool, comp_tool = [fg_editor, fg_full, fg_frame], [comp_editor, comp_full, comp_frame]
        auto_btn.click(masks.auto_subject_mask, fg_tool, fg_tool, api_name="auto_mask", **lanes)
        object_btn.click(masks.object_mask, [fg_editor, object_strokes, object_box, fg_full, fg_frame], fg_tool,
                         api_name="object_mask", **lanes)
        refine_btn.click(masks.refine_subject_mask, fg_tool, fg_tool, api_name="refine_mask", **lanes)
        refine_btn2.click(masks.refine_subject_mask, comp_tool, comp_tool, api_name=False, **lanes)
        object_btn2.click(masks.object_mask, [comp_editor, object_strokes2, object_box2, comp_full, comp_frame],
                          comp_tool, api_name=False, **lanes)
        for dropdown, radio in ((method, quality), (method2, quality2)):
            dropdown.change(quality_visibility, dropdown, radio, api_name=False, show_progress="hidden")
        # The painterly run's time estimate and the "smooth for a painting" note (the painting: the portrait
        # tab's background, the composite tab's image).
        for trigger in (method.change, quality.change, bg_image.change):
            trigger(painterly_note, [method, quality, bg_image], painterly_hint, api_name=False,
                    show_progress="hidden", preprocess=False)
        for trigger in (method2.change, quality2.change, comp_editor.upload, comp_editor.clear):  # not every stroke
            trigger(painterly_note, [method2, quality2, comp_editor], painterly_hint2, api_name=False,
                    show_progress="hidden", preprocess=False)
        bg_image.select(place_on_click, bg_image, [pos_x, pos_y], api_name=False, preprocess=False)
        uploads.wire(bg_image)  # unreadable or over-limit backgrounds: said (or downscaled) at upload
        placement.wire(preview, fg_editor, bg_image, scale, pos_x, pos_y, flip)  # and the default scale

        portrait_rows, composite_rows = example_rows()
        if portrait_rows:
            one_progress(warm.later(gr.Examples(  # with the painterly quality: the painterly row runs at preview
                portrait_rows, [*portrait_inputs, quality], outputs, fn=run_portrait, cache_examples=True,
                cache_mode="lazy", label="Examples: portrait + background", preprocess=False,
                elem_id="examples_portrait"), slow=slow_example), result_local)
        if composite_rows:
            composite_examples = warm.later(gr.Examples(
                composite_rows, [comp_editor, method2], outputs, fn=run_composite, cache_examples=True,
                cache_mode="lazy", label="Examples: composite + mask", preprocess=False, elem_id="examples_composite"))
            one_progress(composite_examples, result_local)
            # It fills the other tab: show that tab (it stayed on the portrait tab).
            composite_examples.dataset.click(None, None, None, js=client.show_tab_js("Composite + mask"),
                                             api_name=False, queue=False)

        # Programmatic endpoint for gradio_client users: (composite, mask, method) -> harmonized PNG.
        photo_methods = [n for n in available_methods() if not is_painterly(n)]
        painterly_names = [n for n in available_methods() if is_painterly(n)] or ["painterly"]
        with gr.Row(visible=False):
            api_composite = gr.Image(type="filepath", label="composite")
            api_mask = gr.Image(type="filepath", label="mask")
            api_method = gr.Dropdown(photo_methods, value=DEFAULT_METHOD, label="method")  # the API page lists them
            api_result = gr.Image(type="pil", format="png", label="harmonized")
            api_btn = gr.Button("harmonize")
            api_options = gr.Textbox(value="", label="options")
            api_o_btn = gr.Button("harmonize_options")
        api_btn.click(harmonize, [api_composite, api_mask, api_method], api_result, api_name="harmonize", **lanes)
        api_o_btn.click(harmonize_with_options, [api_composite, api_mask, api_method, api_options], api_result,
                        api_name="harmonize_options", **lanes)
        # The painterly methods' endpoint (its own lane): (composite, mask, method, quality) -> the final image.
        with gr.Row(visible=False):
            api_p_composite = gr.Image(type="filepath", label="composite")
            api_p_mask = gr.Image(type="filepath", label="mask")
            api_p_method = gr.Dropdown(painterly_names, value="painterly", label="method")
            api_p_quality = gr.Textbox(value=DEFAULT_PAINTERLY_QUALITY, label="quality")
            api_p_result = gr.Image(type="pil", format="png", label="result")
            api_p_btn = gr.Button("harmonize_painterly")
        api_p_btn.click(api_harmonize_painterly, [api_p_composite, api_p_mask, api_p_method, api_p_quality],
                        api_p_result, api_name="harmonize_painterly", **lanes)
        client.attach(demo)
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo
