"""The public nlp pipeline: segment a text once, then route, score and describe it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from nlp import keywords, sentiment
from nlp import topic as topic_mod
from nlp.segment import clean_text, content_words, segment

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

    def to_dict(self) -> dict:
        """A JSON-ready dict (top 3 as [label, probability] pairs, probabilities to 4 places)."""
        d = asdict(self)
        d["topic_probability"] = round(self.topic_probability, 4)
        d["topic_top3"] = [[label, round(p, 4)] for label, p in self.topic_top3]
        d["sentiment_score"] = round(self.sentiment_score, 4)
        return d


def analyze(text: object, *, review_threshold: float = topic_mod.DEFAULT_REVIEW_THRESHOLD) -> Analysis:
    """Analyse one text; never raises on odd input (empty, huge, emoji, lone surrogates)."""
    return analyze_many([text], review_threshold=review_threshold)[0]


def analyze_many(
    texts: Iterable[object], *, review_threshold: float = topic_mod.DEFAULT_REVIEW_THRESHOLD
) -> list[Analysis]:
    """Analyse many texts at once (topic scores computed as one batch)."""
    cleaned = [clean_text(t) for t in texts]
    token_lists = [_segment(t) for t in cleaned]
    word_lists = [content_words(tokens) for tokens in token_lists]
    topics = _topics(word_lists, cleaned, review_threshold)
    out = []
    for text, tokens, words, top in zip(cleaned, token_lists, word_lists, topics, strict=True):
        # Nothing that reads as words (empty, emoji, punctuation): neutral, like the topic.
        score = _sentiment(tokens, text) if words else NEUTRAL_SCORE
        out.append(
            Analysis(
                topic=top.label,
                topic_probability=top.probability,
                topic_top3=top.top3,
                needs_review=top.needs_review,
                sentiment_score=score,
                sentiment_label=_sentiment_label(score),
                keywords=_keywords(tokens),
            )
        )
    return out


# Each step is guarded: a failure in one model must not lose the ticket or the other results.
def _segment(text: str) -> list[str]:
    try:
        return segment(text)
    except Exception:
        log.exception("segmentation failed; treating the text as empty")
        return []


def _topics(word_lists, texts, threshold) -> list[topic_mod.TopicResult]:
    try:
        return topic_mod.model().predict(word_lists, texts, threshold)
    except Exception:
        log.exception("topic routing failed; sending to review")
        return [topic_mod.TopicResult(None, 0.0, (), True) for _ in texts]


def _sentiment(tokens: list[str], text: str) -> float:
    try:
        score = float(sentiment.score_tokens(tokens, text))
    except Exception:
        log.exception("sentiment scoring failed; neutral")
        return NEUTRAL_SCORE
    if not 0.0 <= score <= 1.0:  # also catches NaN
        return NEUTRAL_SCORE
    return score


def _sentiment_label(score: float) -> str:
    try:
        return sentiment.label_for(score)
    except Exception:
        log.exception("sentiment labelling failed; neutral")
        return "neutral"


def _keywords(tokens: list[str]) -> list[str]:
    if not tokens:
        return []
    try:
        return list(keywords.keywords_for_tokens(tokens, KEYWORDS_PER_TEXT))
    except Exception:
        log.exception("keyword extraction failed")
        return []
