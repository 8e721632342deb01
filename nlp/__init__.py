"""Pure text functions for Minyi: segment, route, score sentiment, keywords, hot issues.

`analyze(text)` and `analyze_many(texts)` (see `nlp.pipeline`) are the public entry points,
`warm_up()` loads at start what they would load on first need; they are imported lazily so
that `import nlp.segment` stays light.
"""

__all__ = ["Analysis", "analyze", "analyze_many", "warm_up"]


def __getattr__(name):
    if name in __all__:
        from nlp import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'nlp' has no attribute {name!r}")
