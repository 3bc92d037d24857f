#!/usr/bin/env bash
# The layers (docs/gateway-design.md, Layers): a file includes headers of
# its own layer and of the layers below it, never one from above. The
# Makefile compiles each directory with only those include paths, so an
# upward include by file name does not compile; this suite also catches
# what include paths cannot: a path ("../gateway/gw_http.h") that reaches
# another directory, in quotes or angle brackets. deploy/, tests/ and
# bench/ sit above every layer and are not checked.
#
# LAYERS_ROOT=DIR checks another tree (e.g. an older commit) instead.
. "$(dirname "$0")/lib.sh"

ROOT=${LAYERS_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}

# Each layer, and the directories whose headers it may include.
declare -A LAYER_SEES=(
	[vkern]="vkern"
	[config]="config"
	[gateway]="gateway config vkern"
	[upstreams]="upstreams gateway config vkern"
	[filters]="filters gateway config vkern"
)
PROJECT_DIRS="vkern config gateway upstreams filters deploy"

# layer_violations ROOT: one line per include that breaks the layering.
layer_violations() {
	local root=$1 layer file line kind name dir seen where
	for layer in vkern config gateway upstreams filters; do
		while IFS=: read -r file line kind name; do
			case $name in
			*..*)
				echo "$file:$line: includes $name by a relative path"
				continue
				;;
			*/*)
				# <sys/queue.h> and the like are system headers.
				if [ "$kind" = '"' ]; then
					echo "$file:$line: includes \"$name\" by path; name a header by its file name"
				fi
				continue
				;;
			esac
			# A quoted include is looked up beside the including file first.
			[ "$kind" = '"' ] && [ -f "$root/$(dirname "$file")/$name" ] && continue
			seen=
			for dir in ${LAYER_SEES[$layer]}; do
				[ -f "$root/$dir/$name" ] && seen=$dir
			done
			[ -n "$seen" ] && continue
			where=
			for dir in $PROJECT_DIRS; do
				[ -f "$root/$dir/$name" ] && where=$dir
			done
			if [ -n "$where" ]; then
				echo "$file:$line: includes $name from $where/, above $layer/ (it sees: ${LAYER_SEES[$layer]})"
			elif [ "$kind" = '"' ]; then
				echo "$file:$line: includes \"$name\", which is in none of: ${LAYER_SEES[$layer]}"
			fi
		done < <(cd "$root" &&
			grep -rEHn --include='*.c' --include='*.h' '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$layer" |
			sed -E 's/^([^:]*):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*(["<])([^">]*).*/\1:\2:\3:\4/')
	done
}

tree_keeps_its_layers() {
	local out
	out=$(layer_violations "$ROOT")
	[ -z "$out" ] || fail "includes against the layers:"$'\n'"$out"
}

# The check itself finds each kind of violation, in a copy of the tree.
check_finds_violations() {
	local copy=$E2E_TMP/tree out
	mkdir -p "$copy"
	for dir in vkern config gateway upstreams filters; do
		cp -r "$ROOT/$dir" "$copy/"
	done
	echo '#include "../gateway/gw_http.h"' >>"$copy/config/gw_config_s.h"
	echo '#include "gw_pool.h"' >>"$copy/gateway/gw_conn.c"
	echo '#include <../config/gw_arena.h>' >>"$copy/vkern/vk_kern.c"
	echo '  #  include "gw_upstreams.h"' >>"$copy/filters/gw_filters.c"
	echo '#include <gw_http.h>' >>"$copy/config/gw_config_match.c"
	echo '#include "gw_nowhere.h"' >>"$copy/upstreams/gw_pool.c"
	out=$(layer_violations "$copy")
	for file in config/gw_config_s.h gateway/gw_conn.c vkern/vk_kern.c filters/gw_filters.c \
		config/gw_config_match.c upstreams/gw_pool.c; do
		grep -q "^$file:" <<<"$out" || fail "no violation reported in $file; got:"$'\n'"$out"
	done
	[ "$(wc -l <<<"$out")" -eq 6 ] || fail "expected 6 violations, got:"$'\n'"$out"
}

run_case "every layer includes only its own and lower layers' headers" tree_keeps_its_layers
run_case "the check reports relative, upward and unknown includes" check_finds_violations
finish
