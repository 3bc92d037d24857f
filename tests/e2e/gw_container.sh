#!/usr/bin/env bash
# The container image, checked statically (there is no Docker here): the
# Dockerfile's runtime stage installs a package for every shared library
# build/vkgw links, and the configuration it ships listens on 0.0.0.0 (a
# published port answers), while `make run` keeps to 127.0.0.1; it runs as
# a user it made, not root, and needs nothing root has.
. "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DOCKERFILE="$ROOT/Dockerfile"
VKGW="$BUILD/vkgw"
need_bin "$VKGW"

# debian:12-slim has these already (Essential or required packages).
BASE_PACKAGES="libc6 libgcc-s1"

# The runtime stage: from the last FROM on.
runtime_stage() {
	awk '/^FROM / { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' "$DOCKERFILE"
}

# The packages of the runtime stage's `apt-get install`, one a line.
runtime_packages() {
	runtime_stage | sed -e ':a' -e '/\\$/{N; s/\\\n//; ba' -e '}' |
		grep 'apt-get install' | sed 's/.*apt-get install//; s/&&.*//' | tr ' \t' '\n\n' |
		grep -v '^-' | grep -v '^$'
}

# The Debian package that owns a file, trying the path as ldd printed it,
# then as resolved (merged /usr puts one file under two names).
owner_of() {
	local path=$1 real
	real=$(readlink -f "$path")
	for p in "$path" "$real" "${path/#\/lib/\/usr\/lib}" "${real/#\/usr\/lib/\/lib}"; do
		dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
	done
	return 1
}

runtime_packages_provide_every_library() {
	local libs lib pkg packages missing=()
	packages=$(runtime_packages)
	[ -n "$packages" ] || fail "no apt-get install list in the Dockerfile's runtime stage"
	libs=$(ldd "$VKGW" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
	[ -n "$libs" ] || fail "ldd found no libraries for $VKGW"
	while read -r lib; do
		pkg=$(owner_of "$lib") || fail "no Debian package owns $lib"
		# A sanitizer build (make test-debug) links the sanitizers'
		# runtimes, which the image (make all) never has.
		if grep -q 'libasan' <<<"$libs" && [[ $pkg =~ ^(lib(asan|ubsan)[0-9]+|libstdc\+\+6)$ ]]; then
			continue
		fi
		if ! grep -qx "$pkg" <<<"$packages" && ! grep -qw "$pkg" <<<"$BASE_PACKAGES"; then
			missing+=("$lib ($pkg)")
		fi
	done <<<"$libs"
	[ "${#missing[@]}" = 0 ] ||
		fail "the runtime stage installs no package for: ${missing[*]} (it installs: $(echo $packages))"
}

image_config_listens_everywhere() {
	local copied listen port out
	copied=$(runtime_stage | awk '$1 == "COPY" && $NF == "/etc/vkgw/vkgw.json" && $2 !~ /^--from/ { print $2 }')
	[ -n "$copied" ] || fail "the runtime stage copies no configuration to /etc/vkgw/vkgw.json"
	runtime_stage | grep -q '^ENTRYPOINT.*"-c", "/etc/vkgw/vkgw.json"' || fail "the entry point does not run /etc/vkgw/vkgw.json"
	out=$("$VKGW" --check -c "$ROOT/$copied" 2>&1) || fail "vkgw --check $copied: $out"
	listen=$(python3 -c 'import json, sys; print(" ".join("%s:%s" % (l["address"], l["port"]) for l in json.load(open(sys.argv[1]))["listeners"]))' "$ROOT/$copied")
	for port in $listen; do
		[ "${port%:*}" = 0.0.0.0 ] || fail "$copied listens on $port: not reachable through a published port"
		runtime_stage | grep -q "^EXPOSE .*\\b${port##*:}\\b" || fail "$copied listens on $port, which is not EXPOSEd"
	done
	# `make run` stays on loopback.
	grep -A3 '^run:' "$ROOT/Makefile" | grep -o 'config/[^ ]*\.json' >"$E2E_TMP/run.cfg" || fail "make run names no config"
	listen=$(python3 -c 'import json, sys; print(" ".join(l["address"] for l in json.load(open(sys.argv[1]))["listeners"]))' "$ROOT/$(cat "$E2E_TMP/run.cfg")")
	[ "$listen" = 127.0.0.1 ] || fail "make run's config listens on $listen, expected 127.0.0.1"
}

# The last USER of the runtime stage is one the stage makes, not root; what
# it runs can do so (its ports above 1024, no log file to create).
runs_as_a_user_of_its_own() {
	local user copied
	user=$(runtime_stage | awk '$1 == "USER" { u = $2 } END { print u }')
	[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the runtime stage runs as root (USER '$user')"
	runtime_stage | grep -q "useradd .*\b$user\b" || fail "the runtime stage does not make the user $user"
	copied=$(runtime_stage | awk '$1 == "COPY" && $NF == "/etc/vkgw/vkgw.json" && $2 !~ /^--from/ { print $2 }')
	python3 - "$ROOT/$copied" <<'PY' || fail "$copied needs root"
import json, sys
c = json.load(open(sys.argv[1]))
ports = [l["port"] for l in c["listeners"]] + ([c["admin"]["port"]] if "admin" in c else [])
assert all(p == 0 or p >= 1024 for p in ports), ports
assert c.get("access_log", {}).get("path", "-") == "-", c["access_log"]
PY
}

run_case "the runtime stage installs a package for each library ldd lists" runtime_packages_provide_every_library
run_case "the image runs as a user of its own, and its config needs no root" runs_as_a_user_of_its_own
run_case "the image's config passes --check and listens on 0.0.0.0; make run keeps 127.0.0.1" image_config_listens_everywhere
finish
