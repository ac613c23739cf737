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

from veil.dicom import is_private_creator, tag_text, values_of
from veil.engine.blobs import mask_element
from veil.engine.context import Mode
from veil.engine.handlers import handler_for, one_or_many, remap_uids
from veil.policy.model import Action
from veil.standard import Option

if TYPE_CHECKING:
    from veil.engine.walk import Walker


Block = tuple[int, int]  # (group, block number): the block's creator is (group, 00xx)


def creators_of(ds: Dataset, tags: Tags[int]) -> dict[Block, str | None]:
    """The private creator of every block among ``tags`` (None for an empty creator)."""
    creators: dict[Block, str | None] = {}
    for tag in tags:
        if is_private_creator(tag):
            value = ds[tag].value
            creators[(tag >> 16, tag & 0xFF)] = str(value).strip() if value else None
    return creators


def walk_private(
    walker: Walker,
    ds: Dataset,
    tags: Tags[int],
    path: tuple[str, ...],
    where: str,
    mode: Mode,
) -> None:
    """Apply the plan to the private elements ``tags`` of ``ds`` (all in odd groups)."""
    from veil.engine.walk import show

    creators = creators_of(ds, tags)
    kept_blocks: set[Block] = set()
    for tag in tags:
        if is_private_creator(tag):
            continue
        here = f"{where}{tag_text(tag)}"
        if tag & 0xFFFF < 0x1000:  # group length or reserved: no data worth keeping
            if walker.ctx.recorder is not None:
                why = "private group length or reserved element"
                walker.record(here, tag, show(ds[tag]), "(removed)", why, "removed")
            del ds[tag]
            continue
        block = (tag >> 16, (tag & 0xFFFF) >> 8)
        if _private_element(walker, ds, tag, creators.get(block), path, here, mode):
            kept_blocks.add(block)
    for (group, number), creator in creators.items():
        if (group, number) not in kept_blocks:
            tag = (group << 16) | number
            walker.record(
                f"{where}{tag_text(tag)}",
                tag,
                creator or "",
                "(removed)",
                "private creator of a block with nothing kept",
                "removed",
            )
            del ds[tag]


def _private_element(
    walker: Walker,
    ds: Dataset,
    tag: int,
    creator: str | None,
    path: tuple[str, ...],
    here: str,
    mode: Mode,
) -> bool:
    """One private data element by its creator's rule; True when it stays (its block too)."""
    from veil.engine.walk import needs_remap, show

    ctx = walker.ctx
    rule = ctx.plan.private_rule(creator, tag >> 16, tag & 0xFF)
    before = show(ds[tag]) if ctx.recorder is not None else ""
    if rule.action is Action.CLEAN and ds[tag].VR != "SQ":
        if not mask_element(ds[tag], creator, tag & 0xFF, ctx.blob_needles):
            del ds[tag]
            walker.record(
                here,
                tag,
                before,
                "(removed)",
                f"{rule.source}; not cleanable (unparsable)",
                "removed",
            )
            return False
    elif rule.action is not Action.KEEP:
        del ds[tag]
        walker.record(here, tag, before, "(removed)", rule.source, "removed")
        return False
    vr = ds.get_item(tag).VR
    if vr in (None, "UN"):
        vr = ds[tag].VR  # resolved through pydicom's private dictionary if known
    if vr == "SQ" or isinstance(ds[tag].value, Sequence):
        walker.descend(ds[tag], path, here, mode)
    elif vr == "UI" and Option.RETAIN_UIDS not in ctx.plan.options:
        elem = ds[tag]
        values = values_of(elem.value)
        if needs_remap(values):
            elem.value = one_or_many(remap_uids(values, ctx.mapper))
    if ctx.recorder is not None:
        action = rule.action if isinstance(rule.action, Action) else Action.KEEP
        walker.record(
            here, tag, before, show(ds.get(tag)), rule.source, handler_for(action).describe()
        )
    return True
