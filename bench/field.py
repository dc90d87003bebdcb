"""How `runbooks triage` does on what real users paste: the field corpus in
``tests/fixtures/field/`` (public issue threads, each with the cause its thread shows).

    python bench/field.py            # top-1 / top-3 per split, then the misses of the tune split
    python bench/field.py --held     # also list the held-out misses (after tuning, not before)
    python bench/field.py --json     # the figures as JSON (bench/results.md quotes them)

A hit: the thread's cause, or one of its alternates, is in the top 1 / top 3. The split is
fixed in the corpus (``split``: ``tune`` or ``held``); the catalogue is tuned on ``tune`` only.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooks.site.field import figures, load
from runbooks.triage import match_message

FIELD = ROOT / "tests" / "fixtures" / "field"


def corpus() -> list[dict]:
    pastes, problems = load(FIELD)
    if problems:
        raise SystemExit("field corpus: " + "; ".join(problems))
    return [{"id": p.id, "split": p.split, "cause": p.cause, "alternates": list(p.alternates),
             "message": p.message} for p in pastes]


def misses(rows: list[dict]) -> list[tuple[dict, list[str], bool]]:
    """The entries whose cause triage does not rank first: (entry, its top three, in them?)."""
    out = []
    for r in rows:
        ok = {r["cause"], *r["alternates"]}
        got = [c.code for c in match_message(r["message"])[:3]]
        if not (got and got[0] in ok):
            out.append((r, got, bool(ok & set(got))))
    return out


def main(argv: list[str]) -> int:
    pastes, problems = load(FIELD)
    if problems:
        raise SystemExit("field corpus: " + "; ".join(problems))
    fig = figures(pastes)  # what the triage page states, computed the same way
    if "--json" in argv:
        print(json.dumps({k: {"n": v["n"], "top1": round(v["top1"], 3),
                              "top3": round(v["top3"], 3)}
                          for k, v in fig.items() if k in ("tune", "held")}))
        return 0
    for split in ("tune", "held"):
        f = fig[split]
        print(f"{split:>5}: n={f['n']}  top-1 {f['top1']:.1%}  top-3 {f['top3']:.1%}")
    rows = corpus()
    missed = {split: misses([r for r in rows if r["split"] == split])
              for split in ("tune", "held")}
    for split in ["tune"] + (["held"] if "--held" in argv else []):
        print(f"\n-- {split} misses (top-1) --")
        for r, got, hit3 in missed[split]:
            mark = "3" if hit3 else "x"
            msg = r["message"].replace("\n", " ⏎ ")[:150]
            print(f"[{mark}] {r['id']}: want {r['cause']} {r['alternates']} got {got}\n      {msg}")
    print("\nmissed causes (tune):", Counter(r["cause"] for r, _, _ in missed["tune"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
