"""Who may do what: every permission rule of the service layer, in one table.

Services call `require(actor, action, ...)` before they change anything; adapters may call
`allowed(...)` to decide which buttons to show. A system actor may do only what its listed
powers name: it is never an admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from minyi.errors import PermissionDenied
from minyi.models import Role
from minyi.services.actors import Actor

ADMIN, ANALYST, OFFICER = Role.ADMIN, Role.ANALYST, Role.OFFICER


@dataclass(frozen=True)
class Rule:
    what_zh: str
    what_en: str
    roles: frozenset[Role] = frozenset()
    # The citizen who filed (or gave) the object may do it through their own channel.
    owner_citizen: bool = False


# Officers are always limited to their own department; admins and analysts see all of them.
RULES: dict[str, Rule] = {
    "ticket.view": Rule(
        "查看工单", "view this ticket", frozenset({ADMIN, ANALYST, OFFICER}), True
    ),
    "ticket.assign": Rule(
        "从待分拣队列派单", "route tickets out of triage", frozenset({ADMIN, ANALYST})
    ),
    "ticket.reassign": Rule("改派工单", "reassign this ticket", frozenset({ADMIN, OFFICER})),
    "ticket.start": Rule("受理工单", "accept this ticket", frozenset({ADMIN, OFFICER})),
    "ticket.reply": Rule("答复工单", "reply to this ticket", frozenset({ADMIN, OFFICER})),
    "ticket.close": Rule("办结工单", "close this ticket", frozenset({ADMIN, OFFICER})),
    "ticket.request_extension": Rule(
        "申请延期", "ask for an extension", frozenset({ADMIN, OFFICER})
    ),
    "ticket.decide_extension": Rule("审批延期", "decide extensions", frozenset({ADMIN})),
    "ticket.choose_department": Rule("更换承办部门", "choose the department", owner_citizen=True),
    "ticket.verdict": Rule("回访评价", "answer the call-back", owner_citizen=True),
    "ticket.handle_escalation": Rule("处理升级工单", "handle escalations", frozenset({ADMIN})),
    "follow_up.view": Rule(
        "查看差评整改", "view 差评 follow-ups", frozenset({ADMIN, ANALYST, OFFICER})
    ),
    # Each step of the loop: verification, rectification and the answer to the citizen.
    "follow_up.complete": Rule(
        "整改反馈差评", "complete this follow-up", frozenset({ADMIN, OFFICER})
    ),
    "rating.appeal": Rule("申诉评价", "appeal this rating", frozenset({ADMIN, OFFICER})),
    "rating.decide_appeal": Rule("审核申诉", "decide appeals", frozenset({ADMIN})),
    # Praise (表扬) citizens filed: an officer reads the praise of their own department.
    "praise.view": Rule("查看表扬", "read praise", frozenset({ADMIN, ANALYST, OFFICER})),
    "indicators.view": Rule(
        "查看部门指标", "view this department's indicators", frozenset({ADMIN, ANALYST, OFFICER})
    ),
    "indicators.view_county": Rule(
        "查看全县各部门指标", "view every department's indicators", frozenset({ADMIN, ANALYST})
    ),
    "staff.manage": Rule("管理工作人员账号", "manage staff accounts", frozenset({ADMIN})),
    "catalog.manage": Rule(
        "管理部门、服务事项和服务网点",
        "manage departments, services and outlets",
        frozenset({ADMIN}),
    ),
    "audit.view": Rule("查看审计日志", "read the audit log", frozenset({ADMIN})),
    # The county's corrections and rated comments, read to retrain the nlp models.
    "nlp.retrain": Rule("用本县数据重新训练模型", "retrain the nlp models", frozenset({ADMIN})),
    # Surveys: analysts and admins design them, run their rounds and read every result; an
    # officer reads the results of the questions tied to their own department, nothing else.
    "survey.manage": Rule(
        "设计和管理问卷", "design surveys and run their rounds", frozenset({ADMIN, ANALYST})
    ),
    "survey.results": Rule(
        "查看问卷结果", "read survey results", frozenset({ADMIN, ANALYST, OFFICER})
    ),
    "survey.export": Rule("导出问卷答卷", "export survey responses", frozenset({ADMIN, ANALYST})),
}


def allowed(
    actor: Actor, action: str, *, department_id: int | None = None, citizen_id: int | None = None
) -> bool:
    """Whether `actor` may do `action` on an object of `department_id` filed by `citizen_id`."""
    try:
        require(actor, action, department_id=department_id, citizen_id=citizen_id)
    except PermissionDenied:
        return False
    return True


def require(
    actor: Actor, action: str, *, department_id: int | None = None, citizen_id: int | None = None
) -> None:
    """Raise PermissionDenied unless `actor` may do `action`."""
    rule = RULES[action]
    if not isinstance(actor, Actor):
        raise PermissionDenied("缺少操作人", "no actor given")
    if actor.kind == "system":
        if action in actor.powers:
            return
    elif actor.kind == "citizen":
        if rule.owner_citizen and citizen_id is not None and actor.citizen_id == citizen_id:
            return
        if rule.owner_citizen:
            raise PermissionDenied(
                f"只能对本人提交的事项{rule.what_zh}",
                f"citizens may only {rule.what_en} for what they submitted themselves",
            )
    elif actor.kind == "staff" and actor.role in rule.roles:
        if actor.role != OFFICER or (
            department_id is not None and actor.department_id == department_id
        ):
            return
        raise PermissionDenied(
            f"只能处理本部门的事项，不能{rule.what_zh}",
            f"officers act on their own department only: cannot {rule.what_en}",
        )
    raise PermissionDenied(f"无权{rule.what_zh}", f"{actor.label} may not {rule.what_en}")
