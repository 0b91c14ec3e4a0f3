"""The embedded backend's feedback database: votes on answers (`FeedbackLog`) and the question log
(`QuestionLog`, for `archivebot gaps`), in their own file so a reindex never blocks them.

The question log holds the question text, when it was asked (ISO UTC), the server (guild) id and why it is a
gap; never a user id. A 👎 counts once per answer (`answer_key`, the id of the answer the buttons belong to,
is unique); a declined question once per asking.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from index._rows import AskedQuestion
from index.storage.sqlite.schema import fetch, open_feedback_database


class SqliteFeedback:
    """The `FeedbackLog` and `QuestionLog` of a data directory (one connection to its feedback file)."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> SqliteFeedback:
        return cls(await open_feedback_database(path))

    async def close(self) -> None:
        await self._db.close()

    async def record(
        self,
        *,
        answer_key: str,
        user_id: str,
        guild_id: str | None,
        question: str,
        article_ids: Sequence[str],
        helpful: bool,
    ) -> None:
        """One vote per user per answer: a second click changes the vote."""
        await self._db.execute(
            "INSERT INTO feedback (answer_key, user_id, guild_id, question, article_ids, helpful)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(answer_key, user_id) DO UPDATE SET helpful = excluded.helpful",
            (answer_key, user_id, guild_id, question, ",".join(article_ids), int(helpful)),
        )

    async def counts(self) -> dict[str, int]:
        rows = await fetch(self._db, "SELECT coalesce(sum(helpful), 0), coalesce(sum(1 - helpful), 0) FROM feedback")
        helpful, unhelpful = rows[0] if rows else (0, 0)
        return {"helpful": int(helpful), "unhelpful": int(unhelpful)}

    async def record_question(self, entry: AskedQuestion, answer_key: str | None = None) -> None:
        """Store one question; a second 👎 on the same answer is ignored."""
        await self._db.execute(
            "INSERT INTO questions (asked_at, guild_id, question, kind, answer_key) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(answer_key) DO NOTHING",
            (entry.asked_at, entry.guild_id, entry.question, entry.kind, answer_key),
        )

    async def questions_since(self, asked_at: str | None) -> list[AskedQuestion]:
        """The questions asked at or after `asked_at` (all of them for None), oldest first."""
        rows = await fetch(
            self._db,
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
