"""`python -m mocar` is the same as the `mocar` command."""
import sys

from mocar.cli import main

sys.exit(main())
