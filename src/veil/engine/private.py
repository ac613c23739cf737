"""Private blocks: decided by their creator string, never by element number.

Each odd group holds up to 240 blocks, each announced by a private creator element
(gggg,0010-00FF) naming the vendor's dictionary. The plan's rule for a private element is
found through its block's creator (``Plan.private_rule``); a block whose elements all go
loses its creator too. Kept elements are looked into like public ones (sequences walked,
instance UIDs keyed); cleaned ones are masked (veil.engine.blobs).
"""

from __future__ import annotations

from collections.abc import Sequence as Tags
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.engine.blobs import mask_element
from veil.engine.context import Mode, tag_text
from veil.engine.handlers import handler_for, one_or_many, remap_uids, values_of
from veil.policy.model import Action
from veil.standard import Option

if TYPE_CHECKING:
    from veil.engine.walk import Walker


def is_creator(tag: int) -> bool:
    return 0x0010 <= tag & 0xFFFF <= 0x00FF


def walk_private(
    walker: Walker,
    ds: Dataset,
    tags: Tags[int],
    path: tuple[str, ...],
    where: str,
    mode: Mode,
) -> None:
    """Apply the plan to the private elements ``tags`` of ``ds`` (all in odd groups)."""
    from veil.engine.walk import needs_remap, show

    ctx = walker.ctx
    recording = ctx.recorder is not None
    creators: dict[tuple[int, int], str | None] = {}
    for tag in tags:
        if is_creator(tag):
            value = ds[tag].value
            creators[(tag >> 16, tag & 0xFF)] = str(value).strip() if value else None
    kept_blocks: set[tuple[int, int]] = set()
    plan = ctx.plan
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if is_creator(tag):
            continue
        here = f"{where}{tag_text(tag)}"
        if element < 0x1000:  # group length or reserved: never identifying data worth keeping
            if recording:
                walker.record(
                    here,
                    tag,
                    show(ds[tag]),
                    "(removed)",
                    "private group length or reserved element",
                    "removed",
                )
            del ds[tag]
            continue
        block = element >> 8
        creator = creators.get((group, block))
        rule = plan.private_rule(creator, group, element & 0xFF)
        before = show(ds[tag]) if recording else ""
        if rule.action is Action.CLEAN and ds[tag].VR != "SQ":
            mask_element(ds[tag], ctx.blob_needles)
        elif rule.action is not Action.KEEP:
            del ds[tag]
            walker.record(here, tag, before, "(removed)", rule.source, "removed")
            continue
        kept_blocks.add((group, block))
        raw = ds.get_item(tag)
        vr = raw.VR
        if vr in (None, "UN"):
            vr = ds[tag].VR  # resolved through pydicom's private dictionary if known
        if vr == "SQ" or isinstance(ds[tag].value, Sequence):
            walker.descend(ds[tag], path, here, mode)
        elif vr == "UI" and Option.RETAIN_UIDS not in plan.options:
            elem = ds[tag]
            values = values_of(elem.value)
            if needs_remap(values):
                elem.value = one_or_many(remap_uids(values, ctx.mapper))
        if recording:
            action = rule.action if isinstance(rule.action, Action) else Action.KEEP
            walker.record(
                here, tag, before, show(ds.get(tag)), rule.source, handler_for(action).describe()
            )
    for (group, block), creator in creators.items():
        if (group, block) not in kept_blocks:
            tag = (group << 16) | block
            if recording:
                walker.record(
                    f"{where}{tag_text(tag)}",
                    tag,
                    creator or "",
                    "(removed)",
                    "private creator of a block with nothing kept",
                    "removed",
                )
            del ds[tag]
