"""What every staff view shares: the blueprint, the signed-in account, forms, the menu.

A staff page module (web/staff/<area>.py) registers its routes on `bp`, declares its menu
entry with `nav_item(...)`, and is imported by web/staff/__init__.py. The blueprint's one
`before_request` guard (web/staff/auth.py) has already made sure someone is signed in, so a
view only decides *what* this account may do, through the service layer's permission table:
a service raises PermissionDenied (403 page) or NotFound (404 page, also for another
department's object), ValidationFailed is shown on the form with what was typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, request
from flask_login import current_user
from flask_wtf import FlaskForm

from minyi.errors import MinyiError, NotFound, PermissionDenied
from minyi.models import Role
from minyi.services.actors import Actor

bp = Blueprint("staff", __name__, url_prefix="/staff")

ROLE_NAMES = {
    Role.ADMIN: ("管理员", "Administrator"),
    Role.ANALYST: ("分析员", "Analyst"),
    Role.OFFICER: ("部门工作人员", "Department officer"),
}


@dataclass(frozen=True)
class StaffPrincipal:
    """The signed-in account as the web layer keeps it for one request (no ORM object)."""

    id: int
    username: str
    display_name: str
    role: Role
    department_id: int | None
    department_name: str | None
    # Part of the session's id: changing the password signs every other session out.
    password_stamp: str

    # Flask-Login's user protocol.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.password_stamp}"

    @property
    def actor(self) -> Actor:
        return Actor(
            "staff", f"staff:{self.username}", self.id, self.role, self.department_id
        )

    @property
    def role_name(self) -> tuple[str, str]:
        return ROLE_NAMES[self.role]


def staff_user() -> StaffPrincipal:
    """The signed-in account of this request (the guard guarantees there is one)."""
    return current_user._get_current_object()


def staff_actor() -> Actor:
    """The signed-in account as the actor that service functions record and check."""
    return staff_user().actor


class StaffForm(FlaskForm):
    """Base of every staff form: CSRF only; values are checked by the service layer."""


def csrf_ok(form: FlaskForm | None = None) -> bool:
    """Whether the posted CSRF token is valid (Flask-WTF); a forged one changes nothing."""
    return (form or StaffForm()).validate_on_submit()


CSRF_ERROR = (
    "页面已过期或来源无法验证，未做任何修改，请重试。",
    "The page expired or its origin could not be verified; nothing was changed. Try again.",
)


def error_pair(exc: MinyiError) -> tuple[str, str]:
    """A service refusal as the (zh, en) pair the templates' error box shows."""
    return exc.message_zh, exc.message_en


@dataclass(frozen=True)
class FilteredListing:
    """One page of a filtered staff list, or the refusal of its filters."""

    typed: dict[str, str]  # what was typed, shown back in the filter form
    page: object | None  # the service's Page; None when the filters were refused
    error: tuple[str, str] | None
    pager_args: dict[str, str]  # the filters that were set, kept by the pager's links


def filtered_listing(filter_keys, check_filter, list_page) -> FilteredListing:
    """The query string's filters checked by the service (`check_filter(**typed)`), then
    `list_page(filters, page_number)`. A refused filter is a message on the page with what was
    typed kept; NotFound and PermissionDenied (another department's) stay 404 and 403."""
    typed = {key: request.args.get(key, "") for key in filter_keys}
    page = error = None
    try:
        page = list_page(check_filter(**typed), request.args.get("page"))
    except (NotFound, PermissionDenied):
        raise
    except MinyiError as exc:
        error = error_pair(exc)
    return FilteredListing(typed, page, error, {k: v for k, v in typed.items() if v})


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    zh: str
    en: str
    roles: frozenset[Role]
    order: int


NAV: list[NavItem] = []


def nav_item(endpoint: str, zh: str, en: str, *, roles=tuple(Role), order: int = 50) -> None:
    """Put a page in the staff menu, for the roles that may open it."""
    NAV[:] = [item for item in NAV if item.endpoint != endpoint]
    NAV.append(NavItem(endpoint, zh, en, frozenset(roles), order))
    NAV.sort(key=lambda item: (item.order, item.endpoint))


def menu_for(user: StaffPrincipal | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAV if user.role in item.roles]


@bp.app_template_filter("local_time")
def local_time(moment) -> str:
    """An aware UTC moment as the county's local "YYYY-MM-DD HH:MM" (staff pages)."""
    if moment is None:
        return "—"
    timezone = ZoneInfo(current_app.extensions["minyi"]["settings"].calendar.timezone)
    return moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def _staff_globals() -> dict:
    user = g.get("staff_user")
    return {
        "staff_user": user,
        "staff_menu": menu_for(user),
        "role_names": ROLE_NAMES,
        # A link is drawn only when its page exists (no dead links while areas are added).
        "has_page": lambda endpoint: endpoint in current_app.view_functions,
    }
