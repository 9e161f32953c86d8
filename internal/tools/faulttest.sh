#!/usr/bin/env bash
# Runs the fault tests (internal/crashtest, and the FaultStore tests in
# objstore) with the failpoint markers in engine and objstore rewritten by
# failpoint-ctl, against a local directory and a throwaway MinIO. Called by
# `make fault-test`; extra arguments go to `go test`, e.g.
#
#   internal/tools/faulttest.sh -run TestCrashMatrix -v
#
# By default the rewrite happens in a copy of the source tree (the files git
# tracks or would track), so the working tree is never touched: an editor, a
# build or a commit running meanwhile never sees rewritten files. With
# FAULTTEST_INPLACE=1 the working tree itself is rewritten (handy to debug
# with the rewritten code in place) and restored on exit, whatever the
# outcome: a test failure, an error or Ctrl-C. Either way no
# *__failpoint_* file survives the run.
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
PKGS=(engine objstore backup cluster)
TESTS=(./internal/crashtest/... ./objstore/)

# restore undoes the rewrite in the tree at $1: failpoint-ctl disable puts the
# stashed originals back and removes the binding files; anything it left is
# then put back or removed by hand.
restore() {
	local dir=$1 f
	(cd "$dir" && "$GO" tool failpoint-ctl disable "${PKGS[@]}" >/dev/null) || true
	while IFS= read -r -d '' f; do
		case "$f" in
		*__failpoint_stash__) mv -f "$f" "${f%__failpoint_stash__}" ;;
		*) rm -f "$f" ;;
		esac
	done < <(find "${PKGS[@]/#/$dir/}" -name '*__failpoint_*' -print0 2>/dev/null)
}

# Build the tool (a tool dependency in go.mod) before touching anything.
"$GO" tool failpoint-ctl -V >/dev/null

# A run killed with SIGKILL in place can leave the tree rewritten: restoring
# first is the only safe order.
if [[ -n "$(find "${PKGS[@]}" -name '*__failpoint_*' 2>/dev/null)" ]]; then
	echo "faulttest: the tree is still rewritten by an earlier run; restoring it" >&2
	restore "$PWD"
fi

if [[ "${FAULTTEST_INPLACE:-}" == 1 ]]; then
	tree=$PWD
	trap 'restore "$tree"' EXIT
else
	tree=$(mktemp -d "${TMPDIR:-/tmp}/s2lite-faulttest-XXXXXX")
	trap 'rm -rf "$tree"' EXIT
	# Tracked and untracked-but-not-ignored files, as they are now; a file
	# deleted from the working tree is simply not copied.
	git ls-files -z -co --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -xf - -C "$tree"
fi
trap 'exit 130' INT
trap 'exit 143' TERM

(cd "$tree" && "$GO" tool failpoint-ctl enable "${PKGS[@]}")

start=$(date +%s)
status=0
(cd "$tree" && S2LITE_FAILPOINTS=1 "$GO" run ./internal/tools/withminio -- \
	"$GO" test -count=1 -timeout 15m "$@" "${TESTS[@]}") || status=$?
echo "faulttest: tests took $(($(date +%s) - start))s (status $status)" >&2
exit $status
