#!/usr/bin/env python3
"""Checks config/schema.json against the configuration fixtures.

Every example (config/examples/*.json), the image's deploy/*.json and every
tests/config/good_*.json must validate; every tests/config/bad_*.json must
fail to, except those whose only problems are ones JSON Schema cannot
express (listed below; the loader catches them). Needs python3-jsonschema (4.x, for draft 2020-12); run from
anywhere. Exits 0 when all agree, 1 otherwise, 77 (skip) without jsonschema.
"""
import glob
import json
import os
import sys

# Fixtures the loader rejects for reasons beyond JSON Schema.
LOADER_ONLY = {
    "bad_duplicate_key.json": "duplicate keys (JSON parsers keep the last)",
    "bad_unknown_upstream.json": "proxy.upstream names no defined upstream",
    "bad_regex.json": "the path regex does not compile",
    "bad_filter_config.json": "a filter type rejects its own keys",
}


def main():
    try:
        import jsonschema
    except ImportError:
        print("python3-jsonschema is not installed: skipped")
        return 77
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    with open(os.path.join(root, "config", "schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0

    def problems(path):
        with open(path, encoding="utf-8") as f:
            try:
                document = json.load(f)
            except ValueError as error:
                return ["not JSON: %s" % error]
        return ["%s: %s" % ("/" + "/".join(str(p) for p in e.absolute_path), e.message)
                for e in validator.iter_errors(document)]

    valid = sorted(glob.glob(os.path.join(root, "config", "examples", "*.json")) +
                   glob.glob(os.path.join(root, "deploy", "*.json")) +
                   glob.glob(os.path.join(root, "tests", "config", "good_*.json")))
    for path in valid:
        found = problems(path)
        if found:
            failures += 1
            print("FAIL %s should validate:" % os.path.relpath(path, root))
            for line in found:
                print("    " + line)
        else:
            print("ok   %s validates" % os.path.relpath(path, root))
    for path in sorted(glob.glob(os.path.join(root, "tests", "config", "bad_*.json"))):
        name = os.path.basename(path)
        found = problems(path)
        if name in LOADER_ONLY:
            if found:
                failures += 1
                print("FAIL %s is loader-only (%s) but the schema says: %s" % (name, LOADER_ONLY[name], found[0]))
            else:
                print("ok   %s passes the schema; the loader rejects it: %s" % (name, LOADER_ONLY[name]))
        elif found:
            print("ok   %s fails to validate (%d problems)" % (name, len(found)))
        else:
            failures += 1
            print("FAIL %s should not validate" % name)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
