"""Allow `python -m convrec.cli`."""

import sys

from convrec.cli import main

sys.exit(main())
