#!/usr/bin/env bash
# Reads `go test -bench 'LambdaPath|JSONFloor' -benchmem` output (any
# -count) on stdin, echoes it, then prints per case the median ns/op and
# allocs/op of the Lambda handler path and of the encoding/json floor, and
# their ratio. Exits 1 when the single evaluation is not within 1.5x of the
# floor (the target of issue 6).
#
#   go test -run '^$' -bench 'LambdaPath|JSONFloor' -benchmem -count 5 ./internal/evaluate/ | scripts/loadtest/bench-ratio.sh
set -euo pipefail
tee /dev/stderr | awk '
  /^Benchmark(LambdaPath|JSONFloor)\// {
    split($1, p, "/"); kind = p[1]; sub(/^Benchmark/, "", kind)
    c = p[2]; sub(/-[0-9]+$/, "", c)
    for (i = 3; i < NF; i++) {
      if ($(i+1) == "ns/op") ns[kind, c, ++n[kind, c]] = $i
      if ($(i+1) == "allocs/op") al[kind, c] = $i
    }
    if (!(c in seen)) { seen[c] = 1; order[++cases] = c }
  }
  function median(kind, c,    k, m, i, j, t, v) {
    m = n[kind, c]
    if (m == 0) return 0
    for (i = 1; i <= m; i++) v[i] = ns[kind, c, i] + 0
    for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
    return (m % 2) ? v[(m+1)/2] : (v[m/2] + v[m/2+1]) / 2
  }
  END {
    if (cases == 0) { print "bench-ratio: no LambdaPath/JSONFloor results on stdin" > "/dev/stderr"; exit 2 }
    printf "\n%-8s %16s %10s %16s %10s %7s\n", "case", "lambda ns/op", "allocs", "floor ns/op", "allocs", "ratio"
    fail = 0
    for (k = 1; k <= cases; k++) {
      c = order[k]; l = median("LambdaPath", c); f = median("JSONFloor", c)
      r = (f > 0) ? l / f : 0
      printf "%-8s %16.0f %10s %16.0f %10s %6.2fx\n", c, l, al["LambdaPath", c], f, al["JSONFloor", c], r
      if (c == "single" && (f == 0 || r > 1.5)) fail = 1
    }
    print (fail ? "single: NOT within 1.5x of the encoding/json floor" : "single: within 1.5x of the encoding/json floor")
    exit fail
  }'
