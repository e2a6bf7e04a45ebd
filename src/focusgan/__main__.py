"""`python -m focusgan ...` (also what `torchrun -m focusgan train ...` runs)."""

from focusgan.cli import main

raise SystemExit(main())
