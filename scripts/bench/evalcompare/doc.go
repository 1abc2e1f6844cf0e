// Package evalcompare benchmarks Countersign's flag evaluation
// (internal/eval) against LaunchDarkly's server-side evaluator
// (github.com/launchdarkly/go-server-sdk-evaluation/v3) on equivalent flags,
// side by side in one run: BenchmarkCountersign/<case> and
// BenchmarkLaunchDarkly/<case>. It is a module of its own so that
// LaunchDarkly never enters Countersign's module graph; it reaches
// internal/eval through the replace directive in go.mod (its import path is
// inside github.com/countersign/countersign, so Go's internal rule allows it).
//
// run.sh runs both and prints the ratios.
package evalcompare
