#!/usr/bin/env bash
# Live reload: SIGHUP re-reads the configuration file and, when it has no
# problems, every kernel applies it to new requests (/stats: config
# "generation", 1 at the start and one more per accepted reload, and each
# kernel's "config_generation"). A request that started finishes under
# the configuration it started with; the next one on a keep-alive
# connection takes the new one. The configurations (reload_config): the
# generation G is A when G is odd, B when it is even; /x/... goes to the
# test upstream "a" in A, "b" in B (upstreams and routes both change),
# /r is answered by the gateway itself, /s/... goes to the upstream "s" in
# both, and every route's headers filter sets "X-Config: <A|B> G".
#
#   under load     (-k 1 and -k 2) 100 reloads, A and B in turn, while a
#                  client (gw_reload.py load) sends requests without a
#                  pause, on keep-alive connections and on new ones: every
#                  answer is of one configuration whole (its X-Config,
#                  its upstream and its body agree), never older than the
#                  generation every kernel applied before it was sent nor
#                  than the one before it on its connection; no socket
#                  error, no status but 200; both A and B seen. Lock-step:
#                  each reload is waited for until every kernel applies
#                  it, and until the client has had an answer from it
#   streams        (-k 1 and -k 2) 50 streams held open across 20
#                  reloads (gw_reload.py streams): downloads and uploads,
#                  one more piece each way after every reload, seen
#                  arriving; none cut, every byte there, and the uploads'
#                  answers, which come after the last reload, still carry
#                  the X-Config of the configuration they started with
#   refused        (-k 1 and -k 2) a file with a JSON syntax error, then
#                  one that names an unknown upstream: each refused
#                  (reloads.refused counts it, the problem is logged as
#                  FILE:LINE:COL and shown in /stats), the generation
#                  unchanged, requests still served by the old
#                  configuration; the next good file is accepted
#   triggers       (-k 1 and -k 2) with --watch, a file written over the
#                  configuration reloads it (no signal); POST
#                  /config/reload answers 200 "applied" once every kernel
#                  has it, or 422 with the problems of a broken file (which
#                  the watcher refuses too); generations never move on a
#                  broken file
#   listeners      (-k 1 and -k 2) a reload that adds a listener on port 0,
#                  one that changes a kept listener's isolation and one
#                  that moves the admin listener are refused (a problem
#                  under /listeners/1, /listeners/0, /admin), the old
#                  configuration serving; then the listener moves to
#                  another port: the new one answers, the old one refuses,
#                  and a keep-alive connection accepted by the old one
#                  gets one more answer (Connection: close) and is closed
#   swaps          (-k 1 and -k 2) under load on the first listener, 10
#                  reloads that each close a second listener and open a
#                  third on another port: the one opened answers at once
#                  with its generation, the one closed refuses, the load
#                  sees no error
#   state kept     (-k 1) across a reload that changes only routes, an
#                  upstream left as it was keeps its kept-alive upstream
#                  connection (the test upstream's /conn: the request
#                  after the reload is the next one on the same
#                  connection) and an endpoint outlier detection ejected
#                  stays ejected (no request reaches it)
#   stats          (-k 2) /stats and /metrics show the upstreams and
#                  listeners of the generation accepted last: after a
#                  reload, "b" and an added listener, not "a"; after the
#                  next, "a" again, with the count it had
#
# Never a fixed sleep: each reload is waited for in /stats (by the client,
# when one runs: a hundred Python starts would take longer than the
# reloads), and the clients answer on a pipe.
. "$(dirname "$0")/lib.sh"

VKGW="$BUILD/vkgw"
UPSTREAM="$BUILD/tests/services/gw_test_upstream"
CLIENT="$(dirname "$0")/gw_reload.py"
need_bin "$VKGW"
need_bin "$UPSTREAM"

RELOADS=100
STREAM_RELOADS=20
STREAMS=50

# Set by each case: the test upstreams' ports (UP_S empty: no upstream "s"
# nor route /s/; DOWN: a port that refuses connections), the listener's
# and the admin listener's ports, more of the first listener's members
# (JSON) and more listeners (JSON).
UP_A=
UP_B=
UP_S=
DOWN=
LISTEN_PORT=0
LISTEN_EXTRA=
ADMIN_LISTEN_PORT=0
EXTRA_LISTENER=

# reload_config FILE GEN: writes the configuration of generation GEN to a
# temporary file, then renames it over FILE (a reload never reads half a
# file).
reload_config() {
	local file=$1 gen=$2 letter=A up=a port=$UP_A tag s_upstream='' s_route=''
	if [ $((gen % 2)) = 0 ]; then
		letter=B up=b port=$UP_B
	fi
	tag="$letter $gen"
	if [ -n "$UP_S" ]; then
		s_upstream=",
    \"s\": { \"endpoints\": [ \"127.0.0.1:$UP_S\" ],
           \"timeouts\": { \"connect_ms\": 5000, \"response_ms\": 60000 } }"
		s_route=",
    { \"name\": \"s\", \"match\": { \"path\": { \"prefix\": \"/s/\" } },
      \"filters\": [ { \"type\": \"headers\", \"response\": { \"set\": { \"x-config\": \"$tag\" } } } ],
      \"action\": { \"proxy\": { \"upstream\": \"s\", \"prefix_rewrite\": \"/\" } } }"
	fi
	cat >"$file.tmp" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": $LISTEN_PORT$LISTEN_EXTRA }$EXTRA_LISTENER ],
  "admin": { "address": "127.0.0.1", "port": $ADMIN_LISTEN_PORT },
  "timeouts": { "header_ms": $((10000 + gen % 2)), "body_idle_ms": 60000, "keepalive_idle_ms": 60000 },
  "upstreams": {
    "$up": { "endpoints": [ "127.0.0.1:$port" ],
           "timeouts": { "connect_ms": 5000, "response_ms": $((10000 + gen % 2)) } }$s_upstream
  },
  "routes": [
    { "name": "x", "match": { "path": { "prefix": "/x/" } },
      "filters": [ { "type": "headers", "response": { "set": { "x-config": "$tag" } } } ],
      "action": { "proxy": { "upstream": "$up", "prefix_rewrite": "/" } } },
    { "name": "r", "match": { "path": { "exact": "/r" } },
      "filters": [ { "type": "headers", "response": { "set": { "x-config": "$tag" } } } ],
      "action": { "respond": { "status": 200, "body": "$tag\n" } } }$s_route
  ]
}
JSON
	mv -f "$file.tmp" "$file"
}

# install_file FILE CONTENT: CONTENT becomes FILE, by a rename.
install_file() {
	printf '%s\n' "$2" >"$1.tmp"
	mv -f "$1.tmp" "$1"
}

# start_gateway NAME KERNELS [ARGS...]: vkgw on $E2E_TMP/NAME.json
# (already written), with its admin listener; sets ADMIN (its port) and
# PORT, and checks that /stats says generation 1.
start_gateway() {
	local name=$1 kernels=$2
	shift 2
	start_server "$name" "$VKGW" -c "$E2E_TMP/$name.json" -k "$kernels" "$@"
	wait_until 5 "$name: the admin listener announced" admin_listening "$name"
	ADMIN=$(admin_port "$name")
	PORT=${E2E_PORT[$name]}
	admin_stat "$ADMIN" 'd["config"]["generation"]' >/dev/null 2>&1 ||
		fail "/stats has no config.generation: $(admin_stat "$ADMIN" 'd["config"]')"
	generations_are "$ADMIN" 1 || fail "at the start: $(admin_stat "$ADMIN" "$GENERATIONS")"
}

# The newest accepted generation and the one each kernel applies, as a set.
GENERATIONS='sorted({d["config"]["generation"]} | {k["config_generation"] for k in d["per_kernel"]})'

# generations_are ADMIN GEN: GEN is the newest accepted generation, and
# every kernel applies it to new requests.
generations_are() { admin_stat_is "$1" "$GENERATIONS" "[$2]"; }

# reload_to NAME GEN: the configuration of generation GEN, SIGHUP, and a
# wait until every kernel applies it (for a few reloads: each poll starts
# a Python; with a client running, client_reload_to).
reload_to() {
	reload_config "$E2E_TMP/$1.json" "$2"
	signal_server "$1" HUP
	wait_until 10 "generation $2 applied by every kernel" generations_are "$ADMIN" "$2"
}

# hup_refused NAME REFUSED: SIGHUP with the file as it is, and a wait until
# the reload is counted as the REFUSED-th refused one.
hup_refused() {
	signal_server "$1" HUP
	wait_until 10 "reload refused number $2" admin_stat_is "$ADMIN" 'd["config"]["reloads"]["refused"]' "$2"
}

# served_by PORT GEN: a GET /r on a new connection gets the configuration
# of generation GEN.
served_by() {
	local want=A body
	[ $(($2 % 2)) = 1 ] || want=B
	body=$(http_get "$1" /r) || fail "GET /r on port $1: no answer"
	[ "$body" = "$want $2" ] || fail "GET /r: '$body', expected the configuration of generation $2 ('$want $2')"
}

# start_upstreams GW: the test upstreams GW.a and GW.b; UP_A and UP_B.
start_upstreams() {
	start_server "$1.a" "$UPSTREAM" -p 0 -k 1
	start_server "$1.b" "$UPSTREAM" -p 0 -k 1
	UP_A=${E2E_PORT[$1.a]} UP_B=${E2E_PORT[$1.b]}
}

# stop_all GW: the gateway GW, then its upstreams GW.a and GW.b.
stop_all() {
	stop_server "$1"
	stop_server "$1.a"
	stop_server "$1.b"
}

no_kernel_died() {
	! grep -q 'ended unexpectedly' "$(server_err_file "$1")" || fail "a kernel died:$(server_stderr "$1")"
}

# requests_metric ADMIN UPSTREAM: vkgw_upstream_requests_total of UPSTREAM
# summed over the kernels, or "none" without a series for it.
requests_metric() {
	curl -s --noproxy '*' --max-time 5 "http://127.0.0.1:$1/metrics" |
		awk -v want="upstream=\"$2\"" 'index($0, "vkgw_upstream_requests_total{") == 1 && index($0, want) {
			n += $NF; seen = 1 } END { print seen ? n : "none" }'
}

stats_follow_reloads() {
	local gw=stats more
	start_upstreams "$gw"
	reload_config "$E2E_TMP/$gw.json" 1
	start_gateway "$gw" 2
	[ "$(http_get "$PORT" /x/whoami)" = "$UP_A" ] || fail "generation 1: /x/ did not reach a"
	wait_until 5 "a's request counted" admin_stat_is "$ADMIN" 'd["upstreams"]["a"]["requests"]' 1
	more=$(free_port)
	EXTRA_LISTENER=", { \"name\": \"more\", \"address\": \"127.0.0.1\", \"port\": $more }" reload_to "$gw" 2
	admin_stat_is "$ADMIN" 'sorted(d["upstreams"])' "['b']" || fail "generation 2: upstreams $(admin_stat "$ADMIN" 'sorted(d["upstreams"])')"
	admin_stat_is "$ADMIN" '[l["name"] for l in d["listeners"]]' "['test', 'more']" ||
		fail "generation 2: listeners $(admin_stat "$ADMIN" 'd["listeners"]')"
	[ "$(http_get "$more" /x/whoami)" = "$UP_B" ] || fail "generation 2: /x/ on the added listener did not reach b"
	wait_until 5 "b's request counted" admin_stat_is "$ADMIN" 'd["upstreams"]["b"]["endpoints"][0]["requests"]' 1
	[ "$(requests_metric "$ADMIN" b)" = 1 ] && [ "$(requests_metric "$ADMIN" a)" = none ] ||
		fail "generation 2: /metrics requests of b $(requests_metric "$ADMIN" b), of a $(requests_metric "$ADMIN" a)"
	reload_to "$gw" 3
	admin_stat_is "$ADMIN" 'sorted(d["upstreams"])' "['a']" || fail "generation 3: upstreams $(admin_stat "$ADMIN" 'sorted(d["upstreams"])')"
	admin_stat_is "$ADMIN" 'd["upstreams"]["a"]["requests"]' 1 || fail "generation 3: a's count was not kept"
	admin_stat_is "$ADMIN" '[l["name"] for l in d["listeners"]]' "['test']" ||
		fail "generation 3: listeners $(admin_stat "$ADMIN" 'd["listeners"]')"
	no_kernel_died "$gw"
	stop_all "$gw"
}

# ---- a client on pipes (gw_reload.py): orders in, answers out ----

# client_start NAME ARGS...: gw_reload.py ARGS with its stdin and stdout
# on pipes. Start it after the servers: a server started later would hold
# its stdin's pipe open, and the client would never see it close.
client_start() {
	local name=$1
	shift
	mkfifo "$E2E_TMP/$name.in" "$E2E_TMP/$name.answers"
	python3 "$CLIENT" "$@" <"$E2E_TMP/$name.in" >"$E2E_TMP/$name.answers" 2>"$E2E_TMP/$name.err" &
	CLIENT_PID=$!
	exec {CLIENT_IN}>"$E2E_TMP/$name.in" {CLIENT_OUT}<"$E2E_TMP/$name.answers"
	CLIENT_NAME=$name
	CLIENT_SAID=
}

client_say() { printf '%s\n' "$1" >&"$CLIENT_IN"; }

# client_expect LINE SECS: reads the client's answers until LINE (each
# read waits at most SECS), unless it came already (every answer the
# client gives is different); fails on a "FAIL: ..." answer, on its end or
# on silence.
client_expect() {
	local line
	[[ $'\n'$CLIENT_SAID != *$'\n'"$1"$'\n'* ]] || return 0
	while :; do
		IFS= read -r -t "$2" -u "$CLIENT_OUT" line ||
			fail "no '$1' from the client within $2 s; it said:$(client_said)$(server_stderr "$CLIENT_NAME")"
		CLIENT_SAID+="$line"$'\n'
		[ "$line" != "$1" ] || return 0
		[[ $line != FAIL:* ]] || fail "waiting for '$1', the client said:$(client_said)$(server_stderr "$CLIENT_NAME")"
	done
}

# The last lines the client said, indented, for failure messages.
client_said() {
	printf '\n%s' "$CLIENT_SAID" | tail -n 20 | sed 's/^/    | /'
}

# client_reload_to NAME GEN: the configuration of generation GEN, SIGHUP,
# and a wait until every kernel applies it, which the client watches
# ("await GEN": it polls /stats).
client_reload_to() {
	reload_config "$E2E_TMP/$1.json" "$2"
	signal_server "$1" HUP
	client_say "await $2"
	client_expect "applied $2" 15
}

# client_finish SECS: closes the client's stdin, reads the rest of what it
# says into CLIENT_SAID and its exit status into CLIENT_STATUS.
client_finish() {
	local line rc=0
	exec {CLIENT_IN}>&-
	CLIENT_SAID=
	while IFS= read -r -t "$1" -u "$CLIENT_OUT" line || rc=$?; [ "$rc" = 0 ]; do
		CLIENT_SAID+="$line"$'\n'
	done
	[ "$rc" -le 128 ] || fail "the client did not end within $1 s of being told; it said: $CLIENT_SAID"
	exec {CLIENT_OUT}<&-
	CLIENT_STATUS=0
	wait "$CLIENT_PID" || CLIENT_STATUS=$?
}

# ---- the cases ----

reload_under_load() {
	local k=$1 gw=load$1 gen counts
	start_upstreams "$gw"
	reload_config "$E2E_TMP/$gw.json" 1
	start_gateway "$gw" "$k"
	served_by "$PORT" 1
	client_start "$gw.client" load "$PORT" "$ADMIN" "$UP_A" "$UP_B"
	client_expect running 15
	for gen in $(seq 2 $((RELOADS + 1))); do
		client_reload_to "$gw" "$gen"
		served_by "$PORT" "$gen"
		# The client had an answer from this generation: the reloads
		# happen under load, not between bursts.
		client_expect "saw $gen" 10
	done
	admin_stat_is "$ADMIN" '(d["config"]["reloads"], d["config"]["last_reload"])' \
		"({'accepted': $RELOADS, 'refused': 0}, 'accepted')" || fail "reloads: $(admin_stat "$ADMIN" 'd["config"]')"
	client_finish 30
	counts=$(head -n 1 <<<"$CLIENT_SAID")
	[ "$CLIENT_STATUS" = 0 ] || fail "the load client: $CLIENT_SAID$(server_stderr "$gw.client")"
	note "  -k $k, $RELOADS reloads under load: $counts"
	no_kernel_died "$gw"
	stop_all "$gw"
}

streams_survive_reloads() {
	local k=$1 gw=streams$1 gen out
	start_server "$gw.a" "$UPSTREAM" -p 0 -k 1
	start_server "$gw.b" "$UPSTREAM" -p 0 -k 1
	start_server "$gw.s" "$UPSTREAM" -p 0 -k 1
	UP_A=${E2E_PORT[$gw.a]} UP_B=${E2E_PORT[$gw.b]} UP_S=${E2E_PORT[$gw.s]}
	reload_config "$E2E_TMP/$gw.json" 1
	start_gateway "$gw" "$k"
	client_start "$gw.client" streams "$PORT" "$ADMIN" "$STREAMS" "A 1"
	client_expect ready 30
	for gen in $(seq 2 $((STREAM_RELOADS + 1))); do
		client_reload_to "$gw" "$gen"
		served_by "$PORT" "$gen"
		client_say step
		client_expect "stepped $((gen - 1))" 30
	done
	client_say end
	client_finish 30
	out=$CLIENT_SAID
	if [ "$CLIENT_STATUS" != 0 ] || [[ $out != ok* ]]; then
		fail "the streams: $out$(server_stderr "$gw.client")"
	fi
	note "  -k $k, across $STREAM_RELOADS reloads: ${out%$'\n'}"
	no_kernel_died "$gw"
	stop_server "$gw"
	stop_server "$gw.a"
	stop_server "$gw.b"
	stop_server "$gw.s"
}

# problem_logged NAME REGEX: a line of NAME's stderr holds REGEX (grep -E),
# and one of the problems in /stats is REGEX (the whole line).
problem_logged() {
	local problems
	grep -Eq -- "$2" "$(server_err_file "$1")" || fail "no problem logged matching '$2':$(server_stderr "$1")"
	problems=$(admin_stat "$ADMIN" '"\n".join(d["config"]["problems"])')
	grep -Eqx -- "$2" <<<"$problems" || fail "no problem in /stats matching '$2': $problems"
}

# unchanged: generation 1 everywhere, served by it.
unchanged() {
	generations_are "$ADMIN" 1 || fail "the generation moved: $(admin_stat "$ADMIN" "$GENERATIONS")"
	admin_stat_is "$ADMIN" 'd["config"]["last_reload"]' refused || fail "last_reload: $(admin_stat "$ADMIN" 'd["config"]')"
	served_by "$PORT" 1
}

invalid_config_refused() {
	local k=$1 gw=invalid$1 file good line
	start_upstreams "$gw"
	file=$E2E_TMP/$gw.json
	reload_config "$file" 1
	start_gateway "$gw" "$k"
	served_by "$PORT" 1
	# Generation 2's file with a stray comma.
	reload_config "$file" 2
	good=$(cat "$file")
	install_file "$file" "${good/\"routes\": \[/\"routes\": [ ,}"
	line=$(grep -n '"routes": \[ ,' "$file" | cut -d: -f1)
	[ -n "$line" ] || fail "the syntax error was not written: $(cat "$file")"
	hup_refused "$gw" 1
	problem_logged "$gw" "$file:$line:[0-9]+: .*"
	unchanged
	# Then with an upstream that does not exist.
	install_file "$file" "${good//\"upstream\": \"b\"/\"upstream\": \"nope\"}"
	hup_refused "$gw" 2
	problem_logged "$gw" "$file:[0-9]+:[0-9]+: /routes/0/action/proxy/upstream: unknown upstream \"nope\".*"
	unchanged
	admin_stat_is "$ADMIN" 'd["config"]["reloads"]["accepted"]' 0 || fail "reloads: $(admin_stat "$ADMIN" 'd["config"]')"
	# The file made right: accepted, as generation 2.
	reload_to "$gw" 2
	served_by "$PORT" 2
	admin_stat_is "$ADMIN" '(d["config"]["reloads"], d["config"]["last_reload"], d["config"]["problems"])' \
		"({'accepted': 1, 'refused': 2}, 'accepted', [])" || fail "after the good file: $(admin_stat "$ADMIN" 'd["config"]')"
	no_kernel_died "$gw"
	stop_all "$gw"
}

# post_reload: POST /config/reload; RELOAD_STATUS and RELOAD_BODY.
post_reload() {
	local out
	out=$(curl -s --noproxy '*' --max-time 15 -w '\n%{http_code}' -X POST "http://127.0.0.1:$ADMIN/config/reload") ||
		fail "POST /config/reload: curl failed"
	RELOAD_STATUS=${out##*$'\n'}
	RELOAD_BODY=${out%$'\n'*}
	RELOAD_BODY=${RELOAD_BODY%$'\n'} # the body ends in a newline
}

# The other triggers: POST /config/reload answers once every kernel has
# the new file (200, applied) or with the problems (422), and with
# --watch a file renamed over the configuration reloads it, no signal
# sent; a broken one is refused the same way.
admin_and_watch_reload() {
	local k=$1 gw=triggers$1 file good line
	start_upstreams "$gw"
	file=$E2E_TMP/$gw.json
	reload_config "$file" 1
	start_gateway "$gw" "$k" --watch
	served_by "$PORT" 1
	# The watcher, then the admin call (on the same file: the answer comes
	# once every kernel applies it, as generation 3).
	reload_config "$file.next" 2
	good=$(cat "$file.next")
	printf '%s\n' "$good" >"$file"
	wait_until 10 "the watcher's reload of generation 2" generations_are "$ADMIN" 2
	post_reload
	[ "$RELOAD_STATUS" = 200 ] && [ "$RELOAD_BODY" = '{"status":"applied","generation":3,"problems":[]}' ] ||
		fail "POST /config/reload: $RELOAD_STATUS $RELOAD_BODY"
	generations_are "$ADMIN" 3 || fail "after the admin's reload: $(admin_stat "$ADMIN" "$GENERATIONS")"
	# A broken file, asked by the admin call: 422 with the problem; the
	# watcher's own reload of it is refused too.
	install_file "$file" "${good/\"routes\": \[/\"routes\": [ ,}"
	line=$(grep -n '"routes": \[ ,' "$file" | cut -d: -f1)
	wait_until 10 "the watcher's reload of the broken file refused" \
		admin_stat_is "$ADMIN" 'd["config"]["reloads"]["refused"]' 1
	post_reload
	[ "$RELOAD_STATUS" = 422 ] || fail "POST /config/reload of a broken file: $RELOAD_STATUS $RELOAD_BODY"
	python3 -c 'import json, re, sys; d = json.loads(sys.argv[1]); sys.exit(not (d["status"] == "refused" and d["generation"] == 3 and any(re.fullmatch(sys.argv[2], p) for p in d["problems"])))' \
		"$RELOAD_BODY" "$file:$line:[0-9]+: .*" || fail "the 422's body: $RELOAD_BODY"
	generations_are "$ADMIN" 3 || fail "a broken file changed the generation: $(admin_stat "$ADMIN" "$GENERATIONS")"
	# (Generation 3 is generation 2's file, asked for again.)
	[ "$(http_get "$PORT" /r)" = "B 2" ] || fail "GET /r after the refused reload: $(http_get "$PORT" /r)"
	# Through the watcher alone: the next good file, renamed over it.
	reload_config "$file" 4
	wait_until 10 "the watcher's reload of generation 4" generations_are "$ADMIN" 4
	served_by "$PORT" 4
	grep -q "vkgw: configuration: $gw.json changed: reloading" "$(server_err_file "$gw")" ||
		fail "the watcher did not say why it reloaded:$(server_stderr "$gw")"
	no_kernel_died "$gw"
	stop_all "$gw"
}

listener_changes() {
	local k=$1 gw=listeners$1 file new held line out
	start_upstreams "$gw"
	file=$E2E_TMP/$gw.json
	reload_config "$file" 1
	start_gateway "$gw" "$k"
	served_by "$PORT" 1
	# A listener added on port 0: each kernel would get its own port.
	EXTRA_LISTENER=", { \"name\": \"more\", \"address\": \"127.0.0.1\", \"port\": 0 }" reload_config "$file" 2
	hup_refused "$gw" 1
	problem_logged "$gw" "$file:[0-9]+:[0-9]+: /listeners/1: listener more: .*not 0.*"
	unchanged
	# The listener kept, its isolation changed.
	LISTEN_EXTRA=', "isolation": "always"' reload_config "$file" 2
	hup_refused "$gw" 2
	problem_logged "$gw" "$file:[0-9]+:[0-9]+: /listeners/0: listener test: its isolation .*"
	unchanged
	# The admin listener moved.
	ADMIN_LISTEN_PORT=$(free_port) reload_config "$file" 2
	hup_refused "$gw" 3
	problem_logged "$gw" "$file:[0-9]+:[0-9]+: /admin[/:].*"
	unchanged
	# The same routes and upstreams on the listeners as they are: accepted.
	reload_to "$gw" 2
	served_by "$PORT" 2
	admin_stat_is "$ADMIN" 'd["config"]["reloads"]' "{'accepted': 1, 'refused': 3}" ||
		fail "reloads: $(admin_stat "$ADMIN" 'd["config"]')"
	# The listener moved to another port: the new one answers, the old
	# one refuses. A connection open on the old one before the move is
	# served once more, on the configuration it had, and then closed.
	tcp_open held "$PORT"
	printf 'GET /r HTTP/1.1\r\nHost: a.test\r\n\r\n' >&"$held"
	IFS= read -r -t 5 -u "$held" line || fail "no answer on the held connection before the move"
	[[ $line == "HTTP/1.1 200 "* ]] || fail "the held connection's first answer: $line"
	while IFS= read -r -t 5 -u "$held" line && [ "$line" != $'\r' ]; do :; done
	IFS= read -r -t 5 -u "$held" line || fail "no body on the held connection"
	[ "$line" = "B 2" ] || fail "the held connection's first body: $line"
	new=$(free_port)
	LISTEN_PORT=$new reload_to "$gw" 3
	served_by "$new" 3
	! curl -s --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/r" ||
		fail "the listener's old port $PORT still answers after it moved"
	printf 'GET /r HTTP/1.1\r\nHost: a.test\r\n\r\n' >&"$held"
	out=$(tcp_read_to_close "$held" 5) || fail "the held connection was not closed after its answer"
	tcp_close "$held"
	grep -q $'^Connection: close\r$' <<<"$out" && [ "${out##*$'\n'}" = "B 2" ] ||
		fail "the held connection after the move: $out"
	no_kernel_died "$gw"
	stop_all "$gw"
}

# listeners_follow_reloads K: under load on the first listener, 10
# reloads that each close a listener and open another (on the other of
# two ports, in turn): the one opened answers with its generation as soon
# as every kernel applied it, the one closed refuses, and the load on the
# first listener sees no error.
listeners_follow_reloads() {
	local k=$1 gw=follow$1 gen p1 p2 open shut counts
	start_upstreams "$gw"
	p1=$(free_port)
	p2=$(free_port)
	while [ "$p2" = "$p1" ]; do p2=$(free_port); done
	EXTRA_LISTENER=", { \"name\": \"x1\", \"address\": \"127.0.0.1\", \"port\": $p1 }" \
		reload_config "$E2E_TMP/$gw.json" 1
	start_gateway "$gw" "$k"
	served_by "$p1" 1
	client_start "$gw.client" load "$PORT" "$ADMIN" "$UP_A" "$UP_B"
	client_expect running 15
	for gen in $(seq 2 11); do
		if [ $((gen % 2)) = 0 ]; then open=$p2 shut=$p1; else open=$p1 shut=$p2; fi
		EXTRA_LISTENER=", { \"name\": \"x$((2 - gen % 2))\", \"address\": \"127.0.0.1\", \"port\": $open }" \
			client_reload_to "$gw" "$gen"
		served_by "$open" "$gen"
		served_by "$PORT" "$gen"
		! curl -s --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:$shut/r" ||
			fail "generation $gen: the closed listener on $shut still answers"
		client_expect "saw $gen" 10
	done
	[ "$(grep -c 'listener x1 closed' "$(server_err_file "$gw")")" = $((5 * k)) ] ||
		fail "not every kernel closed x1 five times:$(server_stderr "$gw")"
	client_finish 30
	counts=$(head -n 1 <<<"$CLIENT_SAID")
	[ "$CLIENT_STATUS" = 0 ] || fail "the load client: $CLIENT_SAID$(server_stderr "$gw.client")"
	note "  -k $k, 10 listener swaps under load: $counts"
	no_kernel_died "$gw"
	stop_all "$gw"
}

# state_config FILE GEN: upstream "kept" (the test upstream on $UP_A) and
# "flaky" (the one on $UP_B, and a port that refuses connections, ejected
# after 2 refused connects), the same at every generation; the routes
# change: /c/... to "kept", /f/... to "flaky", X-Config "G", and from
# generation 2 on one more route, before them.
state_config() {
	local file=$1 gen=$2 more=
	[ "$gen" = 1 ] || more="
    { \"name\": \"more\", \"match\": { \"path\": { \"exact\": \"/more\" } },
      \"action\": { \"respond\": { \"status\": 200, \"body\": \"more\\n\" } } },"
	cat >"$file.tmp" <<JSON
{
  "listeners": [ { "name": "test", "address": "127.0.0.1", "port": 0 } ],
  "admin": { "address": "127.0.0.1", "port": 0 },
  "upstreams": {
    "kept": { "endpoints": [ "127.0.0.1:$UP_A" ] },
    "flaky": { "endpoints": [ "127.0.0.1:$UP_B", "127.0.0.1:$DOWN" ],
               "outlier_detection": { "consecutive_connect_failures": 2, "base_ejection_ms": 300000,
                                      "max_ejection_percent": 50 } }
  },
  "routes": [$more
    { "name": "c$gen", "match": { "path": { "prefix": "/c/" } },
      "filters": [ { "type": "headers", "response": { "set": { "x-config": "$gen" } } } ],
      "action": { "proxy": { "upstream": "kept", "prefix_rewrite": "/" } } },
    { "name": "f", "match": { "path": { "prefix": "/f/" } },
      "filters": [ { "type": "headers", "response": { "set": { "x-config": "$gen" } } } ],
      "action": { "proxy": { "upstream": "flaky", "prefix_rewrite": "/" } } }
  ]
}
JSON
	mv -f "$file.tmp" "$file"
}

# conn_is PATH WANT GEN: GET PATH (on a new client connection) answers
# WANT under generation GEN.
conn_is() {
	local out
	out=$(curl -s --noproxy '*' --max-time 5 -H 'Connection: close' -D "$E2E_TMP/conn.head" \
		"http://127.0.0.1:$PORT$1") || fail "GET $1: no answer"
	[ "$out" = "$2" ] || fail "GET $1: '$out', expected '$2'"
	grep -qix "x-config: $3"$'\r' "$E2E_TMP/conn.head" || fail "GET $1: not generation $3: $(cat "$E2E_TMP/conn.head")"
}

EP_DOWN='d["upstreams"]["flaky"]["endpoints"][1]'

upstream_state_kept() {
	local gw=state file before
	start_server "$gw.a" "$UPSTREAM" -p 0 -k 1
	start_server "$gw.b" "$UPSTREAM" -p 0 -k 1
	start_server "$gw.down" "$UPSTREAM" -p 0 -k 1
	UP_A=${E2E_PORT[$gw.a]} UP_B=${E2E_PORT[$gw.b]} DOWN=${E2E_PORT[$gw.down]}
	stop_server "$gw.down" # its port now refuses connections
	file=$E2E_TMP/$gw.json
	state_config "$file" 1
	start_gateway "$gw" 1
	conn_is /c/conn "1 1" 1
	conn_is /c/conn "1 2" 1
	wait_until 5 "the upstream connection kept" admin_stat_is "$ADMIN" 'd["upstreams"]["kept"]["kept"]' 1
	# Round robin: 2 of 4 requests go to the refusing endpoint.
	for _ in 1 2 3 4; do
		curl -s --noproxy '*' --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/f/whoami" || true
	done
	wait_until 5 "the refusing endpoint ejected ($(admin_stat "$ADMIN" "$EP_DOWN"))" \
		admin_stat_is "$ADMIN" "(${EP_DOWN}['state'], ${EP_DOWN}['ejections'])" "('ejected', 1)"
	before=$(admin_stat "$ADMIN" "${EP_DOWN}['connect_failures']")
	# Only the routes change.
	state_config "$file" 2
	signal_server "$gw" HUP
	wait_until 10 "generation 2 applied" generations_are "$ADMIN" 2
	[ "$(http_get "$PORT" /more)" = more ] || fail "the new route does not answer"
	conn_is /c/conn "1 3" 2
	admin_stat_is "$ADMIN" "(${EP_DOWN}['state'], ${EP_DOWN}['ejections'])" "('ejected', 1)" ||
		fail "after the reload: $(admin_stat "$ADMIN" "$EP_DOWN")"
	for _ in 1 2 3 4; do
		conn_is /f/whoami "$UP_B" 2
	done
	admin_stat_is "$ADMIN" "${EP_DOWN}['connect_failures']" "$before" ||
		fail "the ejected endpoint was tried again: $(admin_stat "$ADMIN" "$EP_DOWN")"
	conn_is /c/conn "1 4" 2
	no_kernel_died "$gw"
	stop_all "$gw"
}

for k in 1 2; do
	run_case "-k $k: $RELOADS reloads under load, each answer of one configuration whole" reload_under_load "$k"
	run_case "-k $k: $STREAMS streams held across $STREAM_RELOADS reloads: none cut, every byte there" \
		streams_survive_reloads "$k"
	run_case "-k $k: a file with a syntax or a semantic error is refused, the old configuration serves" \
		invalid_config_refused "$k"
	run_case "-k $k: listeners a reload cannot change are refused; a listener moves to another port" \
		listener_changes "$k"
	run_case "-k $k: under load, reloads that close a listener and open another: no error on the others" \
		listeners_follow_reloads "$k"
	run_case "-k $k: POST /config/reload and --watch reload, or refuse a broken file with its problems" \
		admin_and_watch_reload "$k"
done
run_case "an upstream left as it was keeps its kept connection and its ejected endpoint" upstream_state_kept
run_case "-k 2: /stats and /metrics follow the upstreams and listeners of each reload" stats_follow_reloads
finish
