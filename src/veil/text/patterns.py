"""Every detector of identifying text by its shape, run together: ``find_patterns``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from veil.text.addresses import find_addresses
from veil.text.contacts import find_emails, find_phones, find_urls
from veil.text.dates import find_dates
from veil.text.names import find_names
from veil.text.national_ids import find_national_ids
from veil.text.record_numbers import find_record_numbers
from veil.text.spans import PatternClass, Span

Detector = Callable[[str], Iterator[Span]]

# Order matters only for the label a span gets when two detectors find the same text: the
# more specific one first (an e-mail holds a URL-like domain, an NHS number a phone shape).
DETECTORS: dict[PatternClass, Detector] = {
    PatternClass.EMAIL: find_emails,
    PatternClass.URL: find_urls,
    PatternClass.NATIONAL_ID: find_national_ids,
    PatternClass.RECORD_NUMBER: find_record_numbers,
    PatternClass.DATE: find_dates,
    PatternClass.PHONE: find_phones,
    PatternClass.STREET_ADDRESS: find_addresses,
    PatternClass.NAME: find_names,
}


def find_patterns(text: str, classes: Iterable[PatternClass] | None = None) -> list[Span]:
    """Every span of ``text`` that looks like identifying text, by class, sorted by start.
    A span inside a longer span found first by another class is left out."""
    if not text or not text.strip():
        return []
    wanted = DETECTORS if classes is None else {c: DETECTORS[c] for c in classes}
    spans: list[Span] = []
    for detector in wanted.values():
        for span in detector(text):
            if span.end > span.start and not any(
                s.start <= span.start and span.end <= s.end for s in spans
            ):
                spans.append(span)
    spans.sort(key=lambda s: (s.start, -s.end))
    return spans
