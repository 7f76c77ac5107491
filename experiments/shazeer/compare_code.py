"""Do two versions of ffnlab compute the same numbers? Compare the records of the same runs made by each.

    python experiments/shazeer/compare_code.py OLD_RECORDS NEW_RECORDS OUT.md

Matches runs by variant and seed and checks, as floats, every loss a record holds: the early and final
validation loss, the test loss, bits per byte, and the validation and training loss at every evaluation.
Timings and provenance (git_sha, versions) naturally differ and are not compared. Torch-free.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ffnlab.runs.record import RECORD_NAME, read_record


def _records(root: Path) -> dict[tuple[str, int], object]:
    out = {}
    for path in sorted(Path(root).rglob(RECORD_NAME)):
        rec = read_record(path)
        if rec is not None and rec.status == "ok":
            out[(rec.ffn, rec.seed)] = rec
    return out


def _losses(rec) -> dict[str, float | None]:
    f = rec.final
    values = {"early": rec.early.val_loss if rec.early else None, "final": f.val_loss, "test": f.test_loss,
              "val_bpb": f.val_bpb, "test_bpb": f.test_bpb}
    for h in rec.history:
        values[f"val@{h.step}"] = h.val_loss
        values[f"train@{h.step}"] = h.train_loss
    return values


def compare(old_root: Path, new_root: Path) -> str:
    old, new = _records(old_root), _records(new_root)
    both = sorted(set(old) & set(new), key=lambda k: (k[1], k[0]))
    lines = ["| FFN | seed | old code | new code | losses compared | equal as floats |", "|---|---|---|---|---:|---|"]
    equal = 0
    for key in both:
        a, b = _losses(old[key]), _losses(new[key])
        same = a == b
        equal += same
        lines.append(f"| {key[0]} | {key[1]} | {(old[key].git_sha or '?')[:7]} | {(new[key].git_sha or '?')[:7]} | "
                     f"{len(a)} | {'yes' if same else 'no: ' + ', '.join(k for k in a if a[k] != b.get(k))[:80]} |")
    lines += ["", f"{equal} of {len(both)} runs made by both versions on the same machine hold identical losses "
                  "(every evaluation, early, final, test, bits per byte)."]
    return "# The same runs by two versions of ffnlab\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 3:
        sys.exit(__doc__)
    Path(argv[2]).write_text(compare(Path(argv[0]), Path(argv[1])))
    print(f"wrote {argv[2]}")


if __name__ == "__main__":
    main(sys.argv[1:])
