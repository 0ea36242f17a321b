import sys

try:
    from .commands.cli import main

    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C before the command's own handling begins (imports)
    print("sweep: interrupted", file=sys.stderr)
    sys.exit(130)
