package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The deterministic half of the harness, in `go test ./...` (the timed
// half is `go run ./scripts/bench/lambdainit`): every function, built as
// `make build` builds it, starts against the fake Runtime API and asks for
// its first event without calling AWS; the minimal function answers an
// event through it; and the evaluate function's arm64 binary is within its
// size target.
func TestFunctionsStartWithoutCallingAWS(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	flags, err := lambdaFlags(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(flags, "-trimpath") || !slices.Contains(flags, "lambda.norpc") {
		t.Fatalf("LAMBDA_FLAGS read from the Makefile: %q", flags)
	}
	dir := t.TempDir()
	h, err := newHarness()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	bins := []*binary{{name: "minimal", pkg: minimalPkg, root: root, env: map[string]string{}}}
	names, err := functions(root)
	if err != nil || !slices.Equal(names[:4], []string{"api", "evaluate", "timers", "notifier"}) {
		t.Fatalf("the functions: %q %v", names, err)
	}
	for _, name := range names {
		bins = append(bins, &binary{name: name, pkg: "./functions/" + name, root: root, env: functionEnv(name)})
	}
	if err := buildAll(bins, runtime.GOARCH, dir, flags, func(b *binary, exe string) { b.exe = exe }); err != nil {
		t.Fatal(err)
	}
	res, err := h.start(bins[0], []byte(`{"hello":"world"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.response != `response: "ok"` || res.init <= 0 {
		t.Fatalf("the minimal function through the fake Runtime API: init %v, answer %q", res.init, res.response)
	}
	for _, b := range bins[1:] {
		t.Run(b.name, func(t *testing.T) {
			res, err := h.start(b, nil, "inittrace=1")
			if err != nil {
				t.Fatal(err) // among others: it called AWS during init
			}
			tr := parseInitTrace(res.stderr)
			if tr.allocs == 0 || len(tr.pkgs) < 50 {
				t.Errorf("GODEBUG=inittrace=1 read as %d packages, %d allocations", len(tr.pkgs), tr.allocs)
			}
			// Allocation counts at package init do not depend on the
			// machine's load, unlike the timings: a budget on them catches
			// what would slow every cold start, such as an AWS SDK release
			// whose schema tables build thousands of values at init
			// (docs/benchmarks.md, "Lambda binaries and cold start").
			if tr.allocs > maxInitAllocs {
				t.Errorf("%s allocates %d times in package initialisation, more than %d; the most: %s", b.name, tr.allocs, maxInitAllocs, tr.top(3))
			}
		})
	}

	t.Run("evaluate size", func(t *testing.T) {
		out, err := build(root, "./functions/evaluate", sizeArch, filepath.Join(dir, sizeArch, "evaluate"), flags)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxEvaluateSize {
			t.Errorf("functions/evaluate for linux/%s is %s, more than %s", sizeArch, mb(st.Size()), mb(maxEvaluateSize))
		}
	})
}

// A function that calls AWS during init is caught.
func TestAWSCallAtInitFails(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHarness()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := &binary{name: "callsaws", pkg: "./scripts/bench/lambdainit/testdata/callsaws", root: root, env: map[string]string{}}
	if b.exe, err = build(root, b.pkg, runtime.GOARCH, filepath.Join(t.TempDir(), "bootstrap"), nil); err != nil {
		t.Fatal(err)
	}
	_, err = h.start(b, nil, "")
	if err == nil || !strings.Contains(err.Error(), "init called AWS: CONNECT dynamodb.eu-west-1.amazonaws.com:443") {
		t.Fatalf("a function calling DynamoDB at init: %v", err)
	}
}

func TestShellWords(t *testing.T) {
	for in, want := range map[string][]string{
		`-tags lambda.norpc -trimpath -ldflags="-s -w"`: {"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"},
		`  a  'b c'd ""  `: {"a", "b cd", ""},
	} {
		got, err := shellWords(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := shellWords(`-ldflags="-s`); err == nil || !strings.Contains(err.Error(), "quote") {
		t.Errorf("an unbalanced quote: %v", err)
	}
}
