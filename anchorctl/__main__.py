"""``python -m anchorctl`` runs the command line."""

from anchorctl.cli import main

main()
