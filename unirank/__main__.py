import sys

from unirank.cli import main

sys.exit(main())
