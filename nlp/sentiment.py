"""Sentiment of citizen feedback: a score in [0, 1] (1 = positive) and a three-way label.

The model is one linear NB-LR classifier (naive-Bayes log-count ratios as feature scaling, then
logistic regression on the L2-normalised vector; Wang & Manning 2012) trained on food-delivery
and hotel reviews together by `nlp.sentiment_train`. It is shipped as plain arrays in
`nlp/artifacts/sentiment.npz` and scored here with dict lookups, so importing this module
pulls in neither scikit-learn nor pickles and the first result costs one small file read.

Features of a text (binary, deduplicated):
- `w` + each jieba token (raw tokens, stop words kept: 不/没/没有 carry the polarity),
- `b` + each pair of adjacent tokens (optional, see the artifact's `config`),
- `n` + the tokens in a negation word's scope (up to 3 tokens, same clause),
- `a` + the tokens after a contrast word (但是/不过/就是…), which usually carry the verdict,
- `e` + the tokens of the last clause,
- `c` + each character n-gram of the cleaned text, n = 1 … `config["char_n"]`.

Scores: `score >= 0.5` means positive (the decision threshold of the classifier). `label_for`
maps a score to 'negative' (< 0.4), 'neutral' (0.4 <= score < 0.6) or 'positive' (>= 0.6).
Text with no known feature (empty, only emoji, unseen script) scores NEUTRAL_SCORE.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np

from nlp.segment import MAX_CHARS, clean_text, segment

log = logging.getLogger(__name__)

NEUTRAL_SCORE = 0.5
# Neutral band: scores in [NEGATIVE_BELOW, POSITIVE_FROM) are reported as 'neutral'. It is
# deliberately narrow: the classifier's own errors sit mostly within 0.3-0.7, and staff care
# about the clearly negative tickets first.
NEGATIVE_BELOW = 0.4
POSITIVE_FROM = 0.6

ARTIFACT_NAME = "sentiment.npz"
# Tokens beyond this many are ignored (segment() already caps the text at MAX_CHARS).
MAX_TOKENS = 4000

# Words that flip the polarity of what follows (kept: content_words() would drop them).
NEGATIONS = frozenset(
    "不 没 没有 别 未 无 非 莫 勿 毫无 并不 从不 从没 不是 不会 不太 不够 不能 不要 不用 "  # noqa: SIM905
    "不怎么 不大 没什么 没人 无人 难以 不再 绝不 决不".split()
)
# Words after which a review usually states its real verdict (好吃，就是太慢了).
CONTRAST = frozenset(
    "但 但是 可是 不过 就是 只是 可惜 然而 却 唯一 美中不足 遗憾 只不过".split()  # noqa: SIM905
)
_CLAUSE_PUNCT = "，,。.!！?？;；~～…、:：()（）[]【】\"'“”‘’ \t\n"
_NEG_SCOPE = 3


def _is_boundary(token: str) -> bool:
    return not token.strip(_CLAUSE_PUNCT)


def word_features(tokens: Sequence[str], bigrams: bool = False) -> list[str]:
    """Token-level feature strings (prefixed w/b/n/a/e, see the module docstring)."""
    out = ["w" + t for t in tokens]
    if bigrams:
        seq = ["<s>", *tokens, "</s>"]
        out += ["b" + a + "|" + b for a, b in pairwise(seq)]
    after_contrast = False
    neg_left = 0
    clause: list[str] = []  # the last non-empty clause seen so far
    boundary = True
    for t in tokens:
        if _is_boundary(t):
            neg_left = 0
            boundary = True
            continue
        if boundary:
            clause = []
            boundary = False
        clause.append(t)
        if neg_left:
            out.append("n" + t)
            neg_left -= 1
        if t in NEGATIONS:
            neg_left = _NEG_SCOPE
        if t in CONTRAST:
            after_contrast = True
        if after_contrast:
            out.append("a" + t)
    out += ["e" + t for t in clause]
    return out


def char_grams(text: str, char_n: int = 4) -> set[str]:
    """The distinct character n-grams of `text`, n = 1 … char_n (unprefixed)."""
    size = len(text)
    return {text[i : i + n] for n in range(1, char_n + 1) for i in range(size - n + 1)}


def features(
    tokens: Sequence[str], text: str, char_n: int = 4, bigrams: bool = False
) -> list[str]:
    """All feature strings of one text as stored in the artifact (char n-grams prefixed c)."""
    out = list(dict.fromkeys(word_features(tokens, bigrams)))
    out += sorted("c" + g for g in char_grams(text, char_n))
    return out


class SentimentModel:
    """A loaded NB-LR model: feature -> (weight, squared NB ratio), plus a bias."""

    def __init__(
        self,
        vocab: Sequence[str],
        weights: Sequence[float],
        ratios_sq: Sequence[float],
        bias: float,
        config: dict,
    ):
        if not (len(vocab) == len(weights) == len(ratios_sq)):
            raise ValueError("sentiment model: vocab, weights and ratios differ in length")
        self.config = dict(config)
        self.char_n = int(self.config.get("char_n", 4))
        self.bigrams = bool(self.config.get("bigrams", False))
        self.bias = float(bias)
        # Each feature maps to weight + 1j * squared ratio, so that one C-level
        # sum(map(dict.get, ...)) gives both the dot product and the squared norm.
        values = (
            np.asarray(weights, dtype=np.float64) + 1j * np.asarray(ratios_sq, dtype=np.float64)
        ).tolist()
        self.words: dict[str, complex] = {}
        self.chars: dict[str, complex] = {}
        words, chars = self.words, self.chars
        for f, v in zip(vocab, values, strict=True):
            if f[:1] == "c":
                chars[f[1:]] = v
            else:
                words[f] = v

    @classmethod
    def load(cls, path: Path | str) -> SentimentModel:
        """Read a model saved by `save` (plain arrays, no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            vocab = bytes(data["vocab"]).decode("utf-8").split("\n")
            return cls(
                vocab,
                data["weights"],
                data["ratios_sq"],
                float(data["bias"]),
                json.loads(bytes(data["config"]).decode("utf-8")),
            )

    def save(self, path: Path | str) -> None:
        """Write the model as a compressed .npz of float32 arrays and a UTF-8 vocabulary."""
        vocab = self.vocabulary()
        if any("\n" in f for f, _, _ in vocab):
            raise ValueError("feature strings must not contain newlines")
        np.savez_compressed(
            path,
            vocab=np.frombuffer("\n".join(f for f, _, _ in vocab).encode("utf-8"), np.uint8),
            weights=np.asarray([w for _, w, _ in vocab], dtype=np.float32),
            ratios_sq=np.asarray([r2 for _, _, r2 in vocab], dtype=np.float32),
            bias=np.float64(self.bias),
            config=np.frombuffer(json.dumps(self.config).encode("utf-8"), dtype=np.uint8),
        )

    def __len__(self) -> int:
        return len(self.words) + len(self.chars)

    def vocabulary(self) -> list[tuple[str, float, float]]:
        """(feature, weight, squared ratio) of every feature, in artifact order."""
        items = [(f, v) for f, v in self.words.items()]
        items += [("c" + g, v) for g, v in self.chars.items()]
        items.sort(key=lambda item: item[0])
        return [(f, v.real, v.imag) for f, v in items]

    def decision(self, tokens: Sequence[str], text: str) -> float | None:
        """The linear decision value, or None when no feature of the text is known."""
        acc = sum(filter(None, map(self.words.get, set(word_features(tokens, self.bigrams)))), 0j)
        acc += sum(filter(None, map(self.chars.get, char_grams(text, self.char_n))), 0j)
        if acc.imag <= 0.0:
            return None
        return self.bias + acc.real / math.sqrt(acc.imag)

    def score_tokens(self, tokens: Sequence[str], text: str) -> float:
        """Probability that the text is positive, NEUTRAL_SCORE when nothing is known."""
        z = self.decision(tokens, text)
        if z is None:
            return NEUTRAL_SCORE
        # Clamp: exp() overflows past ~709, and a score of exactly 0 or 1 says too much.
        z = max(-30.0, min(30.0, z))
        return 1.0 / (1.0 + math.exp(-z))


_lock = threading.Lock()
_model: SentimentModel | None = None


def artifact_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(str(resources.files("nlp").joinpath("artifacts", ARTIFACT_NAME)))


def model() -> SentimentModel:
    """The shipped model, loaded once on first use (thread-safe)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = SentimentModel.load(artifact_path())
                log.debug("sentiment model loaded: %d features", len(_model))
    return _model


def _safe_inputs(tokens: object, text: object) -> tuple[list[str], str]:
    if not isinstance(text, str):
        text = clean_text(text)
    text = text[:MAX_CHARS]
    if not tokens or isinstance(tokens, str):
        # A bare string is not a token list: treat it as missing rather than as characters.
        return [], text
    try:
        toks = [t for t in tokens if isinstance(t, str)]
    except TypeError:
        return [], text
    return toks[:MAX_TOKENS], text


def score_tokens(tokens: Sequence[str], text: str) -> float:
    """Sentiment score in [0, 1] from tokens (nlp.segment.segment) and cleaned text."""
    toks, txt = _safe_inputs(tokens, text)
    if not toks and not txt:
        return NEUTRAL_SCORE
    return model().score_tokens(toks, txt)


def score(text: object) -> float:
    """Sentiment score in [0, 1] of raw text (segments it first; prefer score_tokens)."""
    cleaned = clean_text(text)
    if not cleaned:
        return NEUTRAL_SCORE
    return score_tokens(segment(cleaned), cleaned)


def score_many(items: Iterable[tuple[Sequence[str], str]]) -> list[float]:
    """Scores of many (tokens, cleaned text) pairs, in order."""
    m = model()
    out = []
    for item in items:
        try:
            tokens, text = item
        except (TypeError, ValueError):
            out.append(NEUTRAL_SCORE)
            continue
        toks, txt = _safe_inputs(tokens, text)
        out.append(m.score_tokens(toks, txt) if toks or txt else NEUTRAL_SCORE)
    return out


def label_for(value: float) -> str:
    """'negative' below 0.4, 'positive' from 0.6, 'neutral' in between or when undefined."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "neutral"
    if math.isnan(v):
        return "neutral"
    if v < NEGATIVE_BELOW:
        return "negative"
    if v >= POSITIVE_FROM:
        return "positive"
    return "neutral"
