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

from runbooks.site.field import load
from runbooks.triage import match_message

FIELD = ROOT / "tests" / "fixtures" / "field"


def corpus() -> list[dict]:
    pastes, problems = load(FIELD)
    if problems:
        raise SystemExit("field corpus: " + "; ".join(problems))
    return [{"id": p.id, "split": p.split, "cause": p.cause, "alternates": list(p.alternates),
             "message": p.message} for p in pastes]


def score(rows: list[dict]) -> dict:
    top1 = top3 = 0
    misses = []
    for r in rows:
        ok = {r["cause"], *r["alternates"]}
        got = [c.code for c in match_message(r["message"])]
        top1 += bool(got[:1] and got[0] in ok)
        hit3 = bool(ok & set(got[:3]))
        top3 += hit3
        if not (got[:1] and got[0] in ok):
            misses.append((r, got[:3], hit3))
    n = len(rows) or 1
    return {"n": len(rows), "top1": top1 / n, "top3": top3 / n, "misses": misses}


def main(argv: list[str]) -> int:
    rows = corpus()
    out = {}
    for split in ("tune", "held"):
        s = score([r for r in rows if r["split"] == split])
        out[split] = s
    if "--json" in argv:
        print(json.dumps({k: {"n": v["n"], "top1": round(v["top1"], 3),
                              "top3": round(v["top3"], 3)} for k, v in out.items()}))
        return 0
    for split, s in out.items():
        print(f"{split:>5}: n={s['n']}  top-1 {s['top1']:.1%}  top-3 {s['top3']:.1%}")
    show = ["tune"] + (["held"] if "--held" in argv else [])
    for split in show:
        print(f"\n-- {split} misses (top-1) --")
        for r, got, hit3 in out[split]["misses"]:
            mark = "3" if hit3 else "x"
            msg = r["message"].replace("\n", " ⏎ ")[:150]
            print(f"[{mark}] {r['id']}: want {r['cause']} {r['alternates']} got {got}\n      {msg}")
    print("\nmissed causes (tune):", Counter(r["cause"] for r, _, h in out["tune"]["misses"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
