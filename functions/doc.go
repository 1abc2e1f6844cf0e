// Package functions holds Countersign's programs, one directory each: the
// Lambda functions of template.yaml (api, console, evaluate, timers,
// notifier, mailevents) and local, the single local process (`make run`),
// which serves what api and console serve in one handler. Each
// Lambda function wires only the adapters it uses
// (internal/setup/lambdabase and its siblings); imports_test.go checks
// each one's import graph, so that an adapter wired into the wrong
// function fails the tests. There is no code here.
package functions
