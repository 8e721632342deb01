"""The public nlp pipeline: segment a text once, then route, score and describe it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from nlp import keywords, segment, sentiment
from nlp import request_type as request_type_mod
from nlp import topic as topic_mod
from nlp.normalize import has_enough_chinese
from nlp.segment import clean_text, content_words, segment_cleaned

log = logging.getLogger(__name__)

KEYWORDS_PER_TEXT = 5
NEUTRAL_SCORE = 0.5


@dataclass(frozen=True)
class Analysis:
    """What staff act on for one citizen text."""

    topic: str | None
    topic_probability: float
    topic_top3: tuple[tuple[str, float], ...]
    needs_review: bool
    sentiment_score: float
    sentiment_label: str
    keywords: list[str] = field(default_factory=list)
    # 投诉 / 咨询 / 建议 / 表扬 (nlp.request_type); None when the text has too little Chinese.
    request_type: str | None = None
    request_type_probability: float = 0.0

    def to_dict(self) -> dict:
        """A JSON-ready dict (top 3 as [label, probability] pairs, probabilities to 4 places)."""
        d = asdict(self)
        d["topic_probability"] = round(self.topic_probability, 4)
        d["topic_top3"] = [[label, round(p, 4)] for label, p in self.topic_top3]
        d["sentiment_score"] = round(self.sentiment_score, 4)
        d["request_type_probability"] = round(self.request_type_probability, 4)
        return d


def analyze(
    text: object, *, review_threshold: float = topic_mod.DEFAULT_REVIEW_THRESHOLD
) -> Analysis:
    """Analyse one text; never raises on odd input (empty, huge, emoji, lone surrogates)."""
    return analyze_many([text], review_threshold=review_threshold)[0]


def analyze_many(
    texts: Iterable[object], *, review_threshold: float = topic_mod.DEFAULT_REVIEW_THRESHOLD
) -> list[Analysis]:
    """Analyse many texts at once (topic scores computed as one batch).

    Every text is normalised first (`nlp.normalize`: half-width, no URLs or emoji,
    traditional characters as simplified). A text with too little Chinese to read (English
    only, emoji only, empty) is neither routed nor scored: no topic, needs review, neutral.
    """
    cleaned = [clean_text(t) for t in texts]
    token_lists = _segment(cleaned)
    word_lists = [content_words(tokens) for tokens in token_lists]
    readable = [i for i, text in enumerate(cleaned) if has_enough_chinese(text)]
    topics = [_NO_TOPIC] * len(cleaned)
    scores = [NEUTRAL_SCORE] * len(cleaned)
    kinds = [request_type_mod.NO_TYPE] * len(cleaned)
    if readable:
        picked_words = [word_lists[i] for i in readable]
        picked_texts = [cleaned[i] for i in readable]
        picked_tokens = [token_lists[i] for i in readable]
        picked_scores = _sentiments(picked_tokens, picked_words, picked_texts)
        for i, top, score, kind in zip(
            readable,
            _topics(picked_words, picked_texts, review_threshold),
            picked_scores,
            _request_types(picked_tokens, picked_texts, picked_words, picked_scores),
            strict=True,
        ):
            topics[i], scores[i], kinds[i] = top, score, kind
    out = []
    for tokens, words, top, score, kind in zip(
        token_lists, word_lists, topics, scores, kinds, strict=True
    ):
        out.append(
            Analysis(
                topic=top.label,
                topic_probability=top.probability,
                topic_top3=top.top3,
                needs_review=top.needs_review,
                sentiment_score=score,
                sentiment_label=_sentiment_label(score),
                keywords=_keywords(tokens, words),
                request_type=kind.label,
                request_type_probability=kind.probability,
            )
        )
    return out


_NO_TOPIC = topic_mod.TopicResult(None, 0.0, (), True)

# One text for each path of `analyze_many`: plain Chinese, an unknown code and a decimal (the
# HMM), traditional characters (zhconv), English (no routing, English keywords).
WARM_UP_TEXTS = (
    "小区门口的路灯坏了一个星期，晚上很黑，请尽快维修",
    "A3区12栋的电梯又停了，3.5米的围挡也倒了",
    "這個問題請儘快處理，謝謝",
    "The street light near my home has been broken for a week",
)


def warm_up() -> None:
    """Load now everything `analyze` loads on first need (the models, the segmenter's arrays
    and HMM tables, zhconv, the keyword tables), so that no complaint pays for it: a process
    that analyses texts calls this once at start."""
    segment.warm_up()
    analyze_many(WARM_UP_TEXTS)


# Each step is guarded: a failure in one model must not lose the ticket or the other results.
def _segment(texts: list[str]) -> list[list[str]]:
    try:
        return segment_cleaned(texts)
    except Exception:
        log.exception("segmentation failed; cutting the texts one by one")
    out = []
    for text in texts:
        try:
            out.append(segment_cleaned([text])[0])
        except Exception:
            log.exception("segmentation failed; treating the text as empty")
            out.append([])
    return out


def _topics(word_lists, texts, threshold) -> list[topic_mod.TopicResult]:
    try:
        return topic_mod.model().predict(word_lists, texts, threshold)
    except Exception:
        log.exception("topic routing failed; sending to review")
        return [_NO_TOPIC for _ in texts]


def _request_types(
    token_lists, texts, word_lists, scores
) -> list[request_type_mod.RequestTypeResult]:
    try:
        return request_type_mod.predict(token_lists, texts, word_lists, scores)
    except Exception:
        log.exception("request type failed; none given")
        return [request_type_mod.NO_TYPE for _ in texts]


def _sentiments(token_lists, word_lists, texts) -> list[float]:
    # Nothing that reads as words (empty, emoji, punctuation): neutral, like the topic.
    scored = [i for i, words in enumerate(word_lists) if words]
    out = [NEUTRAL_SCORE] * len(texts)
    try:
        values = sentiment.score_segmented(
            [token_lists[i] for i in scored], [texts[i] for i in scored]
        )
    except Exception:
        log.exception("sentiment scoring failed; neutral")
        return out
    for i, value in zip(scored, values, strict=True):
        if 0.0 <= value <= 1.0:  # also catches NaN
            out[i] = float(value)
    return out


def _sentiment_label(score: float) -> str:
    try:
        return sentiment.label_for(score)
    except Exception:
        log.exception("sentiment labelling failed; neutral")
        return "neutral"


def _keywords(tokens: list[str], words: list[str]) -> list[str]:
    if not tokens:
        return []
    try:
        return list(keywords.keywords_for_tokens(tokens, KEYWORDS_PER_TEXT, words))
    except Exception:
        log.exception("keyword extraction failed")
        return []
