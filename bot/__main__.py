"""`python -m bot`: start the Discord bot (configuration from the environment and .env)."""

import sys

from .app import main

sys.exit(main())
