"""``python -m aigc_np``: see aigc_np/cli/__init__.py."""
import sys

from .cli import main

sys.exit(main())
