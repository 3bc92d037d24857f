#!/usr/bin/env bash
# vkgw as a Kubernetes sidecar (deploy/kubernetes/vkgw-sidecar.yaml):
#   every document passes the Kubernetes API schemas (kubernetes-models from
#   npm, pinned by deploy/kubernetes/validate/package-lock.json) with no
#   field the schemas do not declare, and the check sees a misspelt field
#   and a wrong type
#   the Pod agrees with the configuration it mounts: the ConfigMap's
#   vkgw.json passes vkgw --check; it is mounted as a directory and
#   watched; ports, probes and the Service point where vkgw listens; the
#   user is the image's; the grace period covers the preStop wait and the
#   drain, and the app outlives both
#   vkgw started as the Pod starts it (its args, the ConfigMap's file with
#   loopback addresses), as PID 1 of its own PID namespace: the probes'
#   paths answer, its memory stays under the container's request, and the
#   preStop hook run in that namespace starts the drain (/ready turns
#   503) and returns; the kubelet's SIGTERM after it changes nothing; the
#   request in flight ends with 200, and vkgw exits 0
. "$(dirname "$0")/lib.sh"

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MANIFEST="$ROOT/deploy/kubernetes/vkgw-sidecar.yaml"
VALIDATE_DIR="$ROOT/deploy/kubernetes/validate"
VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
need_bin "$VKGW"
need_bin "$UPSTREAM"

# Facts of the manifest: each argument a Python expression over `kind`
# (its documents by kind), `cm` (the ConfigMap's vkgw.json, parsed), `pod`
# (the Deployment's Pod spec), `gw` and `app` (its containers); prints
# each value on a line (JSON for lists and objects).
manifest() {
	python3 - "$MANIFEST" "$@" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kind = {d["kind"]: d for d in docs}
cm = json.loads(kind["ConfigMap"]["data"]["vkgw.json"])
pod = kind["Deployment"]["spec"]["template"]["spec"]
gw = next(c for c in pod["containers"] if c["name"] == "vkgw")
app = next(c for c in pod["containers"] if c["name"] == "app")
for expr in sys.argv[2:]:
    value = eval(expr)
    print(json.dumps(value) if isinstance(value, (list, dict)) else value)
PY
}

# The validator's packages, installed once into the build tree (again
# when the lock file changes); exit 77 with the reason when npm or its
# registry is out of reach.
validator_installed() {
	local dir=$BUILD/k8s-validate
	command -v node >/dev/null || skip "node is not installed (deploy/install-deps.sh: nodejs)"
	if ! cmp -s "$VALIDATE_DIR/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules" ]; then
		command -v npm >/dev/null || skip "npm is not installed (deploy/install-deps.sh: npm)"
		rm -rf "$dir" && mkdir -p "$dir"
		cp "$VALIDATE_DIR/package.json" "$VALIDATE_DIR/package-lock.json" "$dir/"
		if ! (cd "$dir" && timeout 120 npm ci --no-audit --no-fund --loglevel=error) >"$E2E_TMP/npm.log" 2>&1; then
			rm -rf "$dir"
			skip "npm ci of the manifest validator failed (registry unreachable?): $(tail -n 1 "$E2E_TMP/npm.log")"
		fi
	fi
	VALIDATOR_MODULES=$dir/node_modules
}

validate() { NODE_PATH=$VALIDATOR_MODULES node "$VALIDATE_DIR/validate.js" "$@"; }

manifests_pass_the_api_schemas() {
	local out
	validator_installed
	out=$(validate "$ROOT"/deploy/kubernetes/*.yaml 2>&1) || fail "the manifests do not validate: $out"
	[ "$(grep -c ': valid$' <<<"$out")" = 4 ] || fail "expected 4 valid documents: $out"
	# What the API server would refuse, the check refuses too.
	sed 's/readinessProbe:/readinesProbe:/; s/containerPort: 9901/containerPort: "9901"/' "$MANIFEST" >"$E2E_TMP/typo.yaml"
	out=$(validate "$E2E_TMP/typo.yaml" 2>&1) && fail "a misspelt field and a string port passed: $out"
	grep -q 'containers/1/readinesProbe: unknown field' <<<"$out" || fail "the misspelt probe went unnoticed: $out"
	grep -q 'containers/1/ports/1/containerPort must be integer' <<<"$out" || fail "the string port went unnoticed: $out"
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {limits: {memory: 64Mx}}}]}\n' >"$E2E_TMP/qty.yaml"
	out=$(validate "$E2E_TMP/qty.yaml" 2>&1) && fail "a malformed quantity passed: $out"
	grep -q 'memory must match format "quantity"' <<<"$out" || fail "the malformed quantity went unnoticed: $out"
}

pod_agrees_with_its_config() {
	local out checks=() values i
	manifest 'cm' >"$E2E_TMP/cm.json"
	out=$("$VKGW" --check -c "$E2E_TMP/cm.json" 2>&1) || fail "the ConfigMap's vkgw.json: $out"
	mapfile -t checks <<'CHECKS'
gw["args"][gw["args"].index("-c") + 1] == gw["volumeMounts"][0]["mountPath"] + "/vkgw.json"
"--watch" in gw["args"] and "subPath" not in gw["volumeMounts"][0]
pod["volumes"][0]["configMap"]["name"] == kind["ConfigMap"]["metadata"]["name"]
{p["name"]: p["containerPort"] for p in gw["ports"]} == {"http": cm["listeners"][0]["port"], "admin": cm["admin"]["port"]}
all(l["address"] == "0.0.0.0" for l in cm["listeners"]) and cm["admin"]["address"] == "0.0.0.0"
gw["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "admin"}
gw["livenessProbe"]["httpGet"] == {"path": "/stats", "port": "admin"}
kind["Service"]["spec"]["ports"][0]["targetPort"] == "http"
("-listen=" + cm["upstreams"]["app"]["endpoints"][0]) in app["args"]
pod["securityContext"]["runAsNonRoot"] and all(c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["capabilities"]["drop"] == ["ALL"] for c in pod["containers"])
gw["command"][-1].endswith("/vkgw") and "preStop" in gw["lifecycle"]
"limits" in gw["resources"] and "cpu" not in gw["resources"]["limits"]
CHECKS
	mapfile -t values < <(manifest "${checks[@]}")
	for i in "${!checks[@]}"; do
		[ "${values[$i]}" = True ] || fail "the manifest does not hold: ${checks[$i]}"
	done
	# The Pod's user is the one the image makes.
	local uid
	uid=$(manifest 'pod["securityContext"]["runAsUser"]')
	grep -q "^USER $uid\$" "$ROOT/Dockerfile" && grep -q "useradd .*--uid $uid " "$ROOT/Dockerfile" ||
		fail "the Pod runs as $uid, which the Dockerfile does not make and use"
	# Grace: the preStop wait, then -g, fit in terminationGracePeriodSeconds;
	# the app's preStop outlasts the two.
	python3 - "$MANIFEST" <<'PY' || fail "the grace periods do not fit"
import re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
gw = next(c for c in pod["containers"] if c["name"] == "vkgw")
app = next(c for c in pod["containers"] if c["name"] == "app")
wait = int(re.match(r"sleep (\d+);", gw["lifecycle"]["preStop"]["exec"]["command"][-1]).group(1))
grace = int(gw["args"][gw["args"].index("-g") + 1]) / 1000
assert app["lifecycle"]["preStop"]["sleep"]["seconds"] > wait + grace, (wait, grace)
assert pod["terminationGracePeriodSeconds"] > app["lifecycle"]["preStop"]["sleep"]["seconds"], pod
PY
}

# The ConfigMap's vkgw.json on loopback: ephemeral ports, the upstream at
# the test upstream's port; nothing else changed.
loopback_config() {
	python3 - "$E2E_TMP/cm.json" "$1" >"$E2E_TMP/pod.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for l in c["listeners"] + [c["admin"]]:
    l["address"], l["port"] = "127.0.0.1", 0
c["upstreams"]["app"]["endpoints"] = ["127.0.0.1:" + sys.argv[2]]
json.dump(c, sys.stdout, indent=1)
PY
}

# The vkgw container's args, with -c naming FILE.
pod_args() {
	manifest 'gw["args"]' | python3 -c 'import json, sys; a = json.load(sys.stdin); a[a.index("-c") + 1] = sys.argv[1]; print("\n".join(a))' "$1"
}

# For wait_until: /ready answers 503.
ready_is_draining() {
	[ "$(admin_status /ready)" = 503 ]
}

admin_status() { curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN$1"; }

# Proportional set size of the gateway's processes (the namespace's PID 1
# and its kernels), in KiB.
pss_kib() {
	local pid total=0
	for pid in "$1" $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		total=$((total + $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")))
	done
	echo "$total"
}

mebibytes() { python3 -c 'import sys; v = sys.argv[1]; print(int(v[:-2]) * {"Mi": 1024, "Gi": 1048576}[v[-2:]])' "$1"; }

prestop_drains_vkgw_as_pid_1() {
	local args=() inner hook held out pss request rc=0
	unshare --pid --fork --kill-child --mount-proc true 2>/dev/null || skip "cannot make a PID namespace here (unshare --pid)"
	manifest 'cm' >"$E2E_TMP/cm.json"
	start_server up "$UPSTREAM" -p 0 -k 1
	loopback_config "${E2E_PORT[up]}"
	mapfile -t args < <(pod_args "$E2E_TMP/pod.json")
	start_server pod unshare --pid --fork --kill-child --mount-proc "$VKGW" "${args[@]}"
	wait_until 5 "the admin listener announced" admin_listening pod
	ADMIN=$(admin_port pod)
	inner=$(cat "/proc/${E2E_PID[pod]}/task/${E2E_PID[pod]}/children")
	inner=${inner%% *}
	[ "$(awk '/^NSpid:/ { print $NF }' "/proc/$inner/status")" = 1 ] || fail "vkgw is not PID 1 of its namespace"
	[ "$(admin_status /ready)" = 200 ] && [ "$(admin_status /stats)" = 200 ] || fail "the probes' paths do not answer 200"
	wait_until 10 "the app's endpoint healthy" admin_stat_is "$ADMIN" "d['upstreams']['app']['endpoints'][0]['state']" healthy
	for _ in 1 2 3 4 5 6 7 8; do
		[ "$(http_get "${E2E_PORT[pod]}" /whoami)" = "${E2E_PORT[up]}" ] || fail "a request through the Pod's config failed"
	done
	pss=$(pss_kib "$inner")
	request=$(mebibytes "$(manifest 'gw["resources"]["requests"]["memory"]')")
	note "  vkgw -k 2, PID 1: ${pss} KiB proportional set size; the container requests ${request} KiB"
	[ "$pss" -lt "$request" ] || fail "vkgw uses $pss KiB, over its request of $request KiB"
	# A request held in flight must end well through the drain.
	post_begin held "${E2E_PORT[pod]}" /cksum
	wait_until 5 "the held request in flight" admin_stat_is "$ADMIN" "d['upstreams']['app']['active']" 1
	manifest 'gw["lifecycle"]["preStop"]["exec"]["command"]' >"$E2E_TMP/hook.json"
	mapfile -t hook < <(python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))))' "$E2E_TMP/hook.json")
	nsenter --target "$inner" --pid --mount -- "${hook[@]}" >"$E2E_TMP/hook.out" 2>&1 &
	local hook_pid=$!
	wait_until 15 "/ready to turn 503 (the hook's drain)" ready_is_draining
	wait_until 5 "the hook to return once the drain has started" eval '! kill -0 "$hook_pid" 2>/dev/null'
	wait "$hook_pid" || rc=$?
	[ "$rc" = 0 ] || fail "the preStop hook exited with $rc: $(cat "$E2E_TMP/hook.out")"
	# Then the kubelet's SIGTERM, from outside the namespace: the drain
	# goes on as it was.
	kill -TERM "$inner"
	admin_stat_is "$ADMIN" "d['upstreams']['app']['active']" 1 || fail "the request in flight is gone"
	out=$(post_end "$held")
	[[ $out == "HTTP/1.1 200 "* ]] || fail "the request in flight through the drain got: $(head -n 1 <<<"$out")"
	await_server pod 5
	[ "$E2E_STATUS" = 0 ] || fail "vkgw exited with $E2E_STATUS after the drain:$(server_stderr pod)"
	stop_server up
}

run_case "the manifests pass the Kubernetes API schemas, strictly" manifests_pass_the_api_schemas
run_case "the Pod agrees with the configuration it mounts" pod_agrees_with_its_config
run_case "vkgw as the Pod runs it: probes, memory, and a preStop that drains" prestop_drains_vkgw_as_pid_1
finish
