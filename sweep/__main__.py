import os
import sys

try:
    from .commands.cli import main

    sys.exit(main())
except KeyboardInterrupt:  # Ctrl-C before the command's own handling begins (imports)
    print("sweep: interrupted", file=sys.stderr, flush=True)
    # not sys.exit: a Ctrl-C that landed in code run by PyRun_String (some imports) marks
    # the interpreter as killed by it, and it would end itself by SIGINT (-2) at exit
    os._exit(130)
