"""jieba's default cut (dictionary route plus HMM for unknown words) for many texts at once.

`nlp.segment`'s tokenizer cuts one text at a time in Python loops: for every character it
looks up each dictionary prefix starting there, then keeps the most probable route, then runs
the HMM over runs of single characters. Here the same steps run as numpy array operations
over a whole batch, and give exactly the same tokens (same float operations in the same
order, same tie-breaks):

1. the dictionary is a trie whose transitions (node, next character) -> child node are one
   integer hash table (`KeyTable`); walking it one level per step for every position of the
   batch at once finds every dictionary word that starts anywhere;
2. the route search (jieba's `calc`) runs right to left over all blocks together: step k
   settles the k-th position from the end of every block, taking the best of its words
   (ties to the longer one);
3. the walk marks where tokens start; runs of single characters that are not a word go to
   the HMM, whose Viterbi search also runs over all runs at once (ties as jieba's
   `max((prob, state))`: the later state letter wins).

Everything the search needs (trie, log probabilities, HMM tables) is built once from the
tokenizer's dictionary and kept as a plain .npz beside jieba's prefix cache, so a fresh
process loads arrays instead of a 500,000-entry dict.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from nlp.cache import cache_folder
from nlp.keytable import KeyTable

log = logging.getLogger(__name__)

# Bump when the arrays below change meaning: old cache files are then ignored.
FORMAT = 2
# Characters of one batch step: bounds the (chars x longest word) route matrix (~10 MB).
CHUNK_CHARS = 60_000

# jieba's re_han_default: the characters that form blocks cut by the dictionary route.
_BLOCK_LAST = 0x9FD5
_HAN_FIRST = 0x4E00
# Code points that str.isspace() accepts all lie below this (and U+3000, the last, is below).
_SPACE_BELOW = 0x3001
_B, _M, _S, _E = 0, 1, 2, 3


def _block_table() -> np.ndarray:
    table = np.zeros(_BLOCK_LAST + 2, dtype=bool)  # the last entry: everything above
    table[_HAN_FIRST : _BLOCK_LAST + 1] = True
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+#&._%-":
        table[ord(ch)] = True
    return table


def _space_table() -> np.ndarray:
    table = np.zeros(_SPACE_BELOW + 1, dtype=bool)
    table[[c for c in range(_SPACE_BELOW) if chr(c).isspace()]] = True
    return table


class ArraySegmenter:
    """A read-only copy of one tokenizer's dictionary and HMM as arrays; `cut_many` cuts."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.digits = arrays["digits"]  # code point -> 1 … base-1 (0: in no dictionary word)
        self.base = int(arrays["base"])
        self.first = arrays["first"]  # digit -> node of the one-character prefix (0: none)
        self.children = KeyTable.from_slots(
            arrays["slot_keys"], arrays["slot_ids"], int(arrays["max_probe"])
        )
        self.logp = arrays["logp"]  # node -> log(freq) - log(total), -inf for a prefix only
        self.logtotal = float(arrays["logtotal"])
        self.hmm_start = arrays["hmm_start"]  # B M S E
        self.hmm_trans = arrays["hmm_trans"]  # EB SB MM BM SS ES BE ME
        self.hmm_emit = arrays["hmm_emit"]  # (4, Han span + 1): B M S E, last column: unknown
        self.hmm_low = float(arrays["hmm_low"])
        self.block = _block_table()
        self.space = _space_table()
        self._mixed_cache: dict[str, list[str]] = {}

    # -- building --------------------------------------------------------------------------
    @staticmethod
    def arrays_from(tk, finalseg) -> dict[str, np.ndarray]:
        """The arrays of an initialised jieba Tokenizer `tk` (and jieba's finalseg tables)."""
        block = _block_table()
        keys = [k for k in tk.FREQ if k and all(block[min(ord(c), _BLOCK_LAST + 1)] for c in k)]
        node = {k: i for i, k in enumerate(keys, 1)}
        alphabet = sorted({c for k in keys for c in k})
        digits = np.zeros(_BLOCK_LAST + 2, dtype=np.int32)
        digits[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1, dtype=np.int32)
        base = len(alphabet) + 1
        first = np.zeros(base, dtype=np.int32)
        child_keys, child_ids = [], []
        for k, i in node.items():
            if len(k) == 1:
                first[digits[ord(k)]] = i
            else:
                child_keys.append(node[k[:-1]] * base + int(digits[ord(k[-1])]))
                child_ids.append(i)
        table = KeyTable(
            np.array(child_keys, dtype=np.int64), np.array(child_ids, dtype=np.int64), load=0.25
        )
        logtotal = math.log(tk.total)
        logp = np.full(len(keys) + 1, -np.inf)
        # The same float operation as jieba: log(freq) - log(total), in Python.
        logp[1:] = [math.log(tk.FREQ[k]) - logtotal if tk.FREQ[k] else -np.inf for k in keys]
        low = finalseg.MIN_FLOAT
        emit = np.full((4, _BLOCK_LAST - _HAN_FIRST + 2), low)
        for row, state in enumerate("BMSE"):
            for ch, p in finalseg.emit_P[state].items():
                if _HAN_FIRST <= ord(ch) <= _BLOCK_LAST:
                    emit[row, ord(ch) - _HAN_FIRST] = p
        t = finalseg.trans_P
        trans = [t[a].get(b, low) for a, b in ("EB", "SB", "MM", "BM", "SS", "ES", "BE", "ME")]
        return {
            "digits": digits,
            "base": np.int64(base),
            "first": first,
            "slot_keys": table.keys,
            "slot_ids": table.ids.astype(np.int32),
            "max_probe": np.int64(table.max_probe),
            "logp": logp,
            "logtotal": np.float64(logtotal),
            "hmm_start": np.array([finalseg.start_P[s] for s in "BMSE"]),
            "hmm_trans": np.array(trans),
            "hmm_emit": emit,
            "hmm_low": np.float64(low),
        }

    # -- cutting ---------------------------------------------------------------------------
    def cut_many(self, texts: list[str]) -> list[list[str]]:
        """Tokens of each cleaned text, whitespace dropped: `Tokenizer.tokens` of each."""
        out: list[list[str]] = []
        start = size = 0
        for i, text in enumerate(texts):
            size += len(text) + 1
            if size >= CHUNK_CHARS:
                out += self._cut_chunk(texts[start : i + 1])
                start, size = i + 1, 0
        if start < len(texts):
            out += self._cut_chunk(texts[start:])
        return out

    def _cut_chunk(self, texts: list[str]) -> list[list[str]]:
        joined = "\n".join(texts) + "\n"  # "\n" is neither a block character nor a token
        cp = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cp = np.minimum(cp, _BLOCK_LAST + 1).astype(np.int64)
        n = len(cp)
        in_block = self.block[cp]
        digit = np.where(in_block, self.digits[cp], 0).astype(np.int64)

        # 1. Every dictionary prefix starting at every position, one trie level per step.
        levels = []  # (positions, nodes) of prefixes of length 1, 2, …
        pos = np.flatnonzero(digit)
        nodes = self.first[digit[pos]].astype(np.int64)
        while len(pos):
            keep = nodes > 0
            pos, nodes = pos[keep], nodes[keep]
            if not len(pos):
                break
            levels.append((pos, nodes))
            nxt = digit[pos + len(levels)]  # never past the end: the last character is "\n"
            keep = nxt > 0
            pos = pos[keep]
            nodes = self.children.lookup(nodes[keep] * self.base + nxt[keep])
        width = max(len(levels), 1)
        logp = np.full((n, width), -np.inf)
        for j, (p, nd) in enumerate(levels):
            logp[p, j] = self.logp[nd]
        word_lp = logp[:, 1:].copy() if width > 1 else None  # words of 2+ characters
        # No word at all starting here: the single character, with frequency 1 (as jieba).
        lonely = in_block & ~np.isfinite(logp).any(axis=1)
        logp[lonely, 0] = -self.logtotal

        # 2. The most probable route, right to left over all blocks at once.
        edge = np.diff(np.concatenate(([False], in_block, [False])).astype(np.int8))
        starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        block_pos = np.flatnonzero(in_block)
        end_of = ends[np.searchsorted(ends, block_pos, side="right")]
        dist = end_of - 1 - block_pos
        order = block_pos[np.argsort(dist, kind="stable")]
        bounds = np.concatenate(([0], np.cumsum(np.bincount(dist)))) if len(dist) else [0]
        route = np.zeros(n + width + 1)
        length = np.ones(n, dtype=np.int64)
        offsets = np.arange(1, width + 1)
        last = width - 1
        for k in range(len(bounds) - 1):
            p = order[bounds[k] : bounds[k + 1]]
            cand = logp[p] + route[p[:, None] + offsets]
            best = last - np.argmax(cand[:, ::-1], axis=1)  # ties: the longer word
            route[p] = cand[np.arange(len(p)), best]
            length[p] = best + 1

        # 3. The walk: where tokens start inside blocks.
        tok = np.zeros(n + 1, dtype=bool)
        cur = starts
        while len(cur):
            tok[cur] = True
            cur = cur + length[cur]
            cur = cur[in_block[cur]]
        tok = tok[:n]
        single = tok & (length == 1)
        # Runs of single characters: one token, the characters (a word), or the HMM's cut.
        sedge = np.diff(np.concatenate(([False], single, [False])).astype(np.int8))
        run_s, run_e = np.flatnonzero(sedge == 1), np.flatnonzero(sedge == -1)
        run_len = run_e - run_s
        multi = run_len >= 2
        run_s, run_len = run_s[multi], run_len[multi]
        if word_lp is not None:
            fits = run_len <= width
            is_word = np.zeros(len(run_s), dtype=bool)
            is_word[fits] = np.isfinite(word_lp[run_s[fits], run_len[fits] - 2])
        else:
            is_word = np.zeros(len(run_s), dtype=bool)
        hmm_s, hmm_len = run_s[~is_word], run_len[~is_word]
        # Token starts outside HMM runs: block tokens plus lone non-space other characters.
        other = ~in_block & ~self.space[np.minimum(cp, _SPACE_BELOW)]
        plain = tok | other
        tok_len = np.where(tok, length, 1)
        cover = np.zeros(n + 1, dtype=np.int64)
        np.add.at(cover, hmm_s, 1)
        np.add.at(cover, hmm_s + hmm_len, -1)
        plain &= np.cumsum(cover[:n]) == 0
        p_start = np.flatnonzero(plain)
        p_end = p_start + tok_len[p_start]
        h_start, h_end = self._hmm_words(joined, cp, hmm_s, hmm_len)
        t_start = np.concatenate((p_start, h_start))
        t_end = np.concatenate((p_end, h_end))
        order = np.argsort(t_start, kind="stable")
        t_start, t_end = t_start[order], t_end[order]

        # Tokens as strings, then cut at the text boundaries.
        text_ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
        cuts = np.searchsorted(t_start, text_ends).tolist()
        words = [joined[a:b] for a, b in zip(t_start.tolist(), t_end.tolist(), strict=True)]
        out, prev = [], 0
        for c in cuts:
            out.append(words[prev:c])
            prev = c
        return out

    def _hmm_words(self, joined, cp, run_s, run_len) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of the HMM's words in runs of single characters (`hmm_cut`)."""
        if not len(run_s):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        # Runs of Han characters only go through the array Viterbi; the others (codes like
        # A3区, decimals) through nlp.segment.hmm_cut, remembered: they repeat.
        han = (cp >= _HAN_FIRST) & (cp <= _BLOCK_LAST)
        han_sum = np.concatenate(([0], np.cumsum(han)))
        all_han = han_sum[run_s + run_len] - han_sum[run_s] == run_len
        starts, ends = [], []
        mixed = np.flatnonzero(~all_han)
        if len(mixed):
            from nlp.segment import hmm_cut

            cache = self._mixed_cache
            ms, me = [], []
            for s, m in zip(run_s[mixed].tolist(), run_len[mixed].tolist(), strict=True):
                buf = joined[s : s + m]
                pieces = cache.get(buf)
                if pieces is None:
                    pieces = list(hmm_cut(buf))
                    if len(cache) < 100_000:
                        cache[buf] = pieces
                at = s
                for piece in pieces:
                    ms.append(at)
                    at += len(piece)
                    me.append(at)
            starts.append(np.array(ms, dtype=np.int64))
            ends.append(np.array(me, dtype=np.int64))
        keep = np.flatnonzero(all_han)
        if len(keep):
            s, e = self._viterbi_words(cp, run_s[keep], run_len[keep])
            starts.append(s)
            ends.append(e)
        return np.concatenate(starts), np.concatenate(ends)

    def _viterbi_words(self, cp, run_s, run_len) -> tuple[np.ndarray, np.ndarray]:
        # Longest runs first, so that the runs still going at step t are a prefix.
        order = np.argsort(-run_len, kind="stable")
        run_s, run_len = run_s[order], run_len[order]
        longest = int(run_len[0])
        alive = np.searchsorted(-run_len, -np.arange(longest), side="left")  # runs with len > t
        e_b, e_m, e_s, e_e = self.hmm_emit
        t_eb, t_sb, t_mm, t_bm, t_ss, t_es, t_be, t_me = self.hmm_trans.tolist()
        sb, sm, ss, se = self.hmm_start.tolist()
        c = cp[run_s] - _HAN_FIRST
        vb, vm, vs, ve = sb + e_b[c], sm + e_m[c], ss + e_s[c], se + e_e[c]
        back = []  # per step: the previous state of B, M, S, E (4, alive)
        for t in range(1, longest):
            a = alive[t]
            c = cp[run_s[:a] + t] - _HAN_FIRST
            pb, pm, ps, pe = vb[:a], vm[:a], vs[:a], ve[:a]
            # Each state from the better of its two predecessors; `_best` gives ties to the
            # first one named, as jieba's max((prob, state)) gives them to the later letter.
            em = e_b[c]
            nb, fb = _best(ps + t_sb + em, pe + t_eb + em, _S, _E)  # B <- S or E
            em = e_m[c]
            nm, fm = _best(pm + t_mm + em, pb + t_bm + em, _M, _B)  # M <- M or B
            em = e_s[c]
            ns, fs = _best(ps + t_ss + em, pe + t_es + em, _S, _E)  # S <- S or E
            em = e_e[c]
            ne, fe = _best(pm + t_me + em, pb + t_be + em, _M, _B)  # E <- M or B
            vb[:a], vm[:a], vs[:a], ve[:a] = nb, nm, ns, ne  # all four computed first
            back.append(np.stack((fb, fm, fs, fe)))
        final = np.where(vs >= ve, _S, _E)
        # Back-tracking, last step first; a run joins when its own last character comes up.
        offset = np.concatenate(([0], np.cumsum(run_len)))[:-1]
        states = np.empty(int(run_len.sum()), dtype=np.int64)
        a = alive[longest - 1]
        cur = final[:a]
        states[offset[:a] + longest - 1] = cur
        for t in range(longest - 1, 0, -1):
            a_prev = alive[t - 1]
            prev = np.empty(a_prev, dtype=np.int64)
            prev[: len(cur)] = back[t - 1][cur, np.arange(len(cur))]
            prev[len(cur) :] = final[len(cur) : a_prev]
            states[offset[:a_prev] + t - 1] = prev
            cur = prev
        # A word ends after each S or E and at the end of its run.
        owner = np.repeat(np.arange(len(run_s)), run_len)
        index = np.arange(len(states)) - offset[owner]
        at = run_s[owner] + index
        ends_here = (states >= _S) | (index == run_len[owner] - 1)
        word_end = at[ends_here] + 1
        starts_here = np.concatenate(([True], ends_here[:-1])) | (index == 0)
        word_start = at[starts_here]
        return word_start, word_end


def _best(p: np.ndarray, q: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """max(p, q) element-wise and the state it came from: `a` where p >= q, else `b`."""
    first = p >= q
    return np.where(first, p, q), np.where(first, a, b)


def cache_path(userdict: list[str]) -> Path | None:
    """Where the arrays of jieba's dictionary plus `userdict` (its lines) are kept.

    Named by a digest of the user dictionary and of the size and time of jieba's dictionary
    and HMM files, found without importing jieba (0.13 s). None if jieba is not found.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("jieba")
        folder = Path(spec.submodule_search_locations[0])
        stamps = [
            (name, (folder / name).stat().st_size, (folder / name).stat().st_mtime_ns)
            for name in (
                "dict.txt",
                "finalseg/prob_emit.py",
                "finalseg/prob_trans.py",
                "finalseg/prob_start.py",
            )
        ]
    except (OSError, AttributeError, TypeError, IndexError, ImportError, ValueError):
        return None
    key = f"{FORMAT}\n{folder}\n{stamps}\n" + "\n".join(userdict)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    folder = cache_folder()
    return folder / f"minyi-segdict-{digest[:16]}.npz"


def load(path: Path | None) -> ArraySegmenter | None:
    """The segmenter kept at `path`, or None when it is missing or unreadable."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return ArraySegmenter({k: npz[k] for k in npz.files})
    except (OSError, ValueError, KeyError, EOFError):
        return None


def save(path: Path | None, arrays: dict[str, np.ndarray]) -> None:
    """Keep `arrays` at `path` atomically; a read-only folder only costs start-up time."""
    if path is None:
        return
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("segmenter arrays not written: %s", exc)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
