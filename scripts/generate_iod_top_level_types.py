"""Generate src/veil/standard/data/iod_top_level_types.json from highdicom's PS3.3 tables.

For the console's attribute autocomplete: the type (1, 1C, 2, 2C, 3) of every top-level
attribute of every module, and the modules of each SOP class's IOD with their usage (M
mandatory, C conditional, U user option). `veil.standard.iod_attribute_type` reads it.
(`iod_attribute_types.json`, which the engine reads, covers compound-action attributes at every
nesting level; this one covers every attribute, top level only.)

Run: python scripts/generate_iod_top_level_types.py   (needs highdicom, a test dependency)
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
from pydicom.datadict import tag_for_keyword

OUT = Path(__file__).resolve().parents[1] / "src/veil/standard/data/iod_top_level_types.json"


def main() -> None:
    iods = get_iod_module_map()
    sop_classes = get_sop_class_iod_map()
    used = {m["key"] for iod in set(sop_classes.values()) for m in iods.get(iod, [])}
    modules: dict[str, dict[str, str]] = {}
    for key, attributes in sorted(get_module_attribute_map().items()):
        if key not in used:
            continue
        top = {}
        for attribute in attributes:
            tag = tag_for_keyword(attribute["keyword"])
            if attribute["path"] or tag is None:
                continue
            top[f"{tag:08X}"] = attribute["type"]
        modules[key] = top
    data = {
        "source": f"highdicom {version('highdicom')} _standard tables (PS3.3)",
        "generated_by": "scripts/generate_iod_top_level_types.py",
        "modules": modules,
        "iods": {
            sop: [[m["key"], m["usage"]] for m in iods.get(iod, [])]
            for sop, iod in sorted(sop_classes.items())
        },
    }
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{OUT}: {len(data['iods'])} SOP classes, {len(modules)} modules")


if __name__ == "__main__":
    main()
