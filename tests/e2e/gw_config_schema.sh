#!/usr/bin/env bash
# config/schema.json agrees with the loader: every example and good fixture
# validates, every bad fixture fails (but for the few the schema cannot
# express, which only the loader catches). python3-jsonschema is a project
# dependency (deploy/install-deps.sh), so a missing one is a failure here.
. "$(dirname "$0")/lib.sh"

schema_matches_fixtures() {
	local rc=0
	python3 "$(dirname "$0")/../config/check_schema.py" >"$E2E_TMP/schema.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] || fail "check_schema.py exited $rc:$(sed 's/^/\n    /' "$E2E_TMP/schema.out")"
	note "$(tail -n 1 "$E2E_TMP/schema.out")"
}

run_case "config/schema.json validates the examples and rejects the bad fixtures" schema_matches_fixtures
finish
