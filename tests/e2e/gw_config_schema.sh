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

# Every bundled example also passes vkgw's own check (api.json reads its
# webhook secret from the environment, as a deployment would).
examples_pass_vkgw_check() {
	local f out
	need_bin "$BUILD/vkgw"
	for f in "$(dirname "$0")"/../../config/examples/*.json; do
		out=$(VKGW_HOOK_SECRET=test-secret "$BUILD/vkgw" --check -c "$f" 2>&1) || fail "vkgw --check $f: $out"
	done
	out=$(env -u VKGW_HOOK_SECRET "$BUILD/vkgw" --check -c "$(dirname "$0")/../../config/examples/api.json" 2>&1) &&
		fail "api.json passed --check without its secret in the environment"
	grep -q '/routes/0/filters/1/secret_env: environment variable VKGW_HOOK_SECRET is not set or empty' <<<"$out" ||
		fail "the missing secret is not named with its place: $out"
}

run_case "config/schema.json validates the examples and rejects the bad fixtures" schema_matches_fixtures
run_case "every example passes vkgw --check" examples_pass_vkgw_check
finish
