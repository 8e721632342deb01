"""Request type (诉求类型) of a citizen text: 投诉, 咨询, 建议 or 表扬, with a probability.

Two parts, measured separately by `nlp.request_type_train`:

- a linear model (the topic model's scorer: content words, word pairs, Han character 1-3
  grams, plus a marker for a question mark) that reads the text with every cue word taken out
  (咨询, 建议, 投诉, 谢谢…). It was trained and cross-validated on texts without them, so it
  has to recognise a question, a suggestion or thanks from how the rest is written;
- cue rules for what citizens write at the start of a message ("咨询…", "请问…", "建议…",
  "投诉…", "表扬…") and for praise words anywhere (点赞, 锦旗, 表扬): a cue multiplies the
  odds of its type by CUE_ODDS, so a clear cue wins unless the model is sure of another type.

`投诉` covers complaints, reports and requests for help; `表扬` praise and thanks. Text with too
little Chinese gets no type (None, probability 0): a person reads it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from nlp.model_store import ACTIVE
from nlp.segment import clean_text, content_words, segment
from nlp.topic import TopicModel, softmax

log = logging.getLogger(__name__)

ARTIFACT = "request_type.npz"
COMPLAINT, QUESTION, SUGGESTION, PRAISE = "投诉", "咨询", "建议", "表扬"
LABELS = (COMPLAINT, QUESTION, SUGGESTION, PRAISE)

# Words that name the type outright. The model never sees them (training and scoring both
# take them out), the rules below read them.
CUE_WORDS = (
    "咨询 请问 询问 想问 问一下 想了解 了解一下 "  # noqa: SIM905
    "建议 提议 "
    "投诉 举报 反映 反应 控告 曝光 求助 请求 恳请 "
    "表扬 点赞 点个赞 感谢 致谢 谢谢 多谢 感谢信 锦旗 好评"
).split()
_CUE_RE = re.compile("|".join(sorted(map(re.escape, CUE_WORDS), key=len, reverse=True)))
_CUE_SET = frozenset(CUE_WORDS)

# A cue multiplies its type's odds by this much (the model's probability 0.2 becomes 0.83).
CUE_ODDS = 20.0
# Praise is a positive message: its odds are multiplied by the sentiment odds s / (1 - s)
# (nlp.sentiment), so "谢谢" closing a complaint does not make it praise and thanks written
# about a civic matter (人社局帮我们讨回了工资) is not read as a complaint about it. Clipped
# so that one model cannot overrule the other outright.
SENTIMENT_ODDS_CLIP = (0.05, 20.0)
# The opening a cue must start: the first sentence, or the title of a board message.
_OPENING_CHARS = 30
_OPENING_END = re.compile(r"[。!?;\n]")
_OPENING_CUES = (
    (
        QUESTION,
        re.compile(r"^(?:我|本人)?(?:想|特此|再次)?(?:咨询|请问|询问|问一下|想问|了解一下)"),
    ),
    (SUGGESTION, re.compile(r"^(?:我|本人)?(?:提个|提几点|想提个|再次)?(?:建议|提议)|的建议$")),
    (COMPLAINT, re.compile(r"^(?:我要|我|本人|实名)?(?:投诉|举报|反映(?!的)|控告|曝光|求助)")),
    (QUESTION, re.compile(r"的咨询$")),
    (PRAISE, re.compile(r"^(?:我要|我想)?(?:表扬|点赞|致谢|为.{1,15}点赞|给.{1,15}点赞)")),
)
# Praise words that are praise wherever they stand (not the 谢谢 closing a complaint).
_PRAISE_ANYWHERE = re.compile(r"(?<![不没未])(?:表扬|点赞|点个赞|锦旗|感谢信|好评)")
_QUESTION_MARKER = "<q>"
# Words of dissatisfaction: thanks around them is politeness, not praise ("谢谢，但问题还是没
# 解决"). They override a praise cue and divide the praise odds by CUE_ODDS; "没有不满意"
# (nothing to complain of) is not one.
_DISSATISFIED = re.compile(
    r"(?<![没无有])(?:不满意|不太满意|很不满|不满$)"
    r"|(?:没|没有|没能|未|未能|仍未|还未)(?:得到)?(?:解决|处理|落实|回复|答复)"
    r"|没人管|没人理|无人管|不作为|推诿|推脱|敷衍|态度(?:恶劣|很差|太差|极差|差)|差评"
)
# Where a text starts and ends says much of its type once the cue words are out: 希望…,
# 能否…, …吗, …了, …好. The model reads the first and last 1-3 characters of the first and
# last clause (cue words removed) as markers ^希, ^希望, 吗$, 很好$.
_CLAUSE_END = re.compile(r"[。!?;,，\n]+")
_MARKER_SPAN = 200


@dataclass(frozen=True)
class RequestTypeResult:
    """The request type, its probability and every type's probability (best first)."""

    label: str | None
    probability: float
    scores: tuple[tuple[str, float], ...]


NO_TYPE = RequestTypeResult(None, 0.0, ())


def strip_cues(text: str) -> str:
    """`text` with every cue word replaced by a space (character n-grams do not join)."""
    return _CUE_RE.sub(" ", text)


def model_words(
    tokens: list[str], text: str, words: list[str] | None = None, stripped: str | None = None
) -> list[str]:
    """The word features the model reads: content words that are not cue words, a marker
    when the cleaned text asks a question, and the opening and closing markers of the text
    with its cue words removed (`stripped`, computed when not given)."""
    if words is None:
        words = content_words(tokens)
    out = [w for w in words if w not in _CUE_SET]
    if "?" in text:
        out.append(_QUESTION_MARKER)
    out += position_markers(strip_cues(text) if stripped is None else stripped)
    return out


def position_markers(stripped: str) -> list[str]:
    """^ + the first 1-3 characters of the first clause, the last 1-3 of the last + $."""
    head = next((p.strip() for p in _CLAUSE_END.split(stripped[:_MARKER_SPAN]) if p.strip()), "")
    if not head:
        return []
    tail = next(
        (p.strip() for p in reversed(_CLAUSE_END.split(stripped[-_MARKER_SPAN:])) if p.strip()),
        "",
    )
    head, tail = head[:8], tail[-8:]
    return ["^" + head[:k] for k in (1, 2, 3)] + [tail[-k:] + "$" for k in (1, 2, 3)]


def cue_label(text: str) -> str | None:
    """The type a cue in the cleaned `text` names, if any (opening cues first)."""
    opening = _OPENING_END.split(text[: _OPENING_CHARS * 2], maxsplit=1)[0][:_OPENING_CHARS]
    opening = opening.lstrip(" ,，:：【[（(")
    for label, pattern in _OPENING_CUES:
        if pattern.search(opening):
            return None if label == PRAISE and dissatisfied(text) else label
    if _PRAISE_ANYWHERE.search(text) and not dissatisfied(text):
        return PRAISE
    return None


def dissatisfied(text: str) -> bool:
    """Whether the cleaned `text` says something was not resolved or not satisfactory."""
    return _DISSATISFIED.search(text) is not None


def combine(
    probs: np.ndarray,
    labels: list[str],
    cue: str | None,
    sentiment: float | None = None,
    unhappy: bool = False,
) -> np.ndarray:
    """Model probabilities with a cue's odds, the sentiment odds and, for a text that says
    it is `unhappy` (`dissatisfied`), praise odds divided by CUE_ODDS that the sentiment
    may lower but not raise (a new array)."""
    p = probs * np.array(_odds(labels, cue, sentiment, unhappy))
    return p / p.sum()


def _odds(labels: list[str], cue: str | None, sentiment: float | None, unhappy: bool) -> list:
    # The factors of `combine`, as plain floats (the same operations as in numpy).
    odds = [1.0] * len(labels)
    if cue is not None and cue in labels:
        odds[labels.index(cue)] = CUE_ODDS
    if PRAISE in labels:
        i = labels.index(PRAISE)
        if unhappy:
            odds[i] /= CUE_ODDS
        if sentiment is not None and 0.0 < sentiment < 1.0:
            lo, hi = SENTIMENT_ODDS_CLIP
            hi = 1.0 if unhappy else hi
            odds[i] *= min(max(sentiment / (1.0 - sentiment), lo), hi)
    return odds


def model() -> TopicModel:
    """The active request-type model (a retrained version's, else the shipped one)."""
    return ACTIVE.get(ARTIFACT, TopicModel.load)


def predict(
    token_lists: list[list[str]],
    texts: list[str],
    word_lists: list[list[str]] | None = None,
    sentiments: list[float] | None = None,
    *,
    use_cues: bool = True,
) -> list[RequestTypeResult]:
    """Request types of cleaned texts with their jieba tokens (and content words, if known).

    `sentiments` are the texts' nlp.sentiment scores; without them praise is judged by the
    model and the cues alone.
    """
    if not texts:
        return []
    m = model()
    if word_lists is None:
        word_lists = [None] * len(texts)
    stripped = [strip_cues(x) for x in texts]
    words = [
        model_words(t, x, w, s)
        for t, x, w, s in zip(token_lists, texts, word_lists, stripped, strict=True)
    ]
    scores, known = m.decision(words, stripped)
    probs = softmax(scores.astype(np.float64) / m.temperature)
    if sentiments is None:
        sentiments = [None] * len(texts)
    # Every text's odds, then one product and one normalisation for the batch.
    labels = m.labels
    typed, odds = [], []
    for i, (text, k, s) in enumerate(zip(texts, known.tolist(), sentiments, strict=True)):
        cue = cue_label(text) if use_cues else None
        if k or cue is not None:
            typed.append(i)
            odds.append(_odds(labels, cue, s, dissatisfied(text)))
    out = [NO_TYPE] * len(texts)
    if not typed:
        return out
    p = probs[typed] * np.array(odds)
    p /= p.sum(axis=1, keepdims=True)
    order = np.argsort(-p, axis=1, kind="stable")
    ranked_p = np.take_along_axis(p, order, axis=1).tolist()
    for i, ids, ps in zip(typed, order.tolist(), ranked_p, strict=True):
        ranked = tuple(zip(map(labels.__getitem__, ids), ps, strict=True))
        out[i] = RequestTypeResult(ranked[0][0], ps[0], ranked)
    return out


def classify(text: object) -> RequestTypeResult:
    """The request type of one raw text; never raises on odd input (NO_TYPE instead)."""
    from nlp.normalize import has_enough_chinese

    cleaned = clean_text(text)
    if not has_enough_chinese(cleaned):
        return NO_TYPE
    try:
        from nlp import sentiment

        tokens = segment(cleaned)
        return predict([tokens], [cleaned], None, sentiment.score_segmented([tokens], [cleaned]))[
            0
        ]
    except Exception:
        log.exception("request type failed")
        return NO_TYPE
