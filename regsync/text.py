"""Text: normalisation, similarity and the word-level diff shown for long fields.

Registry text arrives as markdown (v2 API with ``markupFormat=markdown``) or, in the
registry's own history, as HTML with entities; both are reduced to lower-case alphanumeric
tokens before anything is compared, so case, punctuation, markup and spacing never count
as a change of meaning.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Literal

_WORD = re.compile(r"[a-z0-9]+|[<>=%\u2264\u2265]")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

# Control characters other than tab and newline: C0, DEL and C1. Registry text holding ESC
# or an OSC sequence would drive the reader's terminal (escape injection, also into cron
# mail); NUL and the rest make an Atom feed invalid XML.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Registry text made safe for any output (terminal, feed, e-mail): each control
    character other than tab and newline shown as its escape (``\\x1b``), the rest kept."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def plural(n: int, one: str, many: str | None = None) -> str:
    """``1 study``, ``2 studies``, ``0 changes``: a count with its noun in the right number
    (``many`` defaults to ``one`` + s)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def signed(n: int, one: str) -> str:
    """A change with its sign: ``+1 day``, ``-184 days``."""
    return f"{n:+d} {one if abs(n) == 1 else one + 's'}"


# Words that carry no meaning of their own when two phrasings of a measure are compared.
STOP_WORDS = frozenset({
    "of", "with", "in", "on", "the", "a", "an", "and", "for", "to", "at", "by", "using",
    "as", "from", "per", "or", "who", "is", "are", "be", "least", "any",
})


# Words that say how a measure is expressed, not what is measured ("Number of participants
# with X" and "Percentage of patients with X" are one measure).
UNIT_WORDS = frozenset({"percentage", "percent", "number", "proportion", "rate", "count",
                        "participants", "patients", "subjects"})


def unmarkup(s: str) -> str:
    """Drop HTML tags and decode entities (the registry's history pages carry both)."""
    import html

    return html.unescape(_TAG.sub(" ", s))


def norm_text(s: Any) -> str:
    """Lower-case alphanumeric tokens joined by spaces (case/punctuation/space-insensitive)."""
    if not isinstance(s, str):
        return "" if s is None else str(s)
    return " ".join(_WORD.findall(unmarkup(s).lower()))


def tokens(s: Any, ignore: Collection[str] = ()) -> set[str]:
    return set(norm_text(s).split()) - STOP_WORDS - set(ignore)


def token_similarity(a: Any, b: Any, ignore: Collection[str] = ()) -> float:
    """Jaccard similarity of the content words of ``a`` and ``b`` (1.0 when both have none)."""
    ta, tb = tokens(a, ignore), tokens(b, ignore)
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def containment(a: Any, b: Any) -> float:
    """Share of the smaller token set found in the larger one (0 if either has < 3 tokens)."""
    ta, tb = tokens(a), tokens(b)
    if len(ta) < 3 or len(tb) < 3:
        return 0.0
    return len(ta & tb) / min(len(ta), len(tb))


def numbers(s: Any) -> list[str]:
    """The numbers in a text, sorted: a dose, age or schedule that changed shows here."""
    if not isinstance(s, str):
        return []
    return sorted(_NUMBER.findall(s.replace("\u00d7", "x")))


def words_changed(a: str, b: str) -> int:
    """How many words were inserted, deleted or replaced from ``a`` to ``b``."""
    import difflib

    matcher = difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


TextEdit = Literal["whitespace", "formatting"]


def text_edit_kind(old: Any, new: Any) -> TextEdit | None:
    """'whitespace' or 'formatting' for a str -> str edit that changes no word; else None."""
    if not isinstance(old, str) or not isinstance(new, str):
        return None
    if old.split() == new.split():
        return "whitespace"
    if norm_text(old) == norm_text(new):
        return "formatting"
    return None


def trunc(v: Any, n: int = 100) -> str:
    """One line of at most ``n`` characters, whitespace collapsed; ``(none)`` for None."""
    if v is None:
        return "(none)"
    s = " ".join((v if isinstance(v, str) else str(v)).split())
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def change_excerpt(old: str, new: str, width: int = 100, context: int = 4) -> str:
    """The changed words of a long text in one line: ``word_diff`` with ``context`` words
    around each edit, whitespace collapsed, cut at ``width`` characters (so the first edit
    always shows). For a summary where both sides would otherwise be cut to the same text."""
    return trunc(text_diff(old, new, context), width)


# -- word diff -------------------------------------------------------------------------------

_TOKEN = re.compile(r"\n|[^\S\n]+|[^\s]+")
CONTEXT_WORDS = 8
# CommonMark backslash escapes of punctuation, as the API's markdown writes ``>`` or ``*``
# (``UACR \> 300 mg/g``): a person reads the text, not the escape. (regsync.normalize drops
# them too, with the rest of the markdown; a diff keeps the rest: line breaks, list marks.)
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def unescape_markdown(s: str) -> str:
    """``s`` without markdown's backslash escapes: ``\\>`` reads ``>``."""
    return _MD_ESCAPE.sub(r"\1", s) if "\\" in s else s


def text_diff(old: str, new: str, context: int = CONTEXT_WORDS) -> str:
    """``word_diff`` of the texts as a person reads them: markdown's backslash escapes
    dropped (``UACR > 300 mg/g``, not ``UACR \\> 300 mg/g``)."""
    return word_diff(unescape_markdown(old or ""), unescape_markdown(new or ""), context)


def word_diff(old: str, new: str, context: int = CONTEXT_WORDS) -> str:
    """A word-level diff in the notation of ``git diff --word-diff=plain``.

    Deletions are ``[-words-]``, insertions ``{+words+}``; line breaks are kept and long
    unchanged stretches are elided with `` … `` keeping ``context`` words either side. For
    people, ``text_diff``.
    """
    old, new = old or "", new or ""
    if old == new:
        return old
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    # Words are compared with every run of spaces as one space: re-spacing is not an edit.
    ka = [" " if t.isspace() and t != "\n" else t for t in a]
    kb = [" " if t.isspace() and t != "\n" else t for t in b]
    ops = _opcodes(_token_blocks(ka, kb), len(ka), len(kb))
    out: list[str] = []
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            out.append(_elide(b[j1:j2], context, keep_head=n > 0, keep_tail=n < len(ops) - 1))
            continue
        if tag in ("delete", "replace"):
            deleted = "".join(a[i1:i2]).strip(" \t")
            if deleted:
                out.append(f"[-{deleted}-]")
        if tag in ("insert", "replace"):
            inserted = "".join(b[j1:j2]).strip(" \t")
            if inserted:
                out.append(f"{{+{inserted}+}}")
    return re.sub(r"(-\]|\+\})(\[-|\{\+)", r"\1 \2", "".join(out))


# Why not one SequenceMatcher over all tokens (as before): with autojunk=False its
# find_longest_match costs the sum, over each token of ``old``, of that token's occurrences in
# ``new``; the space between every two words occurs n/2 times, so each call is quadratic and
# a 32,000-character description took 70 s.  The matching is therefore found in two passes:
#
# 1. Words only (no whitespace tokens, so nothing is that popular), after stripping the common
#    prefix and suffix (most edits are local); a long middle is first aligned by sentence and
#    line, and only changed sentences are compared word by word.  A changed region still too
#    long for autojunk=False (a wholesale rewrite) uses autojunk=True, which bounds the work
#    at the price of a coarser diff there.
# 2. The whitespace is re-attached by replaying SequenceMatcher's own recursion on tokens,
#    with the word blocks as the candidates for "the longest match in this range" and a real
#    SequenceMatcher only inside the small gaps between them.  Which neighbour of an
#    insertion claims the shared space, and the lone spaces matched inside a replaced phrase,
#    come out as the single token-level SequenceMatcher had them, so the output is the same
#    text as before except where several alignments are equally good.  A gap too large for
#    that (a rewrite) is shown as one replacement, so the total work stays bounded.
_SMALL_WORDS = 1500  # a word range up to this size gets SequenceMatcher(autojunk=False)
_GAP_CELLS = 10_000  # token-level SequenceMatcher only on gaps with len(a) * len(b) <= this
_GAP_BUDGET = 400_000  # ... and on all gaps of one diff together
_SENTENCE_END = (".", "!", "?", ";", ":")

_Block = tuple[int, int, int]  # (i, j, size): a[i:i+size] == b[j:j+size]


def _token_blocks(ka: list[str], kb: list[str]) -> list[_Block]:
    """The matching blocks of ``ka`` and ``kb`` (tokens), as SequenceMatcher would find them."""
    import difflib  # only when a diff is shown or judged: read commands start without it

    wa = [i for i, t in enumerate(ka) if t != " "]
    wb = [j for j, t in enumerate(kb) if t != " "]
    xa, xb = [ka[i] for i in wa], [kb[j] for j in wb]
    word_blocks: list[_Block] = []
    _match_words(xa, xb, 0, len(xa), 0, len(xb), word_blocks, by_sentence=True)
    # Word blocks -> token anchors; an anchor is cut where the whitespace between two of its
    # words differs in kind (a space in one text, a line break or nothing in the other).
    anchors: list[_Block] = []
    for i, j, k in sorted(word_blocks):
        s = 0
        for t in range(1, k):
            if ka[wa[i + t - 1] + 1: wa[i + t]] != kb[wb[j + t - 1] + 1: wb[j + t]]:
                anchors.append((wa[i + s], wb[j + s], wa[i + t - 1] + 1 - wa[i + s]))
                s = t
        anchors.append((wa[i + s], wb[j + s], wa[i + k - 1] + 1 - wa[i + s]))

    blocks: list[_Block] = []
    budget = _GAP_BUDGET
    queue = [(0, len(ka), 0, len(kb), 0, len(anchors))]
    while queue:
        alo, ahi, blo, bhi, p, q = queue.pop()
        if alo >= ahi or blo >= bhi:
            continue
        if p < q:  # the longest anchor, grown over equal tokens within the range
            best, bi, bj, bk = -1, 0, 0, 0
            for n in range(p, q):
                i, j, k = anchors[n]
                d = max(0, alo - i, blo - j)  # a neighbour grown over part of it
                i, j, k = i + d, j + d, min(k - d, ahi - i - d, bhi - j - d)
                if k <= 0:
                    continue
                while i > alo and j > blo and ka[i - 1] == kb[j - 1]:
                    i, j, k = i - 1, j - 1, k + 1
                while i + k < ahi and j + k < bhi and ka[i + k] == kb[j + k]:
                    k += 1
                if k > bk:
                    best, bi, bj, bk = n, i, j, k
            if bk == 1:  # a lone space earlier in ``a`` ties with a lone word and wins
                i = next((i for i in range(alo, bi) if ka[i] == " "), -1)
                j = next((j for j in range(blo, bhi) if kb[j] == " "), -1) if i >= 0 else -1
                if j >= 0:
                    blocks.append((i, j, 1))
                    queue.append((alo, i, blo, j, p, q))
                    queue.append((i + 1, ahi, j + 1, bhi, p, q))
                    continue
            if bk:
                blocks.append((bi, bj, bk))
                queue.append((alo, bi, blo, bj, p, best))
                queue.append((bi + bk, ahi, bj + bk, bhi, best + 1, q))
                continue
        cells = (ahi - alo) * (bhi - blo)
        if cells <= _GAP_CELLS and cells <= budget:
            budget -= cells
            sm = difflib.SequenceMatcher(None, ka[alo:ahi], kb[blo:bhi], autojunk=False)
            blocks += [(alo + i, blo + j, k) for i, j, k in sm.get_matching_blocks() if k]
    return _merge(blocks)


def _match_words(x: list[str], y: list[str], xlo: int, xhi: int, ylo: int, yhi: int,
                 out: list[_Block], *, by_sentence: bool) -> None:
    """Append the matching blocks of ``x[xlo:xhi]`` and ``y[ylo:yhi]`` (words) to ``out``."""
    import difflib

    k = 0
    while xlo + k < xhi and ylo + k < yhi and x[xlo + k] == y[ylo + k]:
        k += 1
    if k:
        out.append((xlo, ylo, k))
        xlo, ylo = xlo + k, ylo + k
    k = 0
    while xhi - k > xlo and yhi - k > ylo and x[xhi - k - 1] == y[yhi - k - 1]:
        k += 1
    if k:
        out.append((xhi - k, yhi - k, k))
        xhi, yhi = xhi - k, yhi - k
    if xlo >= xhi or ylo >= yhi:
        return
    big = max(xhi - xlo, yhi - ylo) > _SMALL_WORDS
    if big and by_sentence:
        sx, sy = _sentences(x, xlo, xhi), _sentences(y, ylo, yhi)
        if len(sx) > 2 or len(sy) > 2:
            kx = [tuple(x[s:e]) for s, e in sx]
            ky = [tuple(y[s:e]) for s, e in sy]
            by_s = difflib.SequenceMatcher(None, kx, ky, autojunk=max(len(kx), len(ky)) > _SMALL_WORDS)
            for tag, i1, i2, j1, j2 in by_s.get_opcodes():
                x1 = sx[i1][0] if i1 < len(sx) else xhi
                x2 = sx[i2 - 1][1] if i2 > i1 else x1
                y1 = sy[j1][0] if j1 < len(sy) else yhi
                y2 = sy[j2 - 1][1] if j2 > j1 else y1
                if tag == "equal":
                    out.append((x1, y1, x2 - x1))
                else:
                    _match_words(x, y, x1, x2, y1, y2, out, by_sentence=False)
            return
    sm = difflib.SequenceMatcher(None, x[xlo:xhi], y[ylo:yhi], autojunk=big)
    out += [(xlo + i, ylo + j, n) for i, j, n in sm.get_matching_blocks() if n]


def _sentences(x: list[str], lo: int, hi: int) -> list[tuple[int, int]]:
    """``x[lo:hi]`` cut after each word ending a sentence and at each line break."""
    spans, start = [], lo
    for n in range(lo, hi):
        if x[n] == "\n" or x[n].endswith(_SENTENCE_END):
            spans.append((start, n + 1))
            start = n + 1
    if start < hi:
        spans.append((start, hi))
    return spans


def _merge(blocks: list[_Block]) -> list[_Block]:
    """Sorted blocks with adjacent ones joined, as SequenceMatcher.get_matching_blocks has them."""
    out: list[_Block] = []
    for i, j, k in sorted(blocks):
        if out and out[-1][0] + out[-1][2] == i and out[-1][1] + out[-1][2] == j:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + k)
        else:
            out.append((i, j, k))
    return out


def _opcodes(blocks: list[_Block], la: int, lb: int) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher.get_opcodes for the matching ``blocks`` of sequences of ``la``/``lb``."""
    ops: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    for ai, bj, size in [*blocks, (la, lb, 0)]:
        tag = "replace" if i < ai and j < bj else "delete" if i < ai else "insert" if j < bj else ""
        if tag:
            ops.append((tag, i, ai, j, bj))
        i, j = ai + size, bj + size
        if size:
            ops.append(("equal", ai, i, bj, j))
    return ops


def _elide(seg: list[str], context: int, *, keep_head: bool, keep_tail: bool) -> str:
    words = [t for t in seg if not t.isspace()]
    if len(words) <= context * (keep_head + keep_tail) + 3:
        return "".join(seg)
    head = _take_words(seg, context) if keep_head else []
    tail = _take_words(seg[::-1], context)[::-1] if keep_tail else []
    return "".join(head) + (" … " if head or tail else "…") + "".join(tail).lstrip()


def _take_words(seg: list[str], n: int) -> list[str]:
    out: list[str] = []
    count = 0
    for t in seg:
        if not t.isspace():
            count += 1
            if count > n:
                break
        out.append(t)
    return out
