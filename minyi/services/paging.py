"""One page of a long list: the rows, which page, how many pages and rows in all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int  # 1-based
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def page_number(value: object) -> int:
    """A page number from a query string: anything that is not a positive integer is page 1."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, value)
    # isdigit() alone also takes "²", which int() refuses: only ASCII digits are a number here.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return max(1, min(int(value.strip()), 1_000_000))
    return 1


def paginate(
    session: Session, query: Select, *, page: object = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page:
    """Page `page` of `query` (ordered by the caller), with the total count of its rows."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    number = min(page_number(page), max(1, -(-(total or 0) // per_page)))
    items = list(session.scalars(query.limit(per_page).offset((number - 1) * per_page)))
    return Page(items=items, number=number, per_page=per_page, total=total or 0)
