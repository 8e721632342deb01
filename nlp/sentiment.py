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
from collections.abc import Iterable, Sequence
from functools import cached_property
from importlib import resources
from itertools import pairwise, repeat
from pathlib import Path

import numpy as np

from nlp.keytable import KeyTable
from nlp.model_store import ACTIVE
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


_SCOPE_WORDS = NEGATIONS | CONTRAST


def word_features(tokens: Sequence[str], bigrams: bool = False) -> list[str]:
    """Token-level feature strings (prefixed w/b/n/a/e, see the module docstring)."""
    out = ["w" + t for t in tokens]
    if bigrams:
        seq = ["<s>", *tokens, "</s>"]
        out += ["b" + a + "|" + b for a, b in pairwise(seq)]
    negated, after, last = _scoped_tokens(tokens)
    out += ["n" + t for t in negated]
    out += ["a" + t for t in after]
    out += ["e" + t for t in last]
    return out


def _scoped_tokens(tokens: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """The tokens behind the n, a and e features of `word_features`, unprefixed."""
    punct = _CLAUSE_PUNCT
    negated: list[str] = []
    after: list[str] = []
    scope_words = _SCOPE_WORDS.intersection(tokens)
    if scope_words:
        after_contrast = False
        neg_left = 0
        for t in tokens[min(map(tokens.index, scope_words)) :]:
            if not t.strip(punct):
                neg_left = 0
                continue
            if neg_left:
                negated.append(t)
                neg_left -= 1
            if t in NEGATIONS:
                neg_left = _NEG_SCOPE
            if t in CONTRAST:
                after_contrast = True
            if after_contrast:
                after.append(t)
    end = len(tokens)
    while end and not tokens[end - 1].strip(punct):
        end -= 1
    start = end
    while start and tokens[start - 1].strip(punct):
        start -= 1
    return negated, after, list(tokens[start:end])


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
        # Word features get ids 0 … W-1 and character n-grams W …, each in vocabulary order
        # (a text's weights are summed in id order: the order is part of the result).
        vocab = list(vocab)
        is_char = [f[:1] == "c" for f in vocab]
        weights = np.asarray(weights, dtype=np.float64)
        ratios_sq = np.asarray(ratios_sq, dtype=np.float64)
        order = np.argsort(np.array(is_char, dtype=bool), kind="stable")
        self.weight = weights[order]
        self.ratio_sq = ratios_sq[order]
        self._word_features = [f for f, c in zip(vocab, is_char, strict=True) if not c]
        self._grams = [f[1:] for f, c in zip(vocab, is_char, strict=True) if c]
        self._build_batch_index()

    @cached_property
    def words(self) -> dict[str, complex]:
        """Word feature -> weight + 1j * squared ratio (one sum gives dot product and norm)."""
        n = len(self._word_features)
        values = (self.weight[:n] + 1j * self.ratio_sq[:n]).tolist()
        return dict(zip(self._word_features, values, strict=True))

    @cached_property
    def chars(self) -> dict[str, complex]:
        """Character n-gram (unprefixed) -> weight + 1j * squared ratio."""
        n = len(self._word_features)
        values = (self.weight[n:] + 1j * self.ratio_sq[n:]).tolist()
        return dict(zip(self._grams, values, strict=True))

    def _build_batch_index(self) -> None:
        """Arrays for `scores`: feature ids, and character n-grams as sorted integer keys.

        Each character of the grams' alphabet gets a digit 1 … A-1; an n-gram is the base-A
        number of its digits. Digits are never 0, so grams of different lengths never share a
        key and one table serves n = 1 … char_n; a character outside the alphabet (0)
        means the gram cannot be in the vocabulary.
        """
        self.word_ids = {f: i for i, f in enumerate(self._word_features)}
        # The same ids by kind of feature and raw token, so no prefixed strings are built.
        self.kind_ids: dict[str, dict[str, int]] = {k: {} for k in "wnaeb"}
        for f, i in self.word_ids.items():
            self.kind_ids.setdefault(f[:1], {})[f[1:]] = i
        grams = self._grams
        joined = "".join(grams)
        alphabet = sorted(set(joined))
        self.base = len(alphabet) + 1
        self.batch_grams = bool(alphabet) and self.base**self.char_n < 2**62
        if not self.batch_grams:  # an alphabet too large for int64 keys: per-text sets
            return
        points = np.array([ord(ch) for ch in alphabet], dtype=np.int64)
        self.digits = np.zeros(ord(alphabet[-1]) + 2, dtype=np.int64)
        self.digits[points] = np.arange(1, self.base, dtype=np.int64)
        # Every gram's key at once: each character's digit times base**(characters after it).
        cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        ends = np.cumsum(lengths)
        owner = np.repeat(np.arange(len(grams)), lengths)
        after = ends[owner] - 1 - np.arange(len(cp))
        place = np.power(np.int64(self.base), after, dtype=np.int64)
        keys = np.add.reduceat(self.digits[cp] * place, ends - lengths) if len(grams) else owner
        n = len(self._word_features)
        ids = np.arange(n, n + len(grams), dtype=np.int64)
        self.gram_table = KeyTable(keys.astype(np.int64), ids)

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

    def decisions(self, token_lists: Sequence[Sequence[str]], texts: Sequence[str]) -> np.ndarray:
        """`decision` of many texts at once (NaN where nothing is known), as one array.

        The same binary features as `decision`; a text's weights are summed in feature-id
        order, so its value does not depend on the other texts of the batch.
        """
        n = len(texts)
        if n == 0:
            return np.zeros(0)
        ids: list[int] = []
        lengths = []
        if self.bigrams:
            get = self.word_ids.get
            for tokens in token_lists:
                feats = word_features(tokens, True)
                ids += map(get, feats, repeat(-1, len(feats)))
                lengths.append(len(feats))
        else:
            kinds = self.kind_ids
            w_get, n_get = kinds["w"].get, kinds["n"].get
            a_get, e_get = kinds["a"].get, kinds["e"].get
            size = len(ids)
            for tokens in token_lists:
                negated, after, last = _scoped_tokens(tokens)
                ids += map(w_get, tokens, repeat(-1, len(tokens)))
                ids += map(n_get, negated, repeat(-1, len(negated)))
                ids += map(a_get, after, repeat(-1, len(after)))
                ids += map(e_get, last, repeat(-1, len(last)))
                lengths.append(len(ids) - size)
                size = len(ids)
        owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
        idx = np.array(ids, dtype=np.int64)
        hit = idx >= 0
        owners, fids = [owner[hit]], [idx[hit]]
        if self.batch_grams:
            go, gi = self._gram_hits(texts)
        else:
            go, gi = self._gram_hits_by_set(texts)
        owners.append(go)
        fids.append(gi)
        v = len(self.weight)
        # Distinct (text, feature) pairs, sorted: features are binary.
        pairs = np.sort(np.concatenate(owners) * v + np.concatenate(fids))
        if len(pairs):
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
        owner, fid = np.divmod(pairs, v)
        dot = np.bincount(owner, weights=self.weight[fid], minlength=n)
        norm_sq = np.bincount(owner, weights=self.ratio_sq[fid], minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self.bias + dot / np.sqrt(norm_sq)
        z[~(norm_sq > 0.0)] = np.nan
        return z

    def scores(self, token_lists: Sequence[Sequence[str]], texts: Sequence[str]) -> list[float]:
        """`score_tokens` of many texts at once."""
        z = self.decisions(token_lists, texts)
        known = ~np.isnan(z)
        out = np.full(len(z), NEUTRAL_SCORE)
        out[known] = 1.0 / (1.0 + np.exp(-np.clip(z[known], -30.0, 30.0)))
        return out.tolist()

    def _gram_hits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        # All texts as one array of digits; a 0 after each text stops grams crossing texts.
        joined = "\n".join(texts) + "\n"
        cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        d = self.digits[np.minimum(cp, len(self.digits) - 1)]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
        d[np.cumsum(lengths) - 1] = 0
        owner_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        valid = d > 0
        key = d
        owners, keys = [], []
        for n in range(1, self.char_n + 1):
            if n > 1:
                valid = valid[:-1] & (d[n - 1 :] > 0)
                key = key[:-1] * self.base + d[n - 1 :]
            pos = np.flatnonzero(valid)
            owners.append(owner_of[pos])
            keys.append(key[pos])
        ids = self.gram_table.lookup(np.concatenate(keys))
        found = ids >= 0
        return np.concatenate(owners)[found], ids[found]

    def _gram_hits_by_set(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        offset = len(self.words)
        index = {g: offset + i for i, g in enumerate(self.chars)}
        owners, ids = [], []
        for i, text in enumerate(texts):
            found = [index[g] for g in char_grams(text, self.char_n) if g in index]
            owners += [i] * len(found)
            ids += found
        return np.array(owners, dtype=np.int64), np.array(ids, dtype=np.int64)


def artifact_path() -> Path:
    """Where the shipped model lives inside the package."""
    return Path(str(resources.files("nlp").joinpath("artifacts", ARTIFACT_NAME)))


def model() -> SentimentModel:
    """The active model: the county's active version when there is one (`nlp.model_store`),
    else the shipped artifact; loaded once per version."""
    return ACTIVE.get(ARTIFACT_NAME, SentimentModel.load)


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
    token_lists, texts, slots = [], [], []
    for item in items:
        out.append(NEUTRAL_SCORE)
        try:
            tokens, text = item
        except (TypeError, ValueError):
            continue
        toks, txt = _safe_inputs(tokens, text)
        if toks or txt:
            token_lists.append(toks)
            texts.append(txt)
            slots.append(len(out) - 1)
    for slot, value in zip(slots, m.scores(token_lists, texts), strict=True):
        out[slot] = value
    return out


def score_segmented(token_lists: Sequence[list[str]], texts: Sequence[str]) -> list[float]:
    """Scores of many texts straight from `nlp.segment`: token lists and cleaned texts.

    The inputs are trusted (no type checks, unlike `score_many`): the pipeline's fast path.
    """
    return model().scores(
        [tokens[:MAX_TOKENS] for tokens in token_lists], [text[:MAX_CHARS] for text in texts]
    )


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
