"""ProPainter editor: ``python main.py`` opens the editor; ``python main.py COMMAND ...`` runs
headless (``python main.py --help`` lists the commands). The same as ``propainter-editor``."""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Running from a checkout without `pip install -e .` still finds the packages.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from editor.cli import main

    sys.exit(main(sys.argv[1:]))
