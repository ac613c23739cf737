"""A synthetic burned-in text set: corpus images with each file's own header values burned in.

Each sample takes a real corpus image, renders some of its own identifying header values (the
patient's name, ID, a date in one of several formats, the institution, a time, the accession)
with Pillow in one of several fonts (DejaVu and Liberation from Debian, Pillow's own), sizes,
contrasts and positions (corners and a band across the centre, over the anatomy), blends the
ink into every frame, writes it back in the file's own transfer syntax (or JPEG-LS lossless for
lossy sources) and keeps the ink mask as ground truth. A value the header lacks is given one
(written into the header too), so the burned text is always the file's own.

    python -m tests.pixels.burnin ../shared/corpus OUT   # writes OUT/NNN.dcm + NNN-ink.png
"""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from veil.pixels import codec
from veil.pixels.model import Box

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
FONTS = (
    ("DejaVuSans", "DejaVuSans.ttf"),
    ("DejaVuSansMono", "DejaVuSansMono.ttf"),
    ("DejaVuSerif", "DejaVuSerif.ttf"),
    ("LiberationSans", "LiberationSans-Regular.ttf"),
    ("LiberationMono", "LiberationMono-Regular.ttf"),
    ("LiberationSerif", "LiberationSerif-Regular.ttf"),
    ("Pillow", ""),  # Pillow's bundled default font at a size
)
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre-band")
CONTRASTS = (1.0, 0.8, 0.65)  # ink level as a share of the frame's range above its minimum
# Ink is a pixel where the glyph's coverage is at least this (of 255): anti-aliasing fringes
# fainter than 1/8 change the stored value by less than an eighth of the ink's contrast.
INK_ALPHA = 32
LABELLED = ("patient-id", "accession")  # lines drawn as "ID: value", "ACC value"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class Base:
    """A corpus image the set burns text into, and the transfer syntax its samples are written in
    (None: its own, or JPEG-LS lossless for a lossy source, as veil writes cleaned pixels)."""

    path: str
    syntax: str | None = None


# The test set: every kind of image and every transfer syntax veil writes cleaned pixels in,
# each once. One Siemens mosaic only (the big-endian one): a mosaic costs five to ten times a
# plain slice to read (its 36 tiles are read as lines of "0000" and the image is re-read in
# tiles), and its other six transfer syntaxes are covered by cheaper images (RLE by a
# transcoded sagittal slice) and by the lossless write-back tests of every corpus syntax.
BASES = (
    Base("dcm_qa_ts/transfer_syntaxes/3.dcm"),  # MR mosaic, explicit VR big endian
    Base("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/i257.MRDC.65"),  # MR brain axial, explicit LE
    Base("dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic/1301_0085.dcm"),  # MR sagittal
    # MR sagittal, written RLE lossless
    Base("dcm_qa_deident/Accelerated_SAG_IR-SPGR/00120.dcm", str(RLELossless)),
    Base("pydicom/test_files/693_J2KI.dcm"),  # CT, JPEG 2000 (lossy source) -> JPEG-LS
    Base("pydicom/test_files/SC_rgb_jpeg_dcmd.dcm"),  # secondary capture, RGB, implicit VR
    Base("pydicom/test_files/examples_rgb_color.dcm"),  # ultrasound, RGB
    Base("pydicom/test_files/examples_jpeg2k.dcm"),  # ultrasound, JPEG 2000 lossless YBR_RCT
    Base("pydicom/test_files/examples_ybr_color.dcm"),  # ultrasound cine, 30 frames, JPEG
)
# The wider set of the benchmark: the same mosaic in its six other transfer syntaxes too
# (implicit VR, RLE, JPEG lossless SV1 and JPEG-LS lossless sources, JPEG 2000 lossless).
WIDE_BASES = BASES + tuple(Base(f"dcm_qa_ts/transfer_syntaxes/{n}.dcm") for n in (1, 2, 4, 5, 7, 9))


@dataclass(frozen=True)
class Planted:
    kind: str
    box: Box  # the whole line, label included ("ID: ", "ACC ")
    value_box: Box  # the identifying value alone


@dataclass
class Sample:
    name: str
    base: str
    dataset: Dataset
    ink: NDArray[np.bool_]  # (rows, columns): ground truth, the same on every frame
    value_ink: NDArray[np.bool_]  # the ink of the identifying values alone (labels excluded)
    burned: NDArray[np.generic]  # the decoded frames after burning (before any cleaning)
    planted: list[Planted]
    font: str
    size: int
    contrast: float
    position: str


def _font(name: str, file: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if not file:
        return ImageFont.load_default(size=size)
    for folder in FONT_DIRS:
        path = Path(folder) / file
        if path.exists():
            return ImageFont.truetype(str(path), size)
    raise FileNotFoundError(f"font {name} ({file}); install fonts-dejavu-core fonts-liberation")


def _header_value(ds: Dataset, keyword: str, fallback: str) -> str:
    value = str(ds.get(keyword, "") or "").strip()
    if not value or value.upper() in ("ANONYMIZED", "ANONYMOUS", "NONE"):
        setattr(ds, keyword, fallback)
        return fallback
    return value


def _date_text(value: str, style: int) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    yyyy, mm, dd = digits[:4], digits[4:6], digits[6:8]
    month = MONTHS[int(mm) - 1]
    return [
        f"{yyyy}-{mm}-{dd}",
        f"{dd}-{month}-{yyyy[2:]}",
        f"{int(mm)}/{int(dd)}/{yyyy}",
        f"{dd}.{mm}.{yyyy}",
        f"{yyyy}/{mm}/{dd}",
    ][style % 5]


def identifier_lines(ds: Dataset, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) of the file's own values, as a scanner would print them."""
    name = _header_value(ds, "PatientName", "DOE^JANE")
    parts = [p for p in name.split("^") if p]
    shown = ", ".join(parts[:2]) if rng.random() < 0.5 else " ".join(reversed(parts[:2]))
    patient_id = _header_value(ds, "PatientID", f"MRN{rng.randrange(10**6, 10**7)}")
    date = _header_value(ds, "StudyDate", "20190314")
    if len("".join(ch for ch in date if ch.isdigit())) != 8:
        date = "20190314"
        ds.StudyDate = date
    institution = _header_value(ds, "InstitutionName", "SAINT ELSEWHERE HOSPITAL")
    accession = _header_value(ds, "AccessionNumber", f"A{rng.randrange(10**7, 10**8)}")
    time_value = _header_value(ds, "StudyTime", "142825")
    digits = "".join(ch for ch in time_value.split(".")[0] if ch.isdigit()).ljust(6, "0")
    lines = [
        ("patient-name", shown.upper() if rng.random() < 0.5 else shown),
        ("patient-id", f"ID: {patient_id}" if rng.random() < 0.5 else patient_id),
        ("date", _date_text(date, rng.randrange(5))),
        ("institution", institution[:28]),
        ("accession", f"ACC {accession}"),
        ("time", f"{digits[:2]}:{digits[2:4]}:{digits[4:6]}"),
    ]
    rng.shuffle(lines)
    return lines


def _layout(
    position: str,
    lines: list[str],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    rows: int,
    columns: int,
) -> list[tuple[int, int]]:
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    sizes = [draw.textbbox((0, 0), text, font=font) for text in lines]
    height = max(b[3] for b in sizes) + 3
    margin = max(4, columns // 60)
    places = []
    if position == "centre-band":
        y = rows // 2 - height // 2
        x = margin
        for box in sizes:
            places.append((x, y))
            x += box[2] + 3 * margin
        return places
    top = position.startswith("top")
    for index, box in enumerate(sizes):
        y = margin + index * height if top else rows - margin - (len(lines) - index) * height
        x = margin if position.endswith("left") else columns - margin - box[2]
        places.append((x, y))
    return places


def burn(
    base: Base,
    corpus: Path,
    rng: random.Random,
    font_index: int,
    size: int,
    contrast: float,
    position: str,
    index: int = 0,
) -> Sample:
    ds = pydicom.dcmread(str(corpus / base.path))
    decoded = codec.decode(ds)
    frames = decoded.frames
    rows, columns = frames.shape[1:3]
    font_name, font_file = FONTS[font_index % len(FONTS)]
    font = _font(font_name, font_file, size)
    wanted = identifier_lines(ds, rng)
    # The centre band holds two values side by side; a corner holds three lines.
    chosen = wanted[:2] if position == "centre-band" else wanted[:3]
    texts = [text for _, text in chosen]
    places = _layout(position, texts, font, rows, columns)
    alpha_img = Image.new("L", (columns, rows), 0)
    value_img = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(alpha_img)
    value_draw = ImageDraw.Draw(value_img)
    planted = []
    for (kind, text), (x, y) in zip(chosen, places, strict=True):
        draw.text((x, y), text, fill=255, font=font)
        box = draw.textbbox((x, y), text, font=font)
        label = text[: len(text) - len(text.lstrip("IDAC: "))] if kind in LABELLED else ""
        value_x = x + int(draw.textlength(label, font=font))
        value_draw.text((value_x, y), text[len(label) :], fill=255, font=font)
        vbox = value_draw.textbbox((value_x, y), text[len(label) :], font=font)
        planted.append(
            Planted(
                kind,
                Box(box[0], box[1], box[2] - box[0], box[3] - box[1]),
                Box(vbox[0], vbox[1], vbox[2] - vbox[0], vbox[3] - vbox[1]),
            )
        )
    alpha = np.asarray(alpha_img, dtype=np.float32) / 255.0
    ink = np.asarray(alpha_img) >= INK_ALPHA
    value_ink = ink & (np.asarray(value_img) >= INK_ALPHA)
    burned = _blend(frames, alpha, ink, contrast, decoded.photometric)
    out = codec.Decoded(burned, decoded.photometric, base.syntax or decoded.syntax)
    codec.encode(ds, out)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    reread = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    return Sample(
        name=f"{index:03d}-{Path(base.path).stem}-{font_name}-{size}-{position}",
        base=base.path,
        dataset=reread,
        ink=ink,
        value_ink=value_ink,
        burned=codec.decode(reread).frames,
        planted=planted,
        font=font_name,
        size=size,
        contrast=contrast,
        position=position,
    )


def _blend(
    frames: NDArray[np.generic],
    alpha: NDArray[np.float32],
    ink_mask: NDArray[np.bool_],
    contrast: float,
    photometric: str,
) -> NDArray[np.generic]:
    """Ink blended into every frame, legible the way a scanner makes it: bright text on a dark
    background, dark text where the background under it is bright (a white screen capture)."""
    data = frames.astype(np.float64)
    low, high = float(frames.min()), float(np.percentile(frames, 99.9))
    high = max(high, low + 1)
    under = float(np.median(frames[0][ink_mask])) if ink_mask.any() else low
    bright_background = (under - low) > 0.6 * (high - low)
    if bright_background != (photometric == "MONOCHROME1"):
        ink = high - contrast * (high - low)
    else:
        ink = low + contrast * (high - low)
    a = alpha[np.newaxis, ..., np.newaxis] if frames.ndim == 4 else alpha[np.newaxis]
    out = data * (1 - a) + ink * a
    info = np.iinfo(frames.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(frames.dtype)


def burned_in_set(
    corpus: Path, count: int, seed: int = 16, bases: tuple[Base, ...] = BASES
) -> Iterator[Sample]:
    """``count`` samples cycling through bases, fonts, sizes, contrasts and positions.

    One round over the bases already takes every text size, contrast and position; each further
    round shifts them by one, so a base meets another size, contrast and position."""
    rng = random.Random(seed)
    for index in range(count):
        base = bases[index % len(bases)]
        rows = int(pydicom.dcmread(str(corpus / base.path), stop_before_pixels=True).Rows)
        sizes = (9, 11, 13, 16, 20) if rows >= 300 else (8, 9, 11, 13)
        turn = index % len(bases) + index // len(bases)  # each round shifts by one
        yield burn(
            base,
            corpus,
            rng,
            font_index=index,
            size=sizes[turn % len(sizes)],
            contrast=CONTRASTS[turn % len(CONTRASTS)],
            position=POSITIONS[turn % len(POSITIONS)],
            index=index,
        )


def main(argv: list[str]) -> None:
    corpus, out = Path(argv[0]), Path(argv[1])
    count = int(argv[2]) if len(argv) > 2 else len(BASES) * 3
    out.mkdir(parents=True, exist_ok=True)
    for sample in burned_in_set(corpus, count):
        sample.dataset.save_as(out / f"{sample.name}.dcm", enforce_file_format=True)
        Image.fromarray(sample.ink.astype(np.uint8) * 255).save(out / f"{sample.name}-ink.png")
        print(sample.name)


if __name__ == "__main__":
    main(sys.argv[1:])
