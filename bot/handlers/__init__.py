"""One router per feature; ROUTERS gives their order (first match wins)."""

from aiogram import Router

from bot.handlers import (
    complaint,
    fallback,
    guards,
    language,
    rating,
    start,
    survey,
    tickets,
    verdict,
)

# Guards first (forwarded messages), commands of every feature before the free-text steps of
# the flows, the catch-all answers for anything else last.
ROUTERS = (
    guards.router,
    start.router,
    language.router,
    rating.router,
    complaint.router,
    tickets.router,
    verdict.router,
    survey.router,
    fallback.router,
)


def fresh_routers() -> list[Router]:
    """Copies of ROUTERS for one dispatcher.

    aiogram attaches a router to a single parent; tests, the benchmark and a restart in the
    same process build several dispatchers, so each gets routers holding the same handlers.
    """
    copies = []
    for router in ROUTERS:
        copy = Router(name=router.name)
        for name, observer in router.observers.items():
            copy.observers[name].handlers.extend(observer.handlers)
        copies.append(copy)
    return copies
