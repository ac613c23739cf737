"""A picture for a person to check at a glance: the frame with removed regions outlined, and
the result beside it (`veil explain FILE --render out.png`, the console's preview)."""

from __future__ import annotations

import io

import numpy as np

from veil.pixels.display import Image8
from veil.pixels.model import BoxSource, Removal

# Outline colours by layer: rules yellow, ultrasound regions cyan, OCR red.
COLOURS = {
    BoxSource.RULE: (255, 210, 0),
    BoxSource.ULTRASOUND_REGIONS: (0, 200, 255),
    BoxSource.OCR: (255, 40, 40),
}
GAP = 8


def side_by_side(before: Image8, after: Image8, removals: tuple[Removal, ...]) -> bytes:
    """PNG bytes: ``before`` with every removal outlined, a gap, then ``after``."""
    from PIL import Image, ImageDraw

    rows, columns = before.shape[:2]
    canvas = Image.new("RGB", (2 * columns + GAP, rows), (40, 40, 40))
    left = Image.fromarray(np.ascontiguousarray(before))
    draw = ImageDraw.Draw(left)
    for removal in removals:
        box = removal.box
        draw.rectangle(
            (box.x, box.y, box.x1 - 1, box.y1 - 1), outline=COLOURS[removal.source], width=1
        )
    canvas.paste(left, (0, 0))
    canvas.paste(Image.fromarray(np.ascontiguousarray(after)), (columns + GAP, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()
