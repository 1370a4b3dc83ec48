"""The policy knowledge base: SQLite FTS5 full-text search with BM25 ranking, in memory.

The bundled policies are short Markdown files (`data/policies/*.md`: a `# Title` line, an optional
`Tags:` line, then the text). They are indexed once into an in-memory FTS5 table with the porter
stemmer over unicode61 tokens, title and tags weighted above the text. Queries are free text from
emails, so they are never passed to FTS5 as syntax: words are extracted, stop words dropped, and each
word is quoted as a phrase and OR-ed, which makes a syntax error impossible whatever the input.

FTS5's BM25 of an OR query is the sum, phrase by phrase and in query order, of each phrase's own
score, so a search adds up per-word scores that FTS5 computed once per distinct word and that are
remembered: the same ranking and the same scores, bit for bit, without a query per request.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

MAX_QUERY_TERMS = 24
REMEMBERED_TERMS = 50_000
_TITLE_WEIGHT, _TAGS_WEIGHT, _TEXT_WEIGHT = 4.0, 3.0, 1.0
_TERM = re.compile(r"[^\W_]+", re.UNICODE)
_STOP_WORD_TEXT = """
    a an and are as at be been but by can could do does for from had has have hello hi i if in into is it
    its me my no not of on or our please re so that the their them then there these this to up us was we
    were what when which who will with would you your fwd fw aw dear thanks regards best
    der die das und ist nicht ich sie wir mit für bitte ein eine den dem zu auf
    el la los las que y de por para con una un es del se le les et des est pour pas vous nous"""
_STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())


class Passage(BaseModel):
    id: str
    title: str
    text: str
    score: float = Field(0.0, description="Relevance, higher is better (negated BM25).")


class PolicyDocument(BaseModel):
    id: str
    title: str
    tags: list[str] = Field(default_factory=list)
    text: str


def parse_policy(doc_id: str, markdown: str) -> PolicyDocument:
    """A policy file: '# Title', an optional 'Tags: a, b' line, then the text (lines re-joined)."""
    lines = markdown.strip().splitlines()
    title = lines[0].lstrip("#").strip() if lines else doc_id
    rest = lines[1:]
    tags: list[str] = []
    if rest and rest[0].lower().startswith("tags:"):
        tags = [tag.strip() for tag in rest[0].split(":", 1)[1].split(",") if tag.strip()]
        rest = rest[1:]
    paragraphs = "\n".join(rest).strip().split("\n\n")
    text = "\n\n".join(" ".join(line.strip() for line in para.splitlines()) for para in paragraphs)
    return PolicyDocument(id=doc_id, title=title, tags=tags, text=text)


def query_terms(text: str) -> list[str]:
    """The distinct content words of free text, in order, at most `MAX_QUERY_TERMS`."""
    terms: list[str] = []
    for word in _TERM.findall(text.lower()):
        if len(word) < 2 or word in _STOP_WORDS or word in terms:
            continue
        terms.append(word)
        if len(terms) == MAX_QUERY_TERMS:
            break
    return terms


def build_match_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: each distinct content word quoted, OR-ed together.

    Returns None when the text has no searchable word. Words only contain letters and digits, and
    are wrapped in double quotes, so the result is always valid FTS5 syntax.
    """
    terms = query_terms(text)
    if not terms:
        return None
    return " OR ".join(_phrase(term) for term in terms)


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class KnowledgeBase:
    """Ranked search over policy documents. Safe to share between threads and the event loop."""

    def __init__(self, documents: Iterable[PolicyDocument]) -> None:
        self._documents = {doc.id: doc for doc in documents}
        self._order = {doc_id: index for index, doc_id in enumerate(self._documents)}
        self._term_scores: dict[str, tuple[tuple[str, float], ...]] = {}  # word → (doc id, score)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE policies USING fts5("
            "doc_id UNINDEXED, title, tags, text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self._db.executemany(
            "INSERT INTO policies (doc_id, title, tags, text) VALUES (?, ?, ?, ?)",
            [(doc.id, doc.title, " ".join(doc.tags), doc.text) for doc in self._documents.values()],
        )
        self._db.commit()

    @classmethod
    def from_directory(cls, directory: Path) -> KnowledgeBase:
        """Every `*.md` file in `directory`, the file name (without `.md`) as the passage id."""
        return cls(
            parse_policy(path.stem, path.read_text("utf-8")) for path in sorted(directory.glob("*.md"))
        )

    @classmethod
    def bundled(cls) -> KnowledgeBase:
        """The Northwind Labs policies shipped with the package (built once per process, then shared)."""
        return _bundled()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, doc_id: str) -> PolicyDocument | None:
        return self._documents.get(doc_id)

    def search(self, query: str, limit: int = 3) -> list[Passage]:
        """The `limit` best passages for a free-text query, best first (ties in index order); []
        when nothing matches."""
        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        known = self._term_scores
        if any(term not in known for term in terms):
            self._learn(terms)
        scores: dict[str, float] = {}
        for term in terms:  # in query order, as FTS5 sums its phrases
            for doc_id, score in known.get(term, ()):
                scores[doc_id] = scores.get(doc_id, 0.0) + score
        ranked = sorted(scores, key=lambda doc_id: (-scores[doc_id], self._order[doc_id]))[:limit]
        passages = []
        for doc_id in ranked:
            doc = self._documents[doc_id]
            passages.append(
                Passage(id=doc.id, title=doc.title, text=doc.text, score=round(scores[doc_id], 4))
            )
        return passages

    def _learn(self, terms: list[str]) -> None:
        """Ask FTS5, in one statement, each matching document's BM25 score (positive) for every word
        not known yet."""
        with self._lock:
            new = [term for term in terms if term not in self._term_scores]
            if not new:
                return
            one = "SELECT ?, doc_id, bm25(policies, 0.0, ?, ?, ?) FROM policies WHERE policies MATCH ?"
            parameters: list[object] = []
            for index, term in enumerate(new):
                parameters += [index, _TITLE_WEIGHT, _TAGS_WEIGHT, _TEXT_WEIGHT, _phrase(term)]
            found: dict[int, list[tuple[str, float]]] = {index: [] for index in range(len(new))}
            for index, doc_id, rank in self._db.execute(" UNION ALL ".join([one] * len(new)), parameters):
                found[index].append((doc_id, -rank))
            if len(self._term_scores) + len(new) > REMEMBERED_TERMS:
                self._term_scores.clear()
            for index, term in enumerate(new):
                self._term_scores[term] = tuple(found[index])

    def close(self) -> None:
        with self._lock:
            self._db.close()


_bundled_lock = threading.Lock()
_bundled_kb: KnowledgeBase | None = None


def _bundled() -> KnowledgeBase:
    global _bundled_kb
    with _bundled_lock:
        if _bundled_kb is None:
            _bundled_kb = _load_bundled()
        return _bundled_kb


def _load_bundled() -> KnowledgeBase:
    root = resources.files("llmops.assistant") / "data" / "policies"
    documents = [
        parse_policy(entry.name.removesuffix(".md"), entry.read_text("utf-8"))
        for entry in sorted(root.iterdir(), key=lambda item: item.name)
        if entry.name.endswith(".md")
    ]
    return KnowledgeBase(documents)
