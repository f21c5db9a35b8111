"""`python -m services.registry.bulk import|export ...`: see services/registry/bulk/__init__.py."""

import sys

from services.registry.bulk.cli import main

if __name__ == "__main__":
    sys.exit(main())
