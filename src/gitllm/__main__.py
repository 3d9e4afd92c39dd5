"""`python -m gitllm`: the `gitllm` command."""

import sys

from gitllm.cli import main

sys.exit(main())
