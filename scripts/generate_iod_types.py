"""Generate src/veil/standard/data/iod_attribute_types.json from highdicom's PS3.3 tables.

For each SOP class, the type (1/2/3) of every attribute that Table E.1-1 gives a compound
action (X/Z, X/D, Z/D, X/Z/D, X/Z/U*), at the top level and inside sequences (keyed by the
keyword path, e.g. "ReferencedStudySequence" or
"RequestAttributesSequence/ScheduledProcedureStepID").
The strongest type wins where modules of one IOD disagree (1 over 2 over 3); 1C and 2C count
as 1 and 2, because an attribute that is present satisfies its condition.

Run: python scripts/generate_iod_types.py   (needs highdicom, a test dependency)
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from highdicom._standard_utils import (
    get_iod_module_map,
    get_module_attribute_map,
    get_sop_class_iod_map,
)
from pydicom.datadict import keyword_for_tag, tag_for_keyword

OUT = Path(__file__).resolve().parents[1] / "src/veil/standard/data/iod_attribute_types.json"
TABLE = OUT.parent / "confidentiality_profile_attributes.json"
RANK = {"1": 1, "1C": 1, "2": 2, "2C": 2, "3": 3}


def main() -> None:
    rows = json.loads(TABLE.read_text())
    compound = set()
    for row in rows:
        if "/" in row["basicProfile"] and "X" not in row["tag"] and "G" not in row["tag"]:
            tag = int(row["tag"].strip("()").replace(",", ""), 16)
            keyword = keyword_for_tag(tag)
            if keyword:
                compound.add(keyword)
    modules = get_module_attribute_map()
    iods = get_iod_module_map()
    result: dict[str, dict[str, str]] = {}
    for sop_class, iod in sorted(get_sop_class_iod_map().items()):
        types: dict[str, int] = {}
        for module in iods.get(iod, []):
            for attribute in modules.get(module["key"], []):
                if attribute["keyword"] not in compound:
                    continue
                tag = tag_for_keyword(attribute["keyword"])
                key = "/".join([*attribute["path"], f"{tag:08X}"])
                rank = RANK.get(attribute["type"], 3)
                types[key] = min(rank, types.get(key, 3))
        result[sop_class] = {key: str(rank) for key, rank in sorted(types.items())}
    OUT.write_text(
        json.dumps(
            {
                "source": f"highdicom {version('highdicom')} _standard tables (PS3.3)",
                "generated_by": "scripts/generate_iod_types.py",
                "types": result,
            },
            indent=0,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"{OUT}: {len(result)} SOP classes, {len(compound)} compound attributes")


if __name__ == "__main__":
    main()
