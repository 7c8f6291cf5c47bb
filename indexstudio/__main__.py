import sys

from indexstudio.cli import main

sys.exit(main())
