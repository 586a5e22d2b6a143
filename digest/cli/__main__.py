"""`python -m digest.cli`: the same command line as `digest`."""

from digest.cli import main

main()
