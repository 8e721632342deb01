"""Text normalisation run before every model, and the test for "too little Chinese".

`normalize` turns whatever a client sent into the form the models were trained on:

1. a `str` with no lone surrogates (broken clients send them; nothing downstream encodes them);
2. NFKC, which folds full-width Latin letters, digits and punctuation to half-width
   (ＡＢＣ１２３！ -> ABC123!) and compatibility forms to their plain characters;
3. URLs and emoji (pictographs, flags, skin tones, variation selectors, keycaps) replaced by a
   space, so that character n-grams never run across where they were;
4. traditional characters converted to simplified with zhconv (MediaWiki's conversion tables,
   phrase-aware: 軟體 -> 软件). The converter and its tables are loaded only when a text holds a
   character outside GB2312, the simplified national character set, so simplified text (all
   of the board's data) pays one encode and nothing else.

`has_enough_chinese` says whether a normalised text has enough Han characters to be scored:
English-only, emoji-only, digits-only or empty text is neutral and needs review instead.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import unicodedata

log = logging.getLogger(__name__)

# Texts are cut to this many characters before the (linear-time, but not free) steps, and
# `nlp.segment.clean_text` cuts the normalised result to its own MAX_CHARS.
PRE_CUT_CHARS = 20_000

# Fewer Han characters than this: nothing for a Chinese model to read.
MIN_HAN_CHARS = 2
# Han characters per Latin letter below which a text reads as English with a Chinese word
# or two ("the 医院 charged me twice for nothing"): a person should look at it.
MIN_HAN_PER_LATIN_LETTER = 0.25

_URL_RE = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")
_EMOJI_RE = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong/cards, emoticons, pictographs, transport, flags, skin tones
    "\u2300-\u23ff"  # technical symbols used as emoji (⌚ ⏰ ⏳)
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats (☀ ☺ ✅ ❤)
    "\u2b00-\u2bff"  # arrows and stars (⬆ ⭐)
    "\u3030\u303d\u3297\u3299"  # 〰 〽 ㊗ ㊙
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[A-Za-z]")

# Taiwan words that zhconv's zh-cn table leaves as a literal conversion (計程車 -> 计程车):
# the mainland word is what the models know.
REGIONAL_WORDS = {"計程車": "出租车", "計程车": "出租车", "捷運": "地铁"}

_converter_lock = threading.Lock()
_converter = None


def normalize(text: object) -> str:
    """`text` as the models read it: str, NFKC (half-width), no URLs or emoji, simplified.

    Never raises: None is "", other objects go through str(). Leading and trailing
    whitespace is stripped; the result is at most PRE_CUT_CHARS characters.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # a broken __str__ must not lose the ticket
            log.exception("text is not convertible to str; treated as empty")
            return ""
    text = text[:PRE_CUT_CHARS]
    if not text.isascii():
        # Lone surrogates cannot be encoded anywhere downstream.
        text = text.encode("utf-8", "replace").decode("utf-8")
        text = unicodedata.normalize("NFKC", text)
        text = _EMOJI_RE.sub(" ", text)
        text = to_simplified(text)
    if "://" in text or "www." in text:
        text = _URL_RE.sub(" ", text)
    return text.strip()


def to_simplified(text: str) -> str:
    """Traditional characters of `text` as simplified ones (unchanged if already simplified)."""
    try:
        text.encode("gb2312")
        return text  # only simplified characters (and ASCII, common punctuation)
    except UnicodeEncodeError:
        pass
    convert = _zhconv()
    if convert is None:
        return text
    try:
        return convert(text, "zh-cn", REGIONAL_WORDS)
    except Exception:  # a converter bug must not lose the text  # noqa: BLE001
        log.exception("traditional-to-simplified conversion failed; text left as it was")
        return text


def warm_up() -> None:
    """Load the traditional-to-simplified tables now (zhconv, ~40 ms), not on the first
    text in traditional characters; a traditional text also imports the gb2312 codec."""
    _zhconv()
    normalize("預熱")


def _zhconv():
    """zhconv.convert, imported on first need without pkg_resources (see _import_quietly)."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                try:
                    module = _import_quietly("zhconv.zhconv")
                    module.getdict("zh-cn")  # load the tables now, under the lock
                    _converter = module.convert
                except Exception:  # a broken install: keep the text as it is
                    log.exception("zhconv unavailable: traditional characters are kept")
                    _converter = False
    return _converter or None


def _import_quietly(name: str):
    """Import `name` with pkg_resources hidden (0.3 s and a deprecation warning to import).

    zhconv and jieba both fall back to plain `open()` for their bundled files when
    pkg_resources is missing; it is put back afterwards.
    """
    import importlib

    if name in sys.modules:
        return sys.modules[name]
    hidden = "pkg_resources" not in sys.modules
    if hidden:
        sys.modules["pkg_resources"] = None  # makes `import pkg_resources` raise ImportError
    try:
        return importlib.import_module(name)
    finally:
        if hidden:
            del sys.modules["pkg_resources"]


def han_count(text: str) -> int:
    """How many Han characters `text` holds (unified ideographs, extension A, compatibility)."""
    return len(_HAN_RE.findall(text))


def has_enough_chinese(text: str) -> bool:
    """Whether a normalised text has enough Chinese to be routed and scored.

    At least MIN_HAN_CHARS Han characters, and not drowned in Latin letters (at least
    MIN_HAN_PER_LATIN_LETTER Han characters per Latin letter).
    """
    han = han_count(text)
    if han < MIN_HAN_CHARS:
        return False
    if han >= len(text) // 2:
        return True  # mostly Chinese: no need to count the letters
    return han >= MIN_HAN_PER_LATIN_LETTER * len(_LATIN_RE.findall(text))
