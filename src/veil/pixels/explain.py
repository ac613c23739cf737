"""What `veil explain` says about pixels: the risk flag, and what Clean Pixel Data removes
(as boxes and counts, never the text), optionally drawn into a PNG for a person to check."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from pydicom.dataset import Dataset

from veil.pixels.clean import clean, pictures_of, prepare
from veil.pixels.codec import PixelCodecError
from veil.pixels.model import PixelStatus
from veil.pixels.risk import burned_in_risk
from veil.pixels.settings import PixelSettings


def explain_pixels(
    original: Dataset, output: Dataset, settings: PixelSettings, render: Path | None
) -> Iterator[str]:
    """Lines for the terminal; with ``render``, also the before/after PNG.

    Under a policy without clean-pixel-data, ``--render`` shows what the option would remove.
    Raises ``PixelCodecError`` when ``render`` is asked for and the pixels cannot be drawn.
    """
    risk = burned_in_risk(original)
    if risk.at_risk:
        yield "burned-in text: may be present (" + ", ".join(r.value for r in risk.reasons) + ")"
    if render is None and not settings.clean:
        return
    effective = settings if settings.clean else replace(settings, clean=True)
    work = copy.deepcopy(output)
    inputs = prepare(original, effective)
    if not inputs.in_scope:
        inputs = replace(inputs, in_scope=True)  # asked for explicitly: scan it
    result = clean(work, inputs, effective)
    prefix = "pixels" if settings.clean else "pixels (with clean-pixel-data)"
    counts = ", ".join(f"{n} {source}" for source, n in result.counts().items() if n)
    yield (
        f"{prefix}: {result.status.value}: {len(result.removals)} region(s) removed in "
        f"{result.frames} frame(s)" + (f" ({counts})" if counts else "")
    )
    for removal in result.removals:
        x, y, w, h = removal.box
        yield f"  {removal.source.value}: x={x} y={y} w={w} h={h} ({removal.reason})"
    if result.verification is not None:
        yield f"  verification by {result.verification.engine}: " + (
            "passed" if result.verification.passed else "FAILED"
        )
    if result.problem:
        yield f"  {result.problem}"
    if render is not None and result.status is PixelStatus.FAILED:
        raise PixelCodecError(
            f"--render: nothing drawn, {result.problem or 'the pixel step failed'}"
        )
    if render is not None:
        from veil.pixels.preview import side_by_side

        before, _ = pictures_of(original)
        after, _ = pictures_of(work)
        render.write_bytes(side_by_side(before, after, result.removals))
        yield f"  rendered to {render} (removed regions outlined: rules yellow, "
        yield "  ultrasound regions cyan, OCR red; the result on the right)"
