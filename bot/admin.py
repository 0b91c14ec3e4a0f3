"""Who may run the admin commands (/reindex): Manage Server, plus a configured role when there is one."""

from __future__ import annotations

import discord
from discord import app_commands

from .app import ArchiveBot
from .config import BotConfig


class NotArchiveAdmin(app_commands.CheckFailure):
    """The member may not run admin commands."""


def is_archive_admin(member: discord.abc.User, permissions: discord.Permissions, config: BotConfig) -> bool:
    """Manage Server (or Administrator) permission, plus one of ARCHIVEBOT_ADMIN_ROLE_IDS when that is set."""
    if not (permissions.manage_guild or permissions.administrator):
        return False
    if config.admin_role_ids:
        roles = {role.id for role in getattr(member, "roles", [])}
        return bool(roles & config.admin_role_ids)
    return True


def admin_check(interaction: discord.Interaction[ArchiveBot]) -> bool:
    """An app-command check: in a server, by an archive admin; else `NotArchiveAdmin`."""
    config = interaction.client.config
    if interaction.guild is None or not is_archive_admin(interaction.user, interaction.permissions, config):
        raise NotArchiveAdmin("admin only")
    return True


def refusal_text(config: BotConfig) -> str:
    """What someone who is not an archive admin is told."""
    role = " and an admin role" if config.admin_role_ids else ""
    return f"Only server admins (Manage Server{role}) can run this command."
