# SPDX-License-Identifier: GPL-2.0
# Common settings for the ci/ scripts. Source it; do not run it.
#
# Everything expensive lives in $MMIOTRACE_CACHE, a fixed path outside the
# clone, so that a second run (or CI in a fresh clone) reuses it:
#   $CACHE/apt        private apt lists for the one trixie-backports download
#   $CACHE/bindgen    cargo-installed bindgen-cli
#   $CACHE/base       git repository: first commit = pristine linux-source-7.3
#   $CACHE/src        worktree of $CACHE/base with the series applied
#   $CACHE/tip        worktree of $CACHE/base at the tip (ci/series: git am
#                     of all patches, the i386 build, rustfmtcheck)
#   $CACHE/build      O= build directory of the test kernel, built at
#                     the tip (MMIOTRACE_BUILD names another, e.g. ci/kcsan's)
#   $CACHE/src-p, $CACHE/build-p, $CACHE/src-p-b, $CACHE/build-p-b
#                     worktrees and O= directories of ci/series' two lanes
#                     of per-patch builds (ci/patch.config)
#   $CACHE/ccache     ccache directory

set -euo pipefail

CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$CI_DIR/.." && pwd)
CACHE=${MMIOTRACE_CACHE:-/var/tmp/mmiotrace-cache}
BINDGEN_VERSION=0.73.2
BINDGEN_ROOT=$CACHE/bindgen
BASE_REPO=$CACHE/base
SRC=$CACHE/src
BUILD=${MMIOTRACE_BUILD:-$CACHE/build}
OUT=${MMIOTRACE_OUT:-$TOP/out}
JOBS=${JOBS:-$(nproc)}

export PATH=$BINDGEN_ROOT/bin:$PATH
export CCACHE_DIR=$CACHE/ccache
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_BASEDIR=$CACHE
# Depend mode: a miss compiles once and hashes the includes the compiler
# lists (-Wp,-MMD), instead of running the preprocessor first to hash
# its output.  Measured side by side (session 24, kernel/ and mm/ of the
# test config from scratch, 2 cores): 184 s with an empty cache in the
# default mode, 117 s in depend mode, 135 to 150 s without ccache; all
# hits: 18.9 s against 7.0 s.
export CCACHE_DEPEND=1

# rustup's rustc (no rust-src) may come first on PATH: name Debian's tools.
MAKEOPTS=(ARCH=x86_64 LLVM=-19 "CC=ccache clang-19"
	  RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc
	  RUSTDOC=/usr/bin/rustdoc RUSTFMT=/usr/bin/rustfmt
	  CLIPPY_DRIVER=/usr/bin/clippy-driver
	  "BINDGEN=$BINDGEN_ROOT/bin/bindgen")

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# The devices the boot tests trace: NAME VENDOR:DEVICE QEMU-REGION (the
# name of the device model's BAR region in QEMU's trace log).
TRACED_DEVICES=("e1000 8086:100e e1000-mmio"
		"pci-testdev 1b36:0005 pci-testdev-mmio")

# The series as mail: its revision ([PATCH v2 ...]), b4's change-id (the
# same in every revision) and the identity of the commits and cover letter.
SERIES_REVISION=2
SERIES_CHANGE_ID=20261130-kmmio-infrastructure-5f1c2a7e9b04
SERIES_AUTHOR_NAME="mmiotrace developers"
SERIES_AUTHOR_EMAIL=mmiotrace-dev@example.org

# Pinned base: written by ci/base, read by everything else.
base_pin() { sed -n "s/^$1=//p" "$TOP/patches/BASE"; }

# Results of the checks, one line each ("PASS|FAIL|SKIP name: detail"),
# appended by every step and summed up by ci/test.
RESULTS=${MMIOTRACE_RESULTS:-$OUT/results}
record() {
	local status=$1; shift
	mkdir -p "$(dirname "$RESULTS")"
	printf '%s %s\n' "$status" "$*" >>"$RESULTS"
	printf '    [%s] %s\n' "$status" "$*"
}

# The patches of the series, in order (patches/series), as paths.
series_patches() { sed "s|^|$TOP/patches/|" "$TOP/patches/series"; }

# apply_series TREE: git am the whole series onto TREE, a worktree at the
# base.  The one way the pipeline applies the series whole (ci/series
# applies it once more patch by patch, to build each).
apply_series() {
	local p=()
	mapfile -t p < <(series_patches)
	[ ${#p[@]} -gt 0 ] || die "patches/series is empty"
	git -C "$1" am -q "${p[@]}"
}

# tip_worktree [--fresh]: $TIP, a worktree of the base on branch
# mmiotrace-tip with the whole series applied.  Reused while patches/ and
# the base are those it was made from ($TIP.stamp); --fresh makes it anew.
# Fails (and leaves no stamp) if the series does not apply.
TIP=$CACHE/tip
tip_worktree() {
	local stamp
	stamp=$(cat "$TOP/patches/BASE" $(series_patches) | sha256sum | cut -d' ' -f1)
	if [ "${1:-}" != --fresh ] && [ "$(cat "$TIP.stamp" 2>/dev/null)" = "$stamp" ] &&
	   [ "$(git -C "$TIP" rev-list --count refs/tags/base..HEAD 2>/dev/null)" = "$(wc -l <"$TOP/patches/series")" ] &&
	   [ -z "$(git -C "$TIP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		return 0
	fi
	rm -f "$TIP.stamp"
	git -C "$BASE_REPO" worktree remove --force "$TIP" >/dev/null 2>&1 || rm -rf "$TIP"
	git -C "$BASE_REPO" worktree prune
	git -C "$BASE_REPO" worktree add -q -f -B mmiotrace-tip "$TIP" refs/tags/base &&
	apply_series "$TIP" &&
	echo "$stamp" >"$TIP.stamp"
}

# Worktree $SRC of the base repository, reset to the pristine base.
src_reset() {	# [DIR [REF]]: the worktree DIR (default $SRC) at REF
	local dir=${1:-$SRC} ref=${2:-refs/tags/base}
	if ! git -C "$dir" rev-parse --git-dir >/dev/null 2>&1; then
		rm -rf "$dir"
		git -C "$BASE_REPO" worktree prune
		git -C "$BASE_REPO" worktree add -q -f --detach "$dir" refs/tags/base
	fi
	git -C "$dir" am --abort >/dev/null 2>&1 || true
	# Only files that differ from the base are rewritten: their mtimes
	# change, the rest of the tree (and so the build) stays as it is.
	git -C "$dir" checkout -q -f --detach "$ref"
	git -C "$dir" clean -q -fd
}

# Write $BUILD/.config from ci/kernel.config, as kunit.py would, but
# replace the file only if its contents change: a rewritten .config
# makes Kbuild regenerate its config headers and rebuild all Rust code.
# KERNEL_CONFIG names another fragment; KERNEL_CONFIG_BASE=allnoconfig
# applies it to "make allnoconfig" (the per-patch builds' ci/patch.config)
# instead of to the defaults of "make olddefconfig".
kernel_config() {
	local new=$BUILD/.config.new frag=${KERNEL_CONFIG:-$CI_DIR/kernel.config}
	mkdir -p "$BUILD"
	if [ "${KERNEL_CONFIG_BASE:-olddefconfig}" = allnoconfig ]; then
		make -s -C "$SRC" O="$BUILD" "${MAKEOPTS[@]}" KCONFIG_CONFIG=.config.new \
			KCONFIG_ALLCONFIG="$frag" allnoconfig >/dev/null || return 1
	else
		cp "$frag" "$new"
		make -s -C "$SRC" O="$BUILD" "${MAKEOPTS[@]}" KCONFIG_CONFIG=.config.new \
			olddefconfig >/dev/null || return 1
	fi
	if cmp -s <(grep -v '^#' "$new") <(grep -v '^#' "$BUILD/.config" 2>/dev/null); then
		rm -f "$new"
	else
		mv "$new" "$BUILD/.config"
		info "kernel config changed"
	fi
}

kernel_build() {
	make -s -C "$SRC" O="$BUILD" "${MAKEOPTS[@]}" -j"$JOBS" "$@"
}

# merge_traces DIR: DIR/trace.txt from the per-CPU traces DIR/trace-cpuN.txt
# (tracefs per_cpu/cpuN/trace_pipe), ordered by time stamp as trace_pipe
# orders them, ties in CPU and line order.  The header (VERSION, PCIDEV)
# comes from cpu0's file; every CPU's pipe repeats it.
merge_traces() {
	local dir=$1 f
	local files=()
	for f in "$dir"/trace-cpu*.txt; do
		[ -e "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	awk '
	FNR == 1 { file++ }
	/^(R|W|UNKNOWN) / { printf "%s\t%d\t%d\t%s\n", $3, file, FNR, $0; next }
	/^(MAP|UNMAP|MARK) / { printf "%s\t%d\t%d\t%s\n", $2, file, FNR, $0; next }
	file == 1 { printf "0\t0\t%d\t%s\n", FNR, $0 }
	' "${files[@]}" | sort -t "$(printf '\t')" -k1,1n -k2,2n -k3,3n -s | cut -f4- >"$dir/trace.txt"
}

# Kernel reports in the console log.  One kind is expected, and only on
# mainline, which single-steps traced accesses: kmmio_handler() clears
# IF for the step and the #DB
# handler sets it again, but the #DB exit (NMI-like) restores lockdep's
# "hardirqs off" state from its entry, so lockdep's view and the CPU
# disagree afterwards and the next lockdep_assert_irqs_enabled() warns.
# Such a warning is recognised by its source line, which must be that
# assertion; anything else fails the run.  The series emulates traced
# accesses, and its single-step fallback leaves IF alone: no exception.
# The one pattern of a kernel report in a console log (grep -E): lockdep,
# KASAN, KCSAN ("BUG: KCSAN:"), RCU, WARN*(), BUG, oops, panic, and an
# ACPI error (a guest whose devices lost their interrupt, see ci/boot).
KERNEL_REPORT_RE='WARNING:|BUG:|Oops|KASAN:|possible (recursive|circular) locking|inconsistent lock state|suspicious RCU usage|general protection|lockdep is turned off|Kernel panic|ACPI Error'

kernel_reports() {	# WHAT NAME DIR: WHAT is series or baseline
	local what=$1 name=$2 dir=$3 tree=$BASE_REPO known=0 other=0 line file lno
	[ "$what" = series ] && tree=/nonexistent
	grep -nE "$KERNEL_REPORT_RE" "$dir/console.log" >"$dir/splats.txt" || true
	# Under ci/kcsan, which sorts KCSAN's reports itself (the series' code
	# or not), the other checks leave them out.
	if [ -n "${MMT_KCSAN:-}" ]; then
		sed -i '/BUG: KCSAN: /d' "$dir/splats.txt"
	fi
	while read -r line; do
		if [[ $line =~ WARNING:\ \.\./src/([^:]+):([0-9]+)\  ]]; then
			file=${BASH_REMATCH[1]} lno=${BASH_REMATCH[2]}
			if sed -n "${lno}p" "$tree/$file" 2>/dev/null |
					grep -q 'lockdep_assert_irqs_enabled()'; then
				known=$((known + 1))
				continue
			fi
		fi
		echo "    $line"
		other=$((other + 1))
	done <"$dir/splats.txt"
	if [ $other = 0 ] && [ "$what" = series ]; then
		record PASS "$name: no kernel report (lockdep, KASAN, WARNING)"
	elif [ $other = 0 ]; then
		record PASS "$name: no unexpected kernel report ($known known lockdep IRQ-state warnings of the single-step path)"
	else
		record FAIL "$name: $other kernel reports, see $dir/console.log"
	fi
}

# boot_failed NAME DIR: record a boot that brought no results back, with
# why in one line (the first kernel report, else what ci/boot saw), and
# keep its logs in $CACHE/failed-boots: CI's clone, and $OUT with it, is
# gone when someone looks.
boot_failed() {
	local name=$1 dir=$2 why keep
	why=$(grep -m1 -aE "$KERNEL_REPORT_RE|int3" \
		"$dir/console.log" 2>/dev/null | tr -d '\r' | cut -c1-200) || true
	[ -n "$why" ] || why=$(cat "$dir/failure" 2>/dev/null) || true
	[ -n "$why" ] || why="ci/boot failed"
	keep=$CACHE/failed-boots/$(date +%Y%m%d-%H%M%S)-$name
	mkdir -p "$keep"
	cp "$dir"/console.log "$dir"/qemu.out "$dir"/failure "$dir"/vcpus.txt "$keep"/ 2>/dev/null || true
	# The newest ten.
	ls -1d "$CACHE"/failed-boots/*/ 2>/dev/null | head -n -10 | xargs -r rm -rf
	record FAIL "$name: boot: $why (logs kept in $keep)"
}

# tcg_stale_int3 DIR: did the boot in DIR die of multi-threaded TCG's
# stale code, an int3 left by text_poke_bp() in exc_page_fault() executed
# after the patch was complete (docs/pipeline.md)?  Nothing else matches.
tcg_stale_int3() {
	grep -aq 'Oops: int3' "$1/console.log" 2>/dev/null &&
		grep -aqE 'RIP: 0010:exc_page_fault\+' "$1/console.log"
}

# tcg_stale_skip NAME DIR: record that oops as a SKIP, the logs kept; the
# caller boots again with one host thread.
tcg_stale_skip() {
	local keep
	keep=$CACHE/failed-boots/$(date +%Y%m%d-%H%M%S)-$1
	mkdir -p "$keep" && cp "$2/console.log" "$keep/"
	record SKIP "$1: multi-threaded TCG ran a stale int3 in exc_page_fault() (logs in $keep); booting again single-threaded"
}

# oracle NAME WHAT OUT CHECK-ARGS...: one `mmiotrace check` (the binary in
# $MMT), recorded.
# A CPU that neither the trace nor QEMU saw access the device is no check.
oracle() {
	local name=$1 label=$2 out=$3
	shift 3
	"$MMT" check "$@" --json >"$out.json" 2>/dev/null || true
	if "$MMT" check "$@" >"$out.txt" 2>&1; then
		record PASS "$name: oracle $label: $(head -n1 "$out.txt")"
	elif [[ $label = *cpu* ]] && head -n1 "$out.txt" | grep -q ': guest 0, qemu 0 |'; then
		info "$name: oracle $label: no accesses on this CPU"
	else
		sed 's/^/    /' "$out.txt" | head -25
		record FAIL "$name: oracle $label: $(head -n1 "$out.txt")"
	fi
}
