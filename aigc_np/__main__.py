"""``python -m aigc_np``: see aigc_np/cli.py."""
import sys

from .cli import main

sys.exit(main())
