"""One router per feature; ROUTERS gives their order (first match wins)."""

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject

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
            for handler in observer.handlers:
                for check in handler.filters or ():
                    run_inline(check)
            copy.observers[name].handlers.extend(observer.handlers)
        copies.append(copy)
    return copies


def run_inline(check: FilterObject) -> None:
    """Make aiogram call a plain (non-async) filter on the event loop, not in a thread.

    aiogram hands every callable that is not a coroutine function to asyncio.to_thread;
    every F.* magic filter is one. An update that walks the routers would hop to a thread
    and back a dozen times for attribute checks of a few microseconds each: more CPU than
    the handler itself. Our filters never block, so they run inline. Idempotent.
    """
    if check.awaitable:
        return
    resolve = check.callback

    async def inline(*args, **kwargs):
        return resolve(*args, **kwargs)

    check.callback = inline
    check.awaitable = True
