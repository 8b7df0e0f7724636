#!/usr/bin/env python3
"""Build the synthetic English speech corpus (see wav2vec2_conformer/corpus.py).

bash scripts/install_tts.sh            # engines, voices, sox, texts (Debian, root)
python scripts/build_corpus.py --list-voices
python scripts/build_corpus.py --out /work/data/corpus --hours 10 --workers 1
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from wav2vec2_conformer.corpus import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
