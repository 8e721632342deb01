"""The one stylesheet stays well formed as areas add to it.

Merging several areas' additions into site.css once left an @media block open (every later rule
was silently dropped) and twice gave two areas the same top-level selector with different
properties, so one area's rule restyled the other's pages.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

SITE_CSS = Path(__file__).resolve().parent.parent / "web" / "static" / "css" / "site.css"


def rule_selectors(css: str) -> tuple[Counter, int]:
    """Selectors per enclosing at-rule, and the brace depth left at the end (0 when balanced)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    seen: Counter = Counter()
    stack: list[str] = []
    buffer = ""
    for char in css:
        if char == "{":
            selector = " ".join(buffer.split())
            buffer = ""
            enclosing = stack[-1] if stack and stack[-1].startswith("@") else ""
            if not selector.startswith("@") and len(stack) <= 1:
                seen[(enclosing, selector)] += 1
            stack.append(selector)
        elif char == "}":
            if not stack:
                return seen, -1
            stack.pop()
            buffer = ""
        elif char == ";" and not stack:
            buffer = ""  # a statement at-rule such as @import
        else:
            buffer += char
    return seen, len(stack)


def test_every_block_is_closed():
    _, depth = rule_selectors(SITE_CSS.read_text(encoding="utf-8"))
    assert depth == 0


def test_no_selector_is_defined_twice_in_the_same_context():
    seen, _ = rule_selectors(SITE_CSS.read_text(encoding="utf-8"))
    twice = sorted(
        f"{context or 'top level'}: {selector}" for (context, selector), n in seen.items() if n > 1
    )
    assert twice == []


def test_the_checker_finds_what_it_guards_against():
    seen, depth = rule_selectors(
        ".a { x: 1; }\n@media print { .a { x: 2; }\n.b { y: 1; }\n.a { z: 3; }"
    )
    assert depth == 1
    assert seen[("", ".a")] == 1 and seen[("@media print", ".a")] == 2  # still inside it
    seen, depth = rule_selectors(".a { x: 1; } .b {} .a { z: 3; }")
    assert depth == 0 and seen[("", ".a")] == 2
