"""`python -m msbiqa`: the `msbiqa` command line."""

import sys

from msbiqa.cli import main

sys.exit(main())
