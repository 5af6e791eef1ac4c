import sys

from handvae.cli import main

sys.exit(main())
