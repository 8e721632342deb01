"""Who does something: a staff user, a citizen or the system; each event records one."""

from __future__ import annotations

from dataclasses import dataclass

from minyi.models import Citizen, Role, StaffUser


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, citizen, system
    label: str
    staff_user_id: int | None = None
    role: Role | None = None
    department_id: int | None = None
    citizen_id: int | None = None

    @classmethod
    def staff(cls, user: StaffUser) -> Actor:
        return cls("staff", f"staff:{user.username}", user.id, user.role, user.department_id)

    @classmethod
    def citizen(cls, citizen: Citizen) -> Actor:
        return cls("citizen", f"citizen:{citizen.id}", citizen_id=citizen.id)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", f"system:{name}")

    @property
    def is_admin(self) -> bool:
        return self.kind == "system" or self.role == Role.ADMIN
