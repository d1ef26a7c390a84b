#!/bin/sh
# Runs the libFuzzer targets built in build/fuzz/.
#
#   run.sh check BIN...  each corpus file once, then a short mutation run with a fixed
#                        seed and a fixed number of runs (so the result never depends on
#                        the machine's speed); TAP lines for tests/run-all.sh
#   run.sh long BIN...   each target for $FUZZ_TIME seconds (default 600) on a copy of its
#                        corpus (build/fuzz/run/NAME/, kept to merge from); prints the
#                        executions and exec/s; exits 1 on a finding
#
# A finding is kept as build/fuzz/findings/NAME/crash-… (or leak-, timeout-, oom-).
# WB_ONLY=substring limits either mode to the targets whose name contains it.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
mode=${1:?usage: run.sh check|long BIN...}
shift
: "${FUZZ_TIME:=600}"
: "${FUZZ_CHECK_RUNS:=2000}"
: "${FUZZ_CHECK_SEED:=1}"
: "${WB_ONLY:=}"
# One input slower than this is a finding too (a reply or a config that stalls the bridge).
timeout=60
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
command -v llvm-symbolizer >/dev/null 2>&1 &&
	export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"

work=$(mktemp -d /tmp/wbfuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0 failed=0

stat_of() { # name, log: the value of libFuzzer's final "stat::name:" line
	sed -n "s/^stat::$1: *//p" "$2" | tail -n1
}

# Keeps what libFuzzer left in the artifact directory, and says where.
keep_findings() { # name, artifact dir
	set -- "$1" "$2" "$top/build/fuzz/findings/$1"
	for f in "$2"/*; do
		[ -f "$f" ] || continue
		mkdir -p "$3" && cp "$f" "$3/" && echo "# finding kept: $3/${f##*/}"
	done
}

tap() { # ok|not ok, description, log
	n=$((n + 1))
	echo "$1 $n - $2"
	if [ "$1" != ok ]; then
		failed=$((failed + 1))
		sed 's/^/# /' "$3" | tail -n 60
	fi
}

check_one() { # bin, name, corpus, dict args...
	bin=$1 name=$2 corpus=$3
	shift 3
	files=$(find "$corpus" -type f | wc -l)
	mkdir -p "$work/$name/art" "$work/$name/new"
	# One run: libFuzzer first runs every corpus input (then prints INITED), then mutates.
	log=$work/$name/check.log
	"$bin" "$@" -seed="$FUZZ_CHECK_SEED" -runs="$FUZZ_CHECK_RUNS" -timeout=$timeout \
		-print_final_stats=1 -artifact_prefix="$work/$name/art/" \
		"$work/$name/new" "$corpus" >"$log" 2>&1
	rc=$?
	grep -Eq '^#[0-9]+[[:space:]]+INITED ' "$log" && r=ok || r="not ok"
	tap "$r" "fuzz-$name: each of the $files corpus inputs once" "$log"
	[ $rc -eq 0 ] && r=ok || r="not ok"
	tap "$r" "fuzz-$name: $FUZZ_CHECK_RUNS mutations from seed $FUZZ_CHECK_SEED" "$log"
	echo "# fuzz-$name: $(stat_of number_of_executed_units "$log") executions," \
	     "$(stat_of average_exec_per_sec "$log") exec/s"
	keep_findings "$name" "$work/$name/art"
}

long_one() { # bin, name, corpus, dict args...
	bin=$1 name=$2 corpus=$3
	shift 3
	copy=$top/build/fuzz/run/$name
	rm -rf "$copy" && mkdir -p "$copy" "$work/$name/art" && cp "$corpus"/* "$copy/"
	before=$(find "$copy" -type f | wc -l)
	log=$top/build/fuzz/run/$name.log
	echo "fuzz-$name: $FUZZ_TIME s on a copy of its $before corpus inputs ($copy)"
	"$bin" "$@" -max_total_time="$FUZZ_TIME" -timeout=$timeout -print_final_stats=1 \
		-artifact_prefix="$work/$name/art/" "$copy" >"$log" 2>&1
	rc=$?
	after=$(find "$copy" -type f | wc -l)
	echo "fuzz-$name: $(stat_of number_of_executed_units "$log") executions," \
	     "$(stat_of average_exec_per_sec "$log") exec/s, corpus $before -> $after inputs"
	if [ $rc -ne 0 ]; then
		failed=$((failed + 1))
		tail -n 60 "$log"
		echo "fuzz-$name: FINDING (exit $rc; the whole log is $log)"
	fi
	keep_findings "$name" "$work/$name/art"
}

# Paths in fuzzed configurations are looked at relative to the working directory: an
# empty one.
here=$(pwd)
mkdir -p "$work/cwd"
cd "$work/cwd" || exit 1
for bin in "$@"; do
	case "$bin" in /*) ;; *) bin=$here/$bin ;; esac
	name=${bin##*/fuzz-}
	case "fuzz-$name" in *"$WB_ONLY"*) ;; *) continue ;; esac
	corpus=$top/tests/fuzz/corpus/$name
	dict=$top/tests/fuzz/$name.dict
	if [ ! -d "$corpus" ]; then
		echo "not ok - fuzz-$name: no corpus in $corpus"
		failed=$((failed + 1))
		continue
	fi
	[ -f "$dict" ] && dictarg=-dict=$dict || dictarg=
	case "$mode" in
	check) check_one "$bin" "$name" "$corpus" ${dictarg:+"$dictarg"} ;;
	long) long_one "$bin" "$name" "$corpus" ${dictarg:+"$dictarg"} ;;
	*) echo "run.sh: unknown mode $mode" >&2; exit 64 ;;
	esac </dev/null
done
[ "$failed" -eq 0 ]
