"""Print the validation scores of several abaw-eval JSON files side by side: NAME=FILE ..."""

import json
import sys


def main(argv: list[str]) -> int:
    columns = [("CCC valence", "va", "ccc_valence"), ("CCC arousal", "va", "ccc_arousal"),
               ("VA score", "va", "score"), ("EXPR F1", "expr", "f1_macro"), ("AU F1", "au", "f1_mean")]
    print("| model | " + " | ".join(name for name, _, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for item in argv:
        name, _, path = item.partition("=")
        scores = json.load(open(path))
        cells = [f"{scores[task][key]:.3f}" if task in scores else "-" for _, task, key in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
