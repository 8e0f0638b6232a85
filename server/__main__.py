import sys

from rigorlab.server.cli import main

sys.exit(main())
