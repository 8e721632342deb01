"""Who does something: a staff user, a citizen or the system; each event records one."""

from __future__ import annotations

from dataclasses import dataclass, field

from minyi.errors import PermissionDenied
from minyi.models import Citizen, Role, StaffUser


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, citizen, system
    label: str
    staff_user_id: int | None = None
    role: Role | None = None
    department_id: int | None = None
    citizen_id: int | None = None
    # What a system actor may do, listed one by one (see minyi.services.permissions).
    powers: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def staff(cls, user: StaffUser) -> Actor:
        """The actor for a staff account; a deactivated account may do nothing."""
        if not user.active:
            raise PermissionDenied(
                "该工作人员账号已停用", f"staff account {user.username} is inactive"
            )
        return cls("staff", f"staff:{user.username}", user.id, user.role, user.department_id)

    @classmethod
    def citizen(cls, citizen: Citizen) -> Actor:
        return cls("citizen", f"citizen:{citizen.id}", citizen_id=citizen.id)

    @classmethod
    def system(cls, name: str, *powers: str) -> Actor:
        """A process acting on its own (the router, the importer, a job) with listed powers."""
        return cls("system", f"system:{name}", powers=frozenset(powers))

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and self.role == Role.ADMIN
