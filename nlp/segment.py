"""Chinese word segmentation shared by every nlp function: jieba with a civic user dictionary.

`segment` and `segment_cleaned` cut with `nlp.array_segment` (jieba's default cut computed as
array operations over a batch, from arrays cached on disk); `tokenizer()` is the jieba
Tokenizer those arrays are built from, and cuts one text exactly the same way.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from itertools import compress
from pathlib import Path

import numpy as np

from nlp.cache import cache_folder
from nlp.normalize import normalize
from nlp.normalize import warm_up as warm_up_normalize

log = logging.getLogger(__name__)

# Longest text we segment: a 100,000-character letter must not stall a request, and the
# first few thousand characters carry what routing and sentiment need.
MAX_CHARS = 5000

_init_lock = threading.Lock()
_tokenizer = None
_arrays_lock = threading.Lock()
_arrays = None
_MISSING = object()

_WORD_RE = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def clean_text(text: object) -> str:
    """`text` normalised for the models (`nlp.normalize.normalize`) and cut to MAX_CHARS.

    Safe to segment: a str with no lone surrogates, half-width, no URLs or emoji, simplified.
    """
    return normalize(text)[:MAX_CHARS]


def _read_lines(name: str) -> list[str]:
    data = resources.files("nlp").joinpath("data", name).read_text(encoding="utf-8")
    return [
        line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#")
    ]


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


def _prefix_cache_path(jieba) -> Path:
    folder = cache_folder()
    size = (Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME).stat().st_size
    return folder / f"minyi-jieba-{jieba.__version__}-{size}.npz"


def _load_prefix_dict(tk, jieba) -> None:
    """Initialise `tk` with jieba's default prefix dictionary, from our own cache when present.

    jieba's own cache is a marshal dump that takes ~0.6 s to load; the same 500k entries as one
    newline-joined string plus an integer array load about three times faster. The cache is
    rebuilt (atomically) from jieba's normal initialisation when missing or unreadable.
    """
    try:
        path = _prefix_cache_path(jieba)
    except (OSError, AttributeError, TypeError):  # jieba's layout changed: its own init only
        tk.initialize()
        return
    try:
        with np.load(path, allow_pickle=False) as npz:
            words = npz["words"].tobytes().decode("utf-8").split("\n")
            freq = dict(zip(words, npz["freqs"].tolist(), strict=True))
            total = int(npz["total"])
        tk.FREQ, tk.total, tk.initialized = freq, total, True
        return
    except (OSError, ValueError, KeyError, EOFError):
        pass
    tk.initialize()
    _write_prefix_cache(path, tk)


def _write_prefix_cache(path: Path, tk) -> None:
    tmp = None
    try:
        words = list(tk.FREQ)
        blob = "\n".join(words).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                words=np.frombuffer(blob, dtype=np.uint8),
                freqs=np.fromiter(tk.FREQ.values(), dtype=np.int64, count=len(words)),
                total=np.int64(tk.total),
            )
        os.replace(tmp, path)
    except OSError as exc:  # a read-only temp dir only costs start-up time
        log.info("jieba prefix cache not written: %s", exc)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _fused_tokenizer_class(jieba):
    """jieba's Tokenizer with its default-mode route search fused into one pass.

    jieba builds a DAG of dictionary words (get_DAG), then picks the most probable route
    (calc, a max over generated tuples), then walks it. Doing both in one loop over plain lists
    gives exactly the same tokens (same float operations, same tie-break: the longer word) in
    about two thirds of the time; the walk and the HMM for unknown words are jieba's own.
    Each word's log probability is computed once and kept (the dictionary is fixed after
    start-up; a change to it resets them), and `tokens` cuts a text into a list without
    jieba's generators.
    """
    han_re = jieba.re_han_default

    class FusedTokenizer(jieba.Tokenizer):
        _logp: dict[str, float | None] | None = None
        _logp_for: tuple | None = None

        def add_word(self, word, freq=None, tag=None):
            super().add_word(word, freq, tag)
            self._logp = None  # a frequency (or the total) changed

        def tokens(self, sentence: str) -> list[str]:
            """`[t for t in self.lcut(sentence) if t.strip()]`, built without generators."""
            out: list[str] = []
            blocks = han_re.split(sentence)
            # re.split with a capturing group alternates: other text, a block of word
            # characters, other text, … Other text is cut into single characters, of which
            # jieba's whitespace tokens are dropped.
            for i, blk in enumerate(blocks):
                if not blk:
                    continue
                if i % 2:
                    self._cut_block(blk, out)
                else:
                    out += [ch for ch in blk if not ch.isspace()]
            return out

        def _Tokenizer__cut_DAG(self, sentence):  # overrides jieba's private method
            out: list[str] = []
            self._cut_block(sentence, out)
            yield from out

        def _log_probabilities(self) -> dict[str, float | None]:
            # log(freq) - log(total) of each dictionary word met so far (None: a prefix only),
            # computed once per word; reset when the dictionary changes.
            key = (id(self.FREQ), self.total)
            if self._logp is None or self._logp_for != key:
                self._logp, self._logp_for = {}, key
            return self._logp

        def _cut_block(self, sentence: str, out: list[str]) -> None:
            freq = self.FREQ
            n = len(sentence)
            logtotal = math.log(self.total)
            log = math.log
            logp = self._log_probabilities()
            logp_get = logp.get
            freq_get = freq.get
            missing = _MISSING
            route_p = [0.0] * (n + 1)
            route_x = [0] * (n + 1)
            for idx in range(n - 1, -1, -1):
                best_p = None
                best_x = idx
                i = idx
                frag = sentence[idx]
                while i < n:
                    lp = logp_get(frag, missing)
                    if lp is missing:
                        f = freq_get(frag)
                        if f is None:
                            break
                        # Same float operations as jieba: log(f) - logtotal + route_p[i + 1].
                        lp = logp[frag] = (log(f) - logtotal) if f else None
                    if lp is not None:
                        p = lp + route_p[i + 1]
                        if best_p is None or p >= best_p:  # ties go to the longer word
                            best_p, best_x = p, i
                    i += 1
                    frag = sentence[idx : i + 1]
                if best_p is None:
                    best_p = log(freq_get(sentence[idx]) or 1) - logtotal + route_p[idx + 1]
                route_p[idx] = best_p
                route_x[idx] = best_x
            x = 0
            buf = ""
            append = out.append
            while x < n:
                y = route_x[x] + 1
                if y - x == 1:
                    buf += sentence[x]
                else:
                    if buf:
                        self._flush(buf, out)
                        buf = ""
                    append(sentence[x:y])
                x = y
            if buf:
                self._flush(buf, out)

        def _flush(self, buf: str, out: list[str]) -> None:
            if len(buf) == 1:
                out.append(buf)
            elif not self.FREQ.get(buf):
                out += hmm_cut(buf)
            else:
                out += buf

    return FusedTokenizer


def _hmm_tables():
    finalseg = _import_jieba().finalseg

    low = finalseg.MIN_FLOAT
    t = finalseg.trans_P
    trans = {a + b: t[a].get(b, low) for a in "BMES" for b in "BMES"}
    return finalseg, low, finalseg.start_P, trans, finalseg.emit_P


def _viterbi(obs: str, tables) -> list[str]:
    """jieba.finalseg.viterbi with the four states unrolled and back-pointers (same result).

    Same float operations in the same order, and the same tie-breaks as jieba's
    `max((prob, state))`: on equal probability the later state letter wins.
    """
    _, low, start, tr, emit = tables
    e_b, e_m, e_e, e_s = emit["B"].get, emit["M"].get, emit["E"].get, emit["S"].get
    t_eb, t_sb, t_mm, t_bm = tr["EB"], tr["SB"], tr["MM"], tr["BM"]
    t_ss, t_es, t_be, t_me = tr["SS"], tr["ES"], tr["BE"], tr["ME"]
    c = obs[0]
    vb, vm = start["B"] + e_b(c, low), start["M"] + e_m(c, low)
    ve, vs = start["E"] + e_e(c, low), start["S"] + e_s(c, low)
    back = []
    for c in obs[1:]:
        em = e_b(c, low)  # B <- E or S
        p1, p2 = ve + t_eb + em, vs + t_sb + em
        nb, fb = (p2, "S") if p2 >= p1 else (p1, "E")
        em = e_m(c, low)  # M <- M or B
        p1, p2 = vm + t_mm + em, vb + t_bm + em
        nm, fm = (p1, "M") if p1 >= p2 else (p2, "B")
        em = e_s(c, low)  # S <- S or E
        p1, p2 = vs + t_ss + em, ve + t_es + em
        ns, fs = (p1, "S") if p1 >= p2 else (p2, "E")
        em = e_e(c, low)  # E <- B or M
        p1, p2 = vb + t_be + em, vm + t_me + em
        ne, fe = (p2, "M") if p2 >= p1 else (p1, "B")
        vb, vm, vs, ve = nb, nm, ns, ne
        back.append({"B": fb, "M": fm, "S": fs, "E": fe})
    state = "S" if vs >= ve else "E"
    states = [state]
    for pointers in reversed(back):
        state = pointers[state]
        states.append(state)
    states.reverse()
    return states


_HMM_HAN = re.compile("([\u4e00-\u9fd5]+)")
_HMM_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_hmm = None


def hmm_tables():
    """jieba's HMM tables for `hmm_cut`, loaded (jieba imported) on first need: the array
    segmenter needs them only for runs of unknown characters that are not all Han (A3区)."""
    global _hmm
    if _hmm is None:
        _hmm = _hmm_tables()
    return _hmm


def hmm_cut(sentence: str):
    """jieba.finalseg.cut (the HMM for words missing from the dictionary), faster."""
    tables = hmm_tables()
    force_split = tables[0].Force_Split_Words
    for blk in _HMM_HAN.split(sentence):
        if _HMM_HAN.match(blk):
            pos_list = _viterbi(blk, tables)
            begin = nexti = 0
            for i, char in enumerate(blk):
                pos = pos_list[i]
                word = None
                if pos == "B":
                    begin = i
                elif pos == "E":
                    word = blk[begin : i + 1]
                    nexti = i + 1
                elif pos == "S":
                    word = char
                    nexti = i + 1
                if word is not None:
                    if word in force_split:
                        yield from word
                    else:
                        yield word
            if nexti < len(blk):
                word = blk[nexti:]
                if word in force_split:
                    yield from word
                else:
                    yield word
        else:
            for x in _HMM_SKIP.split(blk):
                if x:
                    yield x


def tokenizer():
    """The jieba Tokenizer with the civic dictionary, built once on first use (thread-safe)."""
    global _tokenizer
    if _tokenizer is None:
        with _init_lock:
            if _tokenizer is None:
                jieba = _import_jieba()
                jieba.setLogLevel(logging.WARNING)
                tk = _fused_tokenizer_class(jieba)()
                _load_prefix_dict(tk, jieba)
                for line in _read_lines("userdict.txt"):
                    parts = line.split()
                    freq = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
                    tk.add_word(parts[0], freq)
                _tokenizer = tk
    return _tokenizer


def array_segmenter():
    """The `nlp.array_segment.ArraySegmenter` of `tokenizer()`'s dictionary (thread-safe).

    Loaded from its cache file when there is one (no jieba import, no dictionary built);
    otherwise built from `tokenizer()` once and cached. It is a snapshot: words added to the
    tokenizer later are not in it.
    """
    global _arrays
    if _arrays is None:
        with _arrays_lock:
            if _arrays is None:
                from nlp import array_segment

                path = array_segment.cache_path(_read_lines("userdict.txt"))
                seg = array_segment.load(path)
                if seg is None:
                    from jieba import finalseg

                    arrays = array_segment.ArraySegmenter.arrays_from(tokenizer(), finalseg)
                    array_segment.save(path, arrays)
                    seg = array_segment.ArraySegmenter(arrays)
                _arrays = seg
    return _arrays


def warm_up() -> None:
    """Load now what segmenting loads on first need: what `clean_text` does (zhconv), the
    arrays, the stop words and the HMM tables (importing jieba, ~0.1 s, in the middle of a
    burst of complaints otherwise); one cut imports the codec the arrays are read with."""
    warm_up_normalize()
    array_segmenter().cut_many(["预热"])
    stopwords()
    hmm_tables()


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Civic stop words: function words plus board boilerplate (您好, 请问, 谢谢…)."""
    return frozenset(_read_lines("stopwords.txt"))


def segment(text: object) -> list[str]:
    """All tokens of `text` in order, whitespace dropped."""
    cleaned = clean_text(text)
    if not cleaned:
        return []
    return array_segmenter().cut_many([cleaned])[0]


def segment_cleaned(texts: list[str]) -> list[list[str]]:
    """`segment` of many texts already cleaned by `clean_text`, cut as one batch."""
    return array_segmenter().cut_many(texts)


def content_words(tokens: list[str]) -> list[str]:
    """Tokens that carry meaning: not stop words, not punctuation or digits, not one CJK char."""
    return kept_tokens(tokens, _content, _is_content_word)


def _is_content_word(t: str) -> bool:
    return bool(t not in stopwords() and _WORD_RE.search(t) and (len(t) > 1 or t.isascii()))


def kept_tokens(
    tokens: list[str], known: dict[str, bool], test: Callable[[str], bool]
) -> list[str]:
    """The tokens that pass `test`, each distinct token tested once: `known` remembers the
    answers (board texts repeat the same few thousand tokens) and is cleared when it grows
    past TOKEN_CACHE_SIZE. `test` must be a pure function of the token."""
    try:
        return list(compress(tokens, map(known.__getitem__, tokens)))
    except KeyError:  # a token not met before
        pass
    if len(known) > TOKEN_CACHE_SIZE:
        known.clear()
    out = []
    for t in tokens:
        keep = known.get(t)
        if keep is None:
            keep = known[t] = test(t)
        if keep:
            out.append(t)
    return out


TOKEN_CACHE_SIZE = 200_000
_content: dict[str, bool] = {}
