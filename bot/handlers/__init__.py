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


def fresh_router(routers: tuple[Router, ...] = ROUTERS) -> Router:
    """One router for a dispatcher, holding every feature's handlers in ROUTERS order.

    The feature routers have no filters or middlewares of their own, so one router with their
    handlers in the same order answers every update exactly as the nine of them would: the
    first handler whose filters pass, in the same sequence. aiogram walks each router an
    update passes (wrapping middlewares, copying the handler data, checking root filters), and
    an update of a complaint walked eight of them before its handler. aiogram also attaches a
    router to a single parent, and tests, the benchmark and a restart in the same process
    build several dispatchers: each gets a router of its own holding the same handlers.
    """
    merged = Router(name="minyi")
    for router in routers:
        for name, observer in router.observers.items():
            if observer.middleware or observer.outer_middleware or observer._handler.filters:
                raise ValueError(f"router {router.name} has {name} filters or middlewares")
            for handler in observer.handlers:
                for check in handler.filters or ():
                    run_inline(check)
            merged.observers[name].handlers.extend(observer.handlers)
    return merged


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
