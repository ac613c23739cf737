"""One definition: every form the audit searches an output for is a form the cleaner removes.

For each value (names in several scripts, IDs with prefixes and zeros, dates), each of its
forms is written into a description; after ``clean_text`` none of the value's forms is left,
and the description's other words are."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.text import IdentifyingValue, Style, TextContext, clean_text, forms_of

VALUES = [
    (Style.NAME, "HARTLEY^EVELYN^MARIE"),
    (Style.NAME, "Brännström^Åsa"),
    (Style.NAME, "Yamada^Tarou=山田^太郎=やまだ^たろう"),
    (Style.NAME, "Wang^Xiaoming=王^小明"),
    (Style.NAME, "Hong^Gildong=洪^吉洞=홍^길동"),
    (Style.ID, "MRN-0055120394"),
    (Style.ID, "0004711"),
    (Style.ID, "ACC-123-456"),
    (Style.DATE, "19610423"),
    (Style.PLAIN, "St. Vincent Infirmary"),
]


@pytest.mark.parametrize(("style", "value"), VALUES, ids=[v for _, v in VALUES])
def test_every_form_the_audit_searches_is_removed(style: Style, value: str) -> None:
    context = TextContext.of([IdentifyingValue(style, value)])
    forms = forms_of(style, value)
    assert forms
    for form in forms:
        text = f"BRAIN MRI {form.text} follow-up"
        cleaned = clean_text(text, context)
        assert context.find(cleaned) == [], form.label
        assert "BRAIN MRI" in cleaned and "follow-up" in cleaned, form.label
        upper = clean_text(text.upper(), context)  # case-insensitive, like the audit
        assert context.find(upper) == [], form.label


_NAME_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüé", min_size=4, max_size=10)


@settings(max_examples=60, deadline=None)
@given(family=_NAME_PART, given_name=_NAME_PART, digits=st.integers(100000, 99999999))
def test_random_names_and_ids_never_survive_cleaning(
    family: str, given_name: str, digits: int
) -> None:
    name = f"{family.capitalize()}^{given_name.capitalize()}"
    patient_id = f"PAT-{digits:010d}"
    context = TextContext.of(
        [IdentifyingValue(Style.NAME, name), IdentifyingValue(Style.ID, patient_id)]
    )
    text = (
        f"{given_name.upper()} {family.upper()} / {family.capitalize()}, "
        f"{given_name[0].upper()}. / record {digits} / {patient_id}"
    )
    cleaned = clean_text(text, context)
    assert context.find(cleaned) == []
    assert family.lower() not in cleaned.lower()
    assert str(digits) not in cleaned
