"""Follows on Discord: the notice a follow gets, the list /follows shows and its remove buttons. The matching
is the engine's (`index.match_follows`); this module only says it on Discord, never mentioning anyone."""

from __future__ import annotations

import logging

import discord

from index import Follow, FollowMatch, FollowStore

from . import limits
from .discord_format import archive_text, follow_notice_embed
from .text import one_line

logger = logging.getLogger("archivebot.bot")

NO_MENTIONS = discord.AllowedMentions.none()
LIST_TIMEOUT = 15 * 60  # seconds the remove buttons under /follows work


async def post_notice(client: discord.Client, match: FollowMatch, public_url: str = "") -> discord.Message:
    """Tell a follow's owner, in the channel (or DM) where they made it: the new article's best quote."""
    follow = match.follow
    channel = client.get_partial_messageable(follow.channel_id, guild_id=follow.guild_id)
    content = f"<@{follow.owner_id}>, a new article matches your follow:" if follow.guild_id is not None else None
    return await channel.send(
        content=content, embed=follow_notice_embed(match, public_url), allowed_mentions=NO_MENTIONS
    )


def followed_text(follow: Follow) -> str:
    """What /follow (or the Follow button under an answer) tells the user once the follow is made."""
    where = "here" if follow.guild_id is not None else "in this DM"
    return limits.trim(
        f"Following “{archive_text(one_line(follow.query), 300)}” (id `{follow.id}`): I'll post {where} when a new"
        f" article answers it. /follows lists yours; /unfollow {follow.id} stops it.",
        limits.CONTENT,
    )


def follows_text(follows: list[Follow]) -> str:
    """/follows: the user's follows, each with its id (for /unfollow) and where its notices go."""
    if not follows:
        return "You follow nothing yet. Use /follow with some words, e.g. /follow harbour bridge repairs."
    lines = [f"You follow {len(follows)} stor{'y' if len(follows) == 1 else 'ies'}:"]
    for follow in follows:
        where = f"<#{follow.channel_id}>" if follow.guild_id is not None else "this DM"
        lines.append(limits.trim(f"• `{follow.id}` “{one_line(follow.query)}” — notices in {where}", 400))
    return limits.trim("\n".join(lines), limits.CONTENT)


class RemoveFollowButton(discord.ui.Button["FollowListView"]):
    def __init__(self, follow: Follow) -> None:
        super().__init__(label=f"Remove {follow.id}", style=discord.ButtonStyle.secondary)
        self.follow = follow

    async def callback(self, interaction: discord.Interaction) -> None:
        view = self.view
        assert view is not None
        removed = await view.store.remove_follow(self.follow.id, owner_id=interaction.user.id)
        self.disabled = True
        view.remaining = [follow for follow in view.remaining if follow.id != self.follow.id]
        text = follows_text(view.remaining)
        if not removed:
            text = f"`{self.follow.id}` was already removed.\n" + text
        await interaction.response.edit_message(content=limits.trim(text, limits.CONTENT), view=view)


class FollowListView(discord.ui.View):
    """A remove button per follow (at most 25, Discord's limit), for the user who asked only."""

    def __init__(self, store: FollowStore, follows: list[Follow], owner_id: int) -> None:
        super().__init__(timeout=LIST_TIMEOUT)
        self.store = store
        self.owner_id = owner_id
        self.remaining = list(follows)
        for follow in follows[:25]:
            self.add_item(RemoveFollowButton(follow))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These buttons belong to whoever ran /follows.", ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        return False
