"""Chinese word segmentation shared by every nlp function: jieba with a civic user dictionary."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import resources

log = logging.getLogger(__name__)

# Longest text we segment: a 100,000-character letter must not stall a request, and the
# first few thousand characters carry what routing and sentiment need.
MAX_CHARS = 5000

_init_lock = threading.Lock()
_tokenizer = None

_WORD_RE = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def clean_text(text: object) -> str:
    """Return `text` as a normalised str safe to segment (no lone surrogates, NFKC, trimmed)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    # Lone surrogates (from broken clients) cannot be encoded anywhere downstream.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFKC", text)
    return text.strip()[:MAX_CHARS]


def _read_lines(name: str) -> list[str]:
    data = resources.files("nlp").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#")]


def _import_jieba():
    """Import jieba without letting it import pkg_resources (0.3 s and a deprecation warning).

    jieba falls back to plain `open()` for its bundled files when pkg_resources is missing, so
    we hide it only for the duration of the import and put everything back afterwards.
    """
    import sys

    if "jieba" in sys.modules:
        return sys.modules["jieba"]
    hidden = "pkg_resources" not in sys.modules
    if hidden:
        sys.modules["pkg_resources"] = None  # makes `import pkg_resources` raise ImportError
    try:
        import jieba
    finally:
        if hidden:
            del sys.modules["pkg_resources"]
    return jieba


def tokenizer():
    """The jieba Tokenizer with the civic dictionary, built once on first use (thread-safe)."""
    global _tokenizer
    if _tokenizer is None:
        with _init_lock:
            if _tokenizer is None:
                jieba = _import_jieba()
                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                tk.initialize()
                for line in _read_lines("userdict.txt"):
                    parts = line.split()
                    freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                    tk.add_word(parts[0], freq)
                _tokenizer = tk
    return _tokenizer


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Civic stop words: function words plus board boilerplate (您好, 请问, 谢谢…)."""
    return frozenset(_read_lines("stopwords.txt"))


def segment(text: object) -> list[str]:
    """All tokens of `text` in order, whitespace dropped."""
    cleaned = clean_text(text)
    if not cleaned:
        return []
    return [t for t in tokenizer().lcut(cleaned) if t.strip()]


def content_words(tokens: list[str]) -> list[str]:
    """Tokens that carry meaning: not stop words, not punctuation or digits, not one CJK char."""
    stop = stopwords()
    return [
        t
        for t in tokens
        if t not in stop and _WORD_RE.search(t) and (len(t) > 1 or t.isascii())
    ]
