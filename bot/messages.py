"""Which channel messages are for the bot, and what they ask: plain functions over discord.py messages.

Nothing here sends anything; `bot.cog` decides what to do with the answers. A message is for the bot when it
mentions the bot (or the bot's own role), is a DM, is in a channel listed in ARCHIVEBOT_CHANNELS (or a thread
of one), is in a thread the bot started, or replies to one of the bot's answers.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import discord

from index import Turn

from .conversations import Conversations, turn_from_embed


def in_bot_thread(
    channel: discord.abc.MessageableChannel, me: discord.ClientUser | None, memory: Conversations
) -> bool:
    """A thread the bot started: remembered, or owned by the bot (a thread from before a restart)."""
    if channel.id in memory:
        return True
    return isinstance(channel, discord.Thread) and me is not None and channel.owner_id == me.id


def replied_answer(message: discord.Message, me: discord.ClientUser | None) -> discord.Message | None:
    """The bot's answer this message replies to, if it replies to one."""
    resolved = message.reference.resolved if message.reference else None
    if isinstance(resolved, discord.Message) and me and resolved.author.id == me.id and resolved.embeds:
        return resolved
    return None


def question_in(
    message: discord.Message, me: discord.ClientUser | None, channels: Collection[int], memory: Conversations
) -> str | None:
    """The question a message asks the bot ("" for a bare mention), or None when the message is not for the bot."""
    if me is None or message.author.bot or message.author.id == me.id:
        return None
    # The bot's own role (people often pick it from the mention list) counts as mentioning the bot.
    own_roles = [role.id for role in message.role_mentions if role.tags is not None and role.tags.bot_id == me.id]
    mentioned = bool(own_roles) or any(user.id == me.id for user in message.mentions)
    in_dm = message.guild is None
    parent_id = message.channel.parent_id if isinstance(message.channel, discord.Thread) else None
    listed = message.channel.id in channels or parent_id in channels
    conversation = in_bot_thread(message.channel, me, memory) or replied_answer(message, me) is not None
    if not (mentioned or in_dm or listed or conversation):
        return None
    text = re.sub(rf"<@!?{me.id}>", " ", message.content or "")
    for role_id in own_roles:
        text = text.replace(f"<@&{role_id}>", " ")
    text = " ".join(text.split())
    if not text and not (mentioned or in_dm):
        return None  # an image or sticker posted in a listed channel is not a question
    return text


def history_of(message: discord.Message, me: discord.ClientUser | None, memory: Conversations) -> list[Turn]:
    """The earlier turns a question follows: of the answer it replies to (remembered, else read from that
    answer's embed), or of the bot's thread it is asked in."""
    answered = replied_answer(message, me)
    if answered is not None:
        turns = memory.turns(answered.id)
        if not turns:
            recovered = turn_from_embed(answered.embeds[0].title, answered.embeds[0].description)
            turns = [recovered] if recovered else []
        return turns
    return memory.turns(message.channel.id)
