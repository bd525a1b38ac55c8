"""`python -m autograder ...`; see cli.py."""
import sys

from autograder.cli import main

sys.exit(main())
