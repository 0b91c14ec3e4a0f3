"""`python -m bot.web`: the same as `archivebot serve`."""

from .command import main

main()
