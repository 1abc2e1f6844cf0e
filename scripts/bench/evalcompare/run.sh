#!/usr/bin/env bash
# Countersign's flag evaluation against LaunchDarkly's evaluator
# (go-server-sdk-evaluation/v3) on six equivalent flags, in one run on this
# machine: `go test -bench -benchmem -count 5` over BenchmarkCountersign/<case>
# and BenchmarkLaunchDarkly/<case>, then a table of the medians and their
# ratio (Countersign / LaunchDarkly: below 1 means Countersign is faster),
# and benchstat's comparison when benchstat can be fetched from the module
# proxy.
#
#   scripts/bench/evalcompare/run.sh            # 5 runs of each benchmark
#   COUNT=10 BENCHTIME=2s scripts/bench/evalcompare/run.sh
#
# The raw `go test` output is kept in $OUT (default: a new temporary
# directory), as raw.txt, countersign.txt and launchdarkly.txt.
set -euo pipefail
cd "$(dirname "$0")"
count="${COUNT:-5}"
benchtime="${BENCHTIME:-1s}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"

echo "==> equivalence of the flags (TestEquivalent)"
go test -count=1 -run TestEquivalent .

echo "==> go test -bench . -benchmem -count $count -benchtime $benchtime (output in $out/raw.txt)"
go test -run '^$' -bench 'BenchmarkCountersign|BenchmarkLaunchDarkly' -benchmem \
  -count "$count" -benchtime "$benchtime" . | tee "$out/raw.txt"

# The same benchmark names in two files, so that benchstat pairs them.
grep -E '^(goos|goarch|pkg|cpu):' "$out/raw.txt" >"$out/countersign.txt" || true
cp "$out/countersign.txt" "$out/launchdarkly.txt"
sed -n 's#^BenchmarkCountersign/#BenchmarkEval/#p' "$out/raw.txt" >>"$out/countersign.txt"
sed -n 's#^BenchmarkLaunchDarkly/#BenchmarkEval/#p' "$out/raw.txt" >>"$out/launchdarkly.txt"

echo
echo "==> medians of $count runs; ratio = Countersign / LaunchDarkly (ns/op)"
# the cases in the order they ran
order="$(sed -n 's#^BenchmarkCountersign/\([^[:space:]]*\).*#\1#p' "$out/raw.txt" | sed 's/-[0-9]*$//' | awk '!seen[$0]++' | tr '\n' ' ')"
# "impl case ns/op B/op allocs/op" per line, sorted so that each
# (impl, case) group is in ascending ns/op; the median is its middle line.
awk '/^Benchmark(Countersign|LaunchDarkly)\// {
       split($1, p, "/"); impl = substr(p[1], 10); c = p[2]; sub(/-[0-9]+$/, "", c)
       ns = ""; bytes = ""; allocs = ""
       for (i = 3; i < NF; i++) {
         if ($(i+1) == "ns/op") ns = $i
         if ($(i+1) == "B/op") bytes = $i
         if ($(i+1) == "allocs/op") allocs = $i
       }
       print impl, c, ns, bytes, allocs
     }' "$out/raw.txt" | sort -k1,1 -k2,2 -k3,3g | awk -v cases="$order" '
  BEGIN { ncases = split(cases, order, " ") }
  { key = $1 SUBSEP $2; n[key]++; v[key, n[key]] = $0 }
  END {
    for (k in n) { split(v[k, int((n[k] + 1) / 2)], f, " "); ns[k] = f[3]; by[k] = f[4]; al[k] = f[5] }
    printf "%-24s %16s %16s %8s %12s %12s\n", "case", "Countersign ns", "LaunchDarkly ns", "ratio", "CS allocs", "LD allocs"
    slower = 0
    for (i = 1; i <= ncases; i++) {
      c = order[i]; cs = "Countersign" SUBSEP c; ld = "LaunchDarkly" SUBSEP c
      r = ns[cs] / ns[ld]; if (r > 1) slower++
      printf "%-24s %16.1f %16.1f %8.3f %12s %12s\n", c, ns[cs], ns[ld], r, al[cs], al[ld]
    }
    if (slower) printf "\nCountersign is slower than LaunchDarkly on %d case(s)\n", slower
    else printf "\nCountersign is no slower than LaunchDarkly on any case\n"
  }'

echo
echo "==> benchstat LaunchDarkly=launchdarkly.txt Countersign=countersign.txt"
if ! (cd "$out" && go run golang.org/x/perf/cmd/benchstat@latest LaunchDarkly=launchdarkly.txt Countersign=countersign.txt 2>/dev/null); then
  echo "(benchstat could not be fetched from the module proxy: the table above is computed with awk)"
fi
