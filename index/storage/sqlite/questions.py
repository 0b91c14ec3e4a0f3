"""The embedded backend's question log (`QuestionLog`): the questions the archive could not answer or
answered unhelpfully (👎), for `archivebot gaps`.

Kept in the feedback database file (never blocked by a reindex). Holds the question text, when it was
asked (ISO UTC), the server (guild) id and why it is a gap; never a user id. A 👎 counts once per answer
(`answer_key`, the id of the answer the buttons belong to, is unique); a declined question once per asking.
"""

from __future__ import annotations

from index._rows import KINDS, AskedQuestion
from index.storage.sqlite.schema import Connected

QUESTIONS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at TEXT NOT NULL,
    guild_id TEXT,
    question TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(f"'{kind}'" for kind in KINDS)})),
    answer_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS questions_asked_at ON questions(asked_at);
"""


class QuestionQueries(Connected):
    async def record_question(self, entry: AskedQuestion, answer_key: str | None = None) -> None:
        """Store one question; a second 👎 on the same answer is ignored."""
        await self._db.execute(
            "INSERT INTO questions (asked_at, guild_id, question, kind, answer_key) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(answer_key) DO NOTHING",
            (entry.asked_at, entry.guild_id, entry.question, entry.kind, answer_key),
        )

    async def questions_since(self, asked_at: str | None) -> list[AskedQuestion]:
        """The questions asked at or after `asked_at` (all of them for None), oldest first."""
        rows = await self._rows(
            "SELECT question, asked_at, guild_id, kind FROM questions WHERE asked_at >= ? ORDER BY asked_at, id",
            (asked_at or "",),
        )
        return [AskedQuestion(question, when, guild, kind) for question, when, guild, kind in rows]

    async def purge_questions(self, before: str) -> int:
        """Delete the questions asked before `before` (ISO UTC); returns how many."""
        cursor = await self._db.execute("DELETE FROM questions WHERE asked_at < ?", (before,))
        deleted = cursor.rowcount
        await cursor.close()
        return max(deleted, 0)
