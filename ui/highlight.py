"""Entity highlighting as HTML. Every piece of user text goes through
``html.escape``; only our own fixed markup is unescaped."""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable

from services.results import Entity

COLOURS = {
    "PER": "#fde68a", "PERSON": "#fde68a", "ORG": "#bfdbfe", "LOC": "#bbf7d0", "GPE": "#bbf7d0",
    "MISC": "#e9d5ff", "NORP": "#e9d5ff", "DATE": "#fed7aa", "TIME": "#fed7aa", "MONEY": "#fecaca",
    "CARDINAL": "#e5e7eb", "ORDINAL": "#e5e7eb", "PERCENT": "#fecaca", "FAC": "#a7f3d0", "PRODUCT": "#c7d2fe",
    "EVENT": "#fbcfe8", "WORK_OF_ART": "#fbcfe8", "LAW": "#ddd6fe", "LANGUAGE": "#ddd6fe", "QUANTITY": "#e5e7eb",
}
DEFAULT_COLOUR = "#e5e7eb"


ONLY_HERE = "outline:2px dashed #db2777;outline-offset:1px"  # compare mode: a span the other model did not find


def _mark(text: str, label: str, only_here: bool = False) -> str:
    colour = COLOURS.get(label, DEFAULT_COLOUR)
    extra, title = (f";{ONLY_HERE}", ' title="only this model found this entity"') if only_here else ("", "")
    return (
        f'<mark class="{"only-here" if only_here else "entity"}"{title} '
        f'style="background:{colour};padding:0.1em 0.3em;border-radius:0.3em{extra}">{html.escape(text)}'
        f'<span style="font-size:0.7em;font-weight:600;margin-left:0.3em">{html.escape(label)}</span></mark>'
    )


def entity_html(text: str, entities: Iterable[Entity], only_here: Collection[Entity] = ()) -> str:
    """``text`` with non-overlapping entities wrapped in coloured marks; those in ``only_here``
    get a dashed outline (compare mode)."""
    out, cursor = [], 0
    for ent in sorted(entities, key=lambda e: (e.start, -e.end)):
        if ent.start < cursor:  # overlapping span: keep the first
            continue
        out.append(html.escape(text[cursor : ent.start]))
        out.append(_mark(text[ent.start : ent.end], ent.label, ent in only_here))
        cursor = ent.end
    out.append(html.escape(text[cursor:]))
    body = "".join(out).replace("\n", "<br>")
    return f'<div style="line-height:2.2">{body}</div>'


def legend_html(labels: Iterable[str]) -> str:
    """One coloured chip per entity type."""
    chips = [
        f'<span style="background:{COLOURS.get(label, DEFAULT_COLOUR)};padding:0.1em 0.4em;border-radius:0.3em;'
        f'margin-right:0.4em;font-size:0.8em">{html.escape(label)}</span>'
        for label in labels
    ]
    return "".join(chips)


def attribution_html(text: str, words) -> str:
    """``text`` with each word's background on a red (towards NEGATIVE) to green (towards POSITIVE)
    scale by its attribution; the hover shows the value."""
    out, cursor = [], 0
    for word in words:
        out.append(html.escape(text[cursor : word.start]))
        colour = "34,197,94" if word.score > 0 else "239,68,68"
        out.append(f'<span title="{word.score:+.2f}" style="background:rgba({colour},{abs(word.score):.2f});'
                   f'padding:0.05em 0.15em;border-radius:0.2em">{html.escape(text[word.start : word.end])}</span>')
        cursor = word.end
    out.append(html.escape(text[cursor:]))
    return f'<div style="line-height:2">{"".join(out)}</div>'
