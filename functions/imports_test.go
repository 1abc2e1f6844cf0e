package functions_test

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the main module's path; entries below starting with
// "internal/" are under it.
const module = "github.com/countersign/countersign/"

// rule is what a function's import graph must and must not hold. An entry
// is an import path, or a path followed by "/..." for it and every package
// below it.
type rule struct {
	need   []string
	forbid []string
}

// lambdaForbidden is never in a Lambda function: the embedded store, the
// local process's wiring and tools, the mail catcher and SMTP (the single
// process's mail), and the AWS SDK's shared-config chain where the
// function does not need it is listed per function.
var lambdaForbidden = []string{
	"go.etcd.io/bbolt/...",
	"internal/store/boltstore",
	"internal/setup", // the whole system's wiring: functions/local only
	"internal/localrun",
	"internal/recovery",
	"internal/devtools",
	"internal/notify/catcher",
	"internal/notify/smtpmail",
	"net/smtp",
	"github.com/wneessen/go-mail/...",
	// test tooling: httptest links flag and a test certificate, whose
	// package initialisation every cold start would pay
	"net/http/httptest",
}

// The adapters, by function. The api function serves the JSON API and the
// console function the pages for people (the console, signing in with
// OpenID Connect and its client secret in Secrets Manager, e-mail action
// links): the api function links none of those. Both write the outbox and
// send nothing (the notifier does), so they have neither SES nor
// EventBridge; the
// evaluate function reads DynamoDB and nothing else; the mailevents
// function records what SES reports (delivered by an EventBridge rule, not
// read with an EventBridge client) through the application service; the
// timers function sweeps and sends nothing (the outbox reaches the
// notifier, which also retries it on a schedule). No function links the
// SDK's config package: they build their clients from the environment
// Lambda gives them (internal/setup/awsenv); only the local process and
// tests use the whole default chain (internal/setup/localaws).
var rules = map[string]rule{
	"evaluate": {
		need: []string{"internal/evaluate", "internal/lambdahttp", "internal/setup/lambdabase", "internal/store/dynamostore", "github.com/aws/aws-sdk-go-v2/service/dynamodb"},
		forbid: []string{
			"internal/app", "internal/actionlink", "internal/httpapi", "internal/console", "internal/oidcauth/...", "github.com/coreos/go-oidc/...",
			"internal/notify/...", "internal/timers", "internal/setup/apiwire", "internal/setup/appwire", "internal/setup/notifywire",
			"github.com/aws/aws-sdk-go-v2/service/sesv2/...", "github.com/aws/aws-sdk-go-v2/service/eventbridge/...",
			"github.com/aws/aws-sdk-go-v2/service/secretsmanager/...", "github.com/aws/aws-sdk-go-v2/config/...",
		},
	},
	"api": {
		need: []string{"internal/httpapi", "internal/app", "internal/setup/apiwire", "time/tzdata", "internal/lambdahttp",
			"internal/store/dynamostore", "github.com/aws/aws-sdk-go-v2/service/dynamodb"},
		forbid: []string{
			"internal/console", "internal/oidcauth/...", "github.com/coreos/go-oidc/...", "github.com/go-jose/...", "internal/setup/consolewire",
			"github.com/aws/aws-sdk-go-v2/service/secretsmanager/...",
			"internal/notify/...", "internal/timers", "internal/evaluate", "internal/eval", "internal/setup/notifywire",
			"github.com/aws/aws-sdk-go-v2/service/sesv2/...", "github.com/aws/aws-sdk-go-v2/service/eventbridge/...",
			"github.com/aws/aws-sdk-go-v2/config/...",
		},
	},
	"console": {
		need: []string{"internal/httpapi", "internal/console", "internal/oidcauth", "time/tzdata", "internal/app", "internal/setup/consolewire", "internal/lambdahttp",
			"internal/store/dynamostore", "github.com/aws/aws-sdk-go-v2/service/dynamodb", "github.com/aws/aws-sdk-go-v2/aws/signer/v4"},
		forbid: []string{
			"github.com/aws/aws-sdk-go-v2/service/secretsmanager/...", // its one call is signed in internal/oidcauth
			"internal/notify/...", "internal/timers", "internal/evaluate", "internal/eval", "internal/setup/notifywire",
			"github.com/aws/aws-sdk-go-v2/service/sesv2/...", "github.com/aws/aws-sdk-go-v2/service/eventbridge/...",
			"github.com/aws/aws-sdk-go-v2/config/...",
		},
	},
	"timers": {
		need: []string{"internal/timers", "internal/app", "time/tzdata", "internal/setup/appwire", "internal/store/dynamostore", "github.com/aws/aws-sdk-go-v2/service/dynamodb"},
		forbid: []string{
			"internal/httpapi", "internal/console", "internal/oidcauth/...", "github.com/coreos/go-oidc/...", "internal/setup/apiwire",
			"internal/notify/...", "internal/setup/notifywire", "internal/evaluate", "internal/eval", "internal/lambdahttp",
			"github.com/aws/aws-sdk-go-v2/service/sesv2/...", "github.com/aws/aws-sdk-go-v2/service/eventbridge/...",
			"github.com/aws/aws-sdk-go-v2/service/secretsmanager/...", "github.com/aws/aws-sdk-go-v2/config/...",
		},
	},
	"notifier": {
		need: []string{"internal/notify", "internal/app", "time/tzdata", "internal/setup/notifywire", "internal/store/dynamostore",
			"github.com/aws/aws-sdk-go-v2/service/dynamodb", "github.com/aws/aws-sdk-go-v2/service/sesv2", "github.com/aws/aws-sdk-go-v2/service/eventbridge"},
		forbid: []string{
			"internal/httpapi", "internal/console", "internal/oidcauth/...", "github.com/coreos/go-oidc/...", "internal/setup/apiwire",
			"internal/evaluate", "internal/eval", "internal/timers", "internal/lambdahttp", "github.com/aws/aws-sdk-go-v2/service/secretsmanager/...",
			"github.com/aws/aws-sdk-go-v2/config/...", "internal/setup/localaws",
		},
	},
	"mailevents": {
		need: []string{"internal/mailevents", "internal/app", "internal/setup/lambdabase", "internal/store/dynamostore", "github.com/aws/aws-sdk-go-v2/service/dynamodb"},
		forbid: []string{
			"internal/httpapi", "internal/console", "internal/oidcauth/...", "github.com/coreos/go-oidc/...", "internal/setup/apiwire",
			"internal/notify/...", "internal/setup/notifywire", "internal/timers", "internal/evaluate", "internal/eval", "internal/lambdahttp",
			"github.com/aws/aws-sdk-go-v2/service/sesv2/...", "github.com/aws/aws-sdk-go-v2/service/eventbridge/...",
			"github.com/aws/aws-sdk-go-v2/service/secretsmanager/...", "github.com/aws/aws-sdk-go-v2/config/...",
		},
	},
}

// local is the whole system in one process, and wires everything.
var local = rule{need: []string{"time/tzdata",
	"internal/setup", "internal/setup/consolewire", "internal/localrun", "internal/store/boltstore", "internal/store/dynamostore", "internal/httpapi", "internal/console",
	"internal/oidcauth", "internal/evaluate", "internal/notify", "internal/notify/sesmail", "internal/notify/eventbus", "internal/notify/catcher",
	"internal/setup/localaws", "github.com/aws/aws-sdk-go-v2/config",
}}

func TestEachFunctionLinksOnlyItsAdapters(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, ok := rules[d.Name()]; d.IsDir() && !ok && d.Name() != "local" {
			t.Errorf("functions/%s has no rule here: add what it must and must not link", d.Name())
		}
	}
	for name, r := range rules {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			deps := lambdaDeps(t, "./"+name)
			check(t, deps, rule{need: r.need, forbid: append(slices.Clone(lambdaForbidden), r.forbid...)})
			if name == "evaluate" {
				// issue 13: `go list -deps ./functions/evaluate | grep -E 'sesv2|eventbridge|oidc|console'` is empty
				for p := range deps.imports {
					for _, w := range []string{"sesv2", "eventbridge", "oidc", "console"} {
						if strings.Contains(p, w) {
							t.Errorf("evaluate links %s (%q): %s", p, w, deps.chain(p))
						}
					}
				}
			}
		})
	}
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		check(t, lambdaDeps(t, "./local"), local)
	})
}

// graph is a program's import graph: each package it links, with the
// packages that package imports.
type graph struct {
	root    string
	imports map[string][]string
}

// lambdaDeps is the import graph of pkg as `make build` builds it:
// linux/arm64, with the Makefile's LAMBDA_FLAGS tags.
func lambdaDeps(t *testing.T, pkg string) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	g := graph{imports: map[string][]string{}}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		g.imports[f[0]] = f[1:]
		g.root = f[0] // -deps lists the package itself last
	}
	return g
}

// has reports whether the graph holds package p.
func (g graph) has(p string) bool {
	_, ok := g.imports[p]
	return ok
}

// chain is the shortest import chain from the root to p.
func (g graph) chain(p string) string {
	prev := map[string]string{g.root: ""}
	queue := []string{g.root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n == p {
			var c []string
			for ; n != ""; n = prev[n] {
				c = append(c, strings.TrimPrefix(n, module))
			}
			slices.Reverse(c)
			return strings.Join(c, " → ")
		}
		for _, m := range g.imports[n] {
			if _, seen := prev[m]; !seen {
				prev[m] = n
				queue = append(queue, m)
			}
		}
	}
	return p
}

func check(t *testing.T, g graph, r rule) {
	t.Helper()
	for _, want := range r.need {
		if !g.has(full(want)) {
			t.Errorf("does not link %s", full(want))
		}
	}
	for _, f := range r.forbid {
		path, tree := strings.CutSuffix(full(f), "/...")
		var found []string
		for p := range g.imports {
			if p == path || tree && strings.HasPrefix(p, path+"/") {
				found = append(found, p)
			}
		}
		if len(found) > 0 {
			slices.Sort(found)
			t.Errorf("links %s, which it must not (rule %q): %s", strings.Join(found, ", "), f, g.chain(found[0]))
		}
	}
}

func full(p string) string {
	if strings.HasPrefix(p, "internal/") {
		return module + p
	}
	return p
}

// pagesOnly are the functions that render HTML with html/template: the
// console function alone (the notifier writes its mail's HTML in code,
// internal/notify/html.go, checked against the templates it replaced).
// Executing a
// template calls methods by name (reflect.Value.MethodByName), and a
// program that can do that keeps every exported method of every type it
// converts to an interface, the AWS SDK clients' every operation
// included: the api function went from 15.3 MB to about 10 MB once its
// pages moved to the console function (docs/benchmarks.md, "Third round").
var pagesOnly = map[string]bool{"console": true}

// callsAWS are the AWS operations the functions call: the store's
// (internal/store/dynamostore/capacity.go), the table's creation on
// DynamoDB Local (table.go; DescribeEndpoints comes with the client), mail
// and events. A binary that links more has an SDK client in an interface.
var callsAWS = map[string]bool{
	"dynamodb.GetItem": true, "dynamodb.BatchGetItem": true, "dynamodb.PutItem": true, "dynamodb.UpdateItem": true,
	"dynamodb.Query": true, "dynamodb.TransactWriteItems": true, "dynamodb.DescribeTable": true, "dynamodb.CreateTable": true,
	"dynamodb.UpdateContinuousBackups": true, "dynamodb.DescribeEndpoints": true,
	"sesv2.SendEmail": true, "eventbridge.PutEvents": true, "secretsmanager.GetSecretValue": true,
}

// clientOperations lists the exported methods of the AWS SDK clients that
// go tool nm's output names, as "service.Operation", sorted.
func clientOperations(nm string) []string {
	var ops []string
	for _, line := range strings.Split(nm, "\n") {
		_, sym, ok := strings.Cut(line, "github.com/aws/aws-sdk-go-v2/service/")
		if !ok {
			continue
		}
		svc, op, ok := strings.Cut(sym, ".(*Client).")
		if ok && !strings.ContainsAny(svc, "/.") && op != "" && 'A' <= op[0] && op[0] <= 'Z' && !strings.ContainsAny(op, ".-") {
			ops = append(ops, svc+"."+op)
		}
	}
	slices.Sort(ops)
	return slices.Compact(ops)
}

// The other functions never execute a template: their binaries have no
// reflect.Value.MethodByName, so the linker drops the methods they do not
// call. Built as `make build` builds them, but with the symbol table.
func TestOnlyPagesAndMailCallMethodsByName(t *testing.T) {
	dir := t.TempDir()
	for name := range rules {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			exe := dir + "/" + name
			build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", exe, "./"+name)
			build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./%s: %v\n%s", name, err, out)
			}
			out, err := exec.Command("go", "tool", "nm", exe).Output()
			if err != nil {
				t.Fatalf("go tool nm: %v", err)
			}
			has := strings.Contains(string(out), " reflect.Value.MethodByName\n")
			if has != pagesOnly[name] {
				t.Errorf("%s: reflect.Value.MethodByName linked: %v, want %v (a template executed where none should be, or the list above is stale)", name, has, pagesOnly[name])
			}
			if ops := clientOperations(string(out)); len(ops) > len(callsAWS) {
				t.Errorf("%s links %d AWS operations (%s…), want at most the %d it calls: an SDK client went into an interface, "+
					"so with MethodByName linked every operation stays (see operations in internal/store/dynamostore/capacity.go)",
					name, len(ops), strings.Join(ops[:8], ", "), len(callsAWS))
			} else {
				for _, op := range ops {
					if !callsAWS[op] {
						t.Errorf("%s links %s, not an operation the code calls (or the list callsAWS is stale)", name, op)
					}
				}
			}
		})
	}
}
