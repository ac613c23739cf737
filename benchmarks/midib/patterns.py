"""Measure veil.text's pattern classes: recall on planted identifiers, hits on real scanner
text (the corpus's free text, where a hit is a false positive or a real leftover), cost per
call, and the libraries considered instead of hand-written expressions.

    python benchmarks/midib/patterns.py [--corpus ../shared/corpus] [--write]

Positives: every planted shape of benchmarks/midib/people.py (five patients, five scripts)
plus written variants (upper case, other orders). Negatives: the text of every free-text
element of every corpus file (descriptions, comments, protocol names, code meanings,
private text), as the audit scans them. Nothing identifying is printed: counts and the
keywords of the elements only.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from people import PATIENTS

from veil.audit.heuristics import PRIVATE_CLASSES, is_free_text
from veil.audit.text_search import text_elements
from veil.text import PatternClass, clean_text, find_patterns

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
BEGIN = "<!-- BEGIN GENERATED (benchmarks/midib/patterns.py) -->"
END = "<!-- END GENERATED (benchmarks/midib/patterns.py) -->"


def positives() -> list[tuple[PatternClass, str, str]]:
    """(class, text, the identifying part) for every planted shape."""
    out: list[tuple[PatternClass, str, str]] = []
    for p in PATIENTS:
        ref = p.referring.family
        out += [
            (PatternClass.PHONE, f"Call {p.phone} after 5pm", p.phone),
            (PatternClass.PHONE, f"Tel. {p.phone}", p.phone),
            (PatternClass.EMAIL, f"contact {p.email}", p.email),
            (PatternClass.EMAIL, f"mail: {p.email.upper()}", p.email.upper()),
            (
                PatternClass.URL,
                f"Report at https://portal.example.org/r/{p.id_digits}",
                f"https://portal.example.org/r/{p.id_digits}",
            ),
            (PatternClass.NATIONAL_ID, f"{p.national_label} {p.national_id}", p.national_id),
            (PatternClass.STREET_ADDRESS, f"lives at {p.address}", p.address.split(",")[0]),
            (PatternClass.RECORD_NUMBER, f"MRN {p.id_digits} follow-up", p.id_digits),
            (PatternClass.RECORD_NUMBER, f"Patient ID: {p.other_id}", p.other_id),
            (
                PatternClass.DATE,
                f"born {p.birth_date[6:]}/{p.birth_date[4:6]}/{p.birth_date[:4]}",
                f"{p.birth_date[6:]}/{p.birth_date[4:6]}/{p.birth_date[:4]}",
            ),
            (
                PatternClass.DATE,
                f"seen {p.study_dates[0][:4]}-{p.study_dates[0][4:6]}-{p.study_dates[0][6:]}",
                f"{p.study_dates[0][:4]}-{p.study_dates[0][4:6]}-{p.study_dates[0][6:]}",
            ),
        ]
        if p.key in ("P1", "P2"):
            out += [
                (PatternClass.NAME, f"MR BRAIN per Dr. {ref}", ref),
                (PatternClass.NAME, f"Seen by DR. {ref.upper()}", ref.upper()),
                (PatternClass.NAME, f"Read by {ref}, MD", ref),
            ]
        else:
            honorific = {"P3": "先生", "P4": "医生", "P5": " 선생님"}[p.key]
            out.append((PatternClass.NAME, f"MR BRAIN {ref}{honorific}", ref))
    return out


def _covered(text: str, part: str, spans: list[tuple[int, int]]) -> bool:
    mask = [False] * len(text)
    for start, end in spans:
        for i in range(start, end):
            mask[i] = True
    at = text.find(part)
    return at >= 0 and all(mask[at : at + len(part)])


def recall() -> dict[PatternClass, tuple[int, int]]:
    found: dict[PatternClass, list[bool]] = defaultdict(list)
    for cls, text, part in positives():
        # Found when the identifying part is cut out: by its class or by another that saw it
        # first (a personnummer after "Patient ID:" is a national ID and a record number).
        spans = [(s.start, s.end) for s in find_patterns(text)]
        found[cls].append(_covered(text, part, spans))
    return {cls: (sum(v), len(v)) for cls, v in found.items()}


def negatives(corpus: Path) -> list[tuple[str, str]]:
    """(keyword, text) of every free-text element of every corpus file."""
    out = []
    for path in sorted(corpus.rglob("*")):
        if (
            not path.is_file()
            or "reference" in path.parts
            or path.suffix in (".json", ".nii", ".gz", ".md", ".tsv")
        ):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                for element in text_elements(ds):
                    if is_free_text(element):
                        keyword = pydicom.datadict.keyword_for_tag(element.tag) or (
                            "private" if element.private else "unknown"
                        )
                        out.append((keyword, element.text))
        except Exception:
            continue
    return out


def usaddress_false_positives(texts: list[str]) -> tuple[int, int]:
    """(texts usaddress labels a street address, addresses among the planted) for comparison."""
    import usaddress

    def is_address(text: str) -> bool:
        try:
            tags, kind = usaddress.tag(text)
        except Exception:
            return False
        return kind == "Street Address" and "AddressNumber" in tags and "StreetName" in tags

    planted = [text for cls, text, _ in positives() if cls is PatternClass.STREET_ADDRESS]
    return sum(is_address(t) for t in texts), sum(is_address(t) for t in planted)


def philter_lite_status() -> str:
    try:
        from importlib.resources import files

        from philter_lite import detect_phi, load_filters

        filters = load_filters(str(files("philter_lite") / "configs" / "philter_delta.toml"))
        detect_phi("Seen by Dr. Smith", filters)
    except ImportError:
        return "not installed"
    except LookupError:
        return (
            "fails offline: needs NLTK's averaged_perceptron_tagger data, which no registry ships"
        )
    return "runs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    args = parser.parse_args()
    rec = recall()
    texts = negatives(args.corpus)
    hits: dict[PatternClass, Counter[str]] = defaultdict(Counter)
    audit_hits: Counter[PatternClass] = Counter()
    start = time.process_time()
    for keyword, text in texts:
        for span in find_patterns(text):
            assert span.pattern is not None
            hits[span.pattern][keyword] += 1
            if keyword != "private" or span.pattern in PRIVATE_CLASSES:
                audit_hits[span.pattern] += 1
    scan_cpu = time.process_time() - start
    start = time.process_time()
    for _, text in texts:
        clean_text(text)
    clean_cpu = time.process_time() - start
    distinct = len({t for _, t in texts})
    ua_fp, ua_recall = usaddress_false_positives(sorted({t for _, t in texts}))
    planted_addresses = sum(1 for c, *_ in positives() if c is PatternClass.STREET_ADDRESS)
    lines = [
        BEGIN,
        f"`python benchmarks/midib/patterns.py`: {sum(n for _, n in rec.values())} planted "
        f"shapes; negatives: {len(texts)} free-text values ({distinct} distinct) of the corpus's "
        "992 files, scanned as the audit scans them.",
        "",
        "| pattern class | recall on planted | hits on corpus free text (elements) | of them "
        "in what the audit scans |",
        "|---|---|---|---|",
    ]
    for cls in PatternClass:
        got, total = rec.get(cls, (0, 0))
        where = ", ".join(f"{k} {v}" for k, v in hits[cls].most_common(4)) or "none"
        lines.append(
            f"| {cls.value} | {got}/{total} | {sum(hits[cls].values())} ({where}) | "
            f"{audit_hits[cls]} |"
        )
    lines += [
        "",
        f"- Cost: find_patterns {1e6 * scan_cpu / max(1, len(texts)):.0f} µs, clean_text "
        f"{1e6 * clean_cpu / max(1, len(texts)):.0f} µs of CPU per free-text value (mean).",
        f"- usaddress as the address detector instead: {ua_fp} of {distinct} distinct corpus "
        f"texts labelled a street address (false positives), {ua_recall}/{planted_addresses} "
        "planted addresses found (it parses US addresses only).",
        f"- philter-lite: {philter_lite_status()}.",
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        current = RESULTS.read_text(encoding="utf-8")
        if BEGIN in current:
            head, rest = current.split(BEGIN, 1)
            current = head + text + rest.split(END, 1)[1]
        else:
            current = (
                current.rstrip() + "\n\n### Pattern classes of identifying text\n\n" + text + "\n"
            )
        RESULTS.write_text(current, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
