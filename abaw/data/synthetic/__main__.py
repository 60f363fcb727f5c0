"""``python -m abaw.data.synthetic OUT ...``: the same as ``abaw-synth``."""

from abaw.data.synthetic.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
