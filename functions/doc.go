// Package functions holds Countersign's programs, one directory each: the
// Lambda functions of template.yaml (api, evaluate, timers, notifier,
// mailevents) and local, the single local process (`make run`). Each
// Lambda function wires only the adapters it uses
// (internal/setup/lambdabase and its siblings); imports_test.go checks
// each one's import graph, so that an adapter wired into the wrong
// function fails the tests. There is no code here.
package functions
