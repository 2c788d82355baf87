#!/usr/bin/env python3
"""make_suite.py - builds hone's similarity-cache pair suite (pairs.jsonl)
from GPTCache's mock_data.json (MIT, Copyright (c) Zilliz; see README.md).

Deterministic: the same input gives byte-identical output (a seeded
random.Random, sorted inputs, no dict-order or hash dependence). Only the
Python 3 standard library.

usage: make_suite.py [MOCK_DATA_JSON] [OUT_JSONL]
  defaults: ../../../../shared/similarity/mock_data.json, pairs.jsonl
  (both relative to this script's directory)

Every line: {"a": ..., "b": ..., "label": 0|1, "kind": ..., "edit": ...}
  kind paraphrase  label 1  an origin and its paraphrase, as GPTCache pairs them
  kind other       label 0  an origin and a different origin's paraphrase
  kind number      label 0  one sentence with a number changed or given two values
  kind identifier  label 0  one sentence with a version, code name or path changed
  kind negation    label 0  one sentence with a negation added or removed, or a
                            polarity word flipped
  kind tenant      label 0  the same text (or its paraphrase) under two tenants;
                            these lines also carry "ns_a" and "ns_b"
"edit" (hard kinds only) says what was changed, for reading the refusals.
"""
import json
import os
import random
import re
import sys

SEED = 20240521
HARD_PER_KIND = 300
# Hard variants come from sentences up to this long (a few answers are
# whole code listings; one changed word in those says little).
MAX_HARD_LEN = 400

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    return [(r["origin"], r["similar"]) for r in rows]


def first_sub(pattern, repl, text, flags=0):
    """re.sub on the first match only; None when nothing matched."""
    out, n = re.subn(pattern, repl, text, count=1, flags=flags)
    return out if n else None


# ---------------------------------------------------------------- numbers

# "a <noun>" gets a quantity that reads naturally after it.
NOUN_QUANTITY = [
    ("dataset", "a dataset with {n} rows", [1000, 5000, 20000, 100000, 250000]),
    ("model", "a model with {n} billion parameters", [1, 3, 7, 13, 70]),
    ("file", "a file of {n} MB", [5, 50, 200, 500, 2000]),
    ("table", "a table with {n} columns", [3, 4, 8, 12, 20]),
    ("column", "a column of {n} values", [10, 100, 500, 1000, 5000]),
    ("repository", "a repository with {n} files", [2, 10, 25, 100, 400]),
    ("split", "a split of {n} examples", [500, 1000, 2000, 8000, 10000]),
    ("batch", "a batch of {n} examples", [8, 16, 32, 64, 128]),
    ("string", "a string of {n} characters", [16, 64, 128, 512, 1024]),
    ("dictionary", "a dictionary with {n} keys", [2, 3, 5, 10, 20]),
    ("GPU", "a GPU with {n} GB of memory", [8, 16, 24, 40, 80]),
    ("folder", "a folder with {n} files", [3, 10, 50, 200, 1000]),
    ("script", "a script of {n} lines", [10, 20, 50, 100, 300]),
    ("metric", "a metric with {n} decimal places", [1, 2, 3, 4, 6]),
    ("directory", "a directory with {n} files", [3, 10, 50, 200, 1000]),
]
PHRASE_END = ("by|from|in|into|to|that|which|and|or|on|using|for|if|when|where|as|at|"
              "instead|without|is|are|can|will")
# Vague quantities become exact ones.
VAGUE = [(r"\ba few\b", [2, 3, 5, 10]), (r"\bseveral\b", [3, 4, 6, 12]),
         (r"\bmultiple\b", [2, 4, 8, 16])]
# Plain numbers (not versions, not parts of identifiers) to change.
PLAIN_NUMBER = re.compile(r"(?<![\w.\-/])(\d+)(?=[kKMB]?\b)(?![.\-]\d)")


def two_values(rng, values):
    a, b = rng.sample(values, 2)
    return a, b


def number_pairs(texts, rng):
    out = []
    for t in texts:
        # An existing plain number changed.
        m = PLAIN_NUMBER.search(t)
        if m and not re.search(r"\d+\.\d+", t):
            v = int(m.group(1))
            w = v * 2 if v < 1000 else v // 2
            if w == v:
                w = v + 1
            b = t[:m.start(1)] + str(w) + t[m.end(1):]
            out.append((t, b, "%d -> %d" % (v, w)))
            continue
        # A vague quantity made exact, two different ways.
        done = False
        for pat, values in VAGUE:
            if re.search(pat, t):
                x, y = two_values(rng, values)
                a = first_sub(pat, str(x), t)
                b = first_sub(pat, str(y), t)
                out.append((a, b, "%s: %d vs %d" % (pat.strip("\\b"), x, y)))
                done = True
                break
        if done:
            continue
        # "a list of" with a length, or "the dataset" cut to its first rows.
        for pat, template, values, what in (
                (r"\ba list of\b", "a list of {n}", [2, 3, 5, 10, 100], "a list of"),
                (r"(?<=\w )the dataset(?=[,.;:)]| (?:%s)\b|$)" % PHRASE_END,
                 "the first {n} rows of the dataset", [10, 100, 1000, 5000], "the dataset")):
            if re.search(pat, t):
                x, y = two_values(rng, values)
                a = first_sub(pat, template.format(n=x), t)
                b = first_sub(pat, template.format(n=y), t)
                out.append((a, b, "%s: %d vs %d" % (what, x, y)))
                done = True
                break
        if done:
            continue
        # "a <noun>" with two different quantities.
        for noun, template, values in NOUN_QUANTITY:
            # Only where the noun ends its phrase ("a dataset repository"
            # would become "a dataset with 1000 rows repository").
            pat = r"\ba %s\b(?=[,.;:)]| (?:%s)\b|$)" % (re.escape(noun), PHRASE_END)
            if re.search(pat, t):
                x, y = two_values(rng, values)
                a = first_sub(pat, template.format(n=x), t)
                b = first_sub(pat, template.format(n=y), t)
                out.append((a, b, "a %s: %d vs %d" % (noun, x, y)))
                break
    return out


# ------------------------------------------------------------ identifiers

VERSION = re.compile(r"\b(v?)(\d+)\.(\d+)(?:\.(\d+))?\b")
BACKTICKED = re.compile(r"`([A-Za-z_][\w.]*(?:\(\))?)`")
SNAKE = re.compile(r"(?<![`\w])([a-z]+(?:_[a-z0-9]+)+)(?![`\w])")
CALL = re.compile(r"(?<![`\w.])([A-Za-z_]\w*\(\))")
FILENAME = re.compile(r"\b([\w\-]+)\.(csv|json|jsonl|txt|parquet|py|arrow|tsv|zip|tar\.gz)\b")
EXT_SWAP = {"csv": "tsv", "tsv": "csv", "json": "jsonl", "jsonl": "json", "txt": "csv",
            "parquet": "arrow", "arrow": "parquet", "py": "json", "zip": "tar.gz",
            "tar.gz": "zip"}
RUNTIME = re.compile(r"\b(Python|PyTorch|TensorFlow)\b(?! \d)")
RUNTIME_VERSIONS = {"Python": ["3.8", "3.9", "3.10", "3.11", "3.12"],
                    "PyTorch": ["1.13", "2.0", "2.1", "2.2", "2.3"],
                    "TensorFlow": ["2.11", "2.12", "2.13", "2.14", "2.15"]}


def identifier_pool(texts):
    """Code names seen in the corpus, by shape, to swap one for another."""
    pool = {"call": set(), "snake": set(), "tick": set()}
    for t in texts:
        for m in BACKTICKED.finditer(t):
            pool["tick"].add(m.group(1))
        for m in SNAKE.finditer(t):
            pool["snake"].add(m.group(1))
        for m in CALL.finditer(t):
            pool["call"].add(m.group(1))
    return {k: sorted(v) for k, v in pool.items()}


def other_name(rng, pool, name, want_call, text):
    """A code name of the same shape, preferring one that shares words
    with this one (to_pandas -> to_dict), as a near miss would."""
    cands = [p for p in pool if p != name and p.endswith("()") == want_call
             and p.lower() != name.lower() and p not in text]
    if not cands:
        return None
    words = set(re.split(r"[_.()]+", name.lower())) - {""}

    def closeness(p):
        return len(words & (set(re.split(r"[_.()]+", p.lower())) - {""}))

    best = max(closeness(p) for p in cands)
    return rng.choice([p for p in cands if closeness(p) == best])


def identifier_pairs(texts, rng):
    pool = identifier_pool(texts)
    out = []
    for t in texts:
        m = VERSION.search(t)
        if m:
            major, minor, patch = int(m.group(2)), int(m.group(3)), m.group(4)
            new = "%s%d.%d" % (m.group(1), major, minor + 1 if minor < 9 else minor - 1)
            if patch is not None:
                new += "." + patch
            b = t[:m.start()] + new + t[m.end():]
            out.append((t, b, "version %s -> %s" % (m.group(0), new)))
            continue
        m = FILENAME.search(t)
        if m:
            ext = m.group(2)
            b = t[:m.start(2)] + EXT_SWAP[ext] + t[m.end(2):]
            out.append((t, b, "file %s.%s -> %s.%s" % (m.group(1), ext, m.group(1), EXT_SWAP[ext])))
            continue
        m = BACKTICKED.search(t)
        if m:
            name = m.group(1)
            new = other_name(rng, pool["tick"], name, name.endswith("()"), t)
            if new:
                b = t[:m.start(1)] + new + t[m.end(1):]
                out.append((t, b, "code name %s -> %s" % (name, new)))
                continue
        m = CALL.search(t)
        if m:
            new = other_name(rng, pool["call"], m.group(1), True, t)
            if new:
                b = t[:m.start(1)] + new + t[m.end(1):]
                out.append((t, b, "code name %s -> %s" % (m.group(1), new)))
                continue
        m = SNAKE.search(t)
        if m:
            new = other_name(rng, pool["snake"], m.group(1), False, t)
            if new:
                b = t[:m.start(1)] + new + t[m.end(1):]
                out.append((t, b, "code name %s -> %s" % (m.group(1), new)))
                continue
        m = RUNTIME.search(t)
        if m:
            x, y = two_values(rng, RUNTIME_VERSIONS[m.group(1)])
            a = t[:m.end()] + " " + x + t[m.end():]
            b = t[:m.end()] + " " + y + t[m.end():]
            out.append((a, b, "version %s %s vs %s" % (m.group(1), x, y)))
    return out


# --------------------------------------------------------------- negation

# Removing a negation that is there (checked first).
UNNEGATE = [
    (r"^No, (.*)\bdoesn't\b", lambda m: "Yes, " + m.group(1) + "does", "No/doesn't -> Yes/does"),
    (r"^No, (.*)\bdoes not\b", lambda m: "Yes, " + m.group(1) + "does", "No/does not -> Yes/does"),
    (r"\bdoesn't\b", "does", "doesn't -> does"),
    (r"\bdoes not\b", "does", "does not -> does"),
    (r"\bis not\b", "is", "is not -> is"),
    (r"\bare not\b", "are", "are not -> are"),
    (r"\bcannot\b", "can", "cannot -> can"),
    (r"\bcan't\b", "can", "can't -> can"),
    (r"\bisn't\b", "is", "isn't -> is"),
    (r"\bnot\b ", "", "not removed"),
]
# Adding one to the first main verb.
NEGATE = [
    (r"\bis\b(?! not\b)", "is not", "is -> is not"),
    (r"\bare\b(?! not\b)", "are not", "are -> are not"),
    (r"\bcan\b(?! not\b)", "cannot", "can -> cannot"),
    (r"\bshould\b(?! not\b)", "should not", "should -> should not"),
    (r"\bwill\b(?! not\b)", "will not", "will -> will not"),
    (r"\ballows\b", "does not allow", "allows -> does not allow"),
    (r"\bprovides\b", "does not provide", "provides -> does not provide"),
    (r"\bsupports\b", "does not support", "supports -> does not support"),
    (r"\benables\b", "does not enable", "enables -> does not enable"),
    (r"\bhas\b(?! been)", "does not have", "has -> does not have"),
]
# Flipping a polarity word.
POLARITY = [
    ("enabled", "disabled"), ("disabled", "enabled"), ("True", "False"), ("False", "True"),
    ("faster", "slower"), ("before", "after"), ("after", "before"), ("increase", "decrease"),
    ("increases", "decreases"), ("include", "exclude"), ("includes", "excludes"),
    ("public", "private"), ("private", "public"), ("always", "never"), ("optional", "required"),
    ("required", "optional"), ("larger", "smaller"), ("smaller", "larger"),
    ("more than", "less than"), ("maximum", "minimum"), ("minimum", "maximum"),
    ("add", "remove"), ("remove", "add"), ("local", "remote"), ("remote", "local"),
    ("easy", "hard"), ("first", "last"), ("last", "first"),
    ("upload", "download"), ("download", "upload"), ("online", "offline"),
    ("correct", "incorrect"), ("possible", "impossible"),
]


def negation_pairs(texts, rng):
    out = []
    for i, t in enumerate(texts):
        edits = []
        for pat, repl, what in UNNEGATE:
            b = first_sub(pat, repl, t)
            if b:
                edits.append((b, what))
                break
        for pat, repl, what in NEGATE:
            b = first_sub(pat, repl, t)
            if b:
                edits.append((b, what))
                break
        for w, r in POLARITY:
            b = first_sub(r"\b%s\b" % re.escape(w), r, t)
            if b:
                edits.append((b, "%s -> %s" % (w, r)))
                break
        if not edits:
            continue
        # Removing an existing negation is preferred (there are few);
        # otherwise adding one and flipping a polarity word alternate, so
        # the kind holds all three.
        unnegated = edits[0][1] in {e[2] for e in UNNEGATE}
        b, what = edits[0] if unnegated else edits[i % len(edits)]
        if b[0].islower():
            b = b[0].upper() + b[1:]
        out.append((t, b, what))
    return out


# ----------------------------------------------------------------- tenants

TENANTS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell",
           "cyberdyne", "soylent", "wonka", "aperture"]


def tenant_pairs(pairs, rng, count):
    out = []
    picks = rng.sample(range(len(pairs)), count)
    for k, i in enumerate(picks):
        origin, similar = pairs[i]
        na, nb = rng.sample(TENANTS, 2)
        b = origin if k % 2 == 0 else similar
        out.append((origin, b, na, nb, "same text" if k % 2 == 0 else "paraphrase"))
    return out


# ------------------------------------------------------------------- main

def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "..", "..", "..", "..", "shared", "similarity", "mock_data.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "pairs.jsonl")
    pairs = load(src)
    rng = random.Random(SEED)
    lines = []

    for origin, similar in pairs:
        lines.append({"a": origin, "b": similar, "label": 1, "kind": "paraphrase"})

    # Other: origin i against the paraphrase of an origin with different text.
    n = len(pairs)
    for i, (origin, _) in enumerate(pairs):
        while True:
            j = rng.randrange(n)
            if pairs[j][0] != origin and pairs[j][1] != pairs[i][1]:
                break
        lines.append({"a": origin, "b": pairs[j][1], "label": 0, "kind": "other"})

    # The hard kinds are made from every distinct sentence (origins and
    # paraphrases), then a seeded sample of HARD_PER_KIND of each is kept.
    texts = sorted({t for p in pairs for t in p if len(t) <= MAX_HARD_LEN})
    for kind, make in (("number", number_pairs), ("identifier", identifier_pairs),
                       ("negation", negation_pairs)):
        made = sorted({(a, b, e) for a, b, e in make(texts, rng) if a != b})
        if len(made) < HARD_PER_KIND:
            sys.exit("make_suite: only %d %s pairs" % (len(made), kind))
        for a, b, e in sorted(rng.sample(made, HARD_PER_KIND), key=made.index):
            lines.append({"a": a, "b": b, "label": 0, "kind": kind, "edit": e})

    for a, b, na, nb, e in tenant_pairs(pairs, rng, HARD_PER_KIND):
        lines.append({"a": a, "b": b, "label": 0, "kind": "tenant", "ns_a": na, "ns_b": nb,
                      "edit": e})

    with open(dst, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, sort_keys=False) + "\n")
    counts = {}
    for line in lines:
        counts[line["kind"]] = counts.get(line["kind"], 0) + 1
    print("make_suite: %d pairs -> %s (%s)" % (len(lines), dst,
          ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
