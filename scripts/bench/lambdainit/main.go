// Command lambdainit measures the cold start of Countersign's Lambda
// functions against a minimal aws-lambda-go function, side by side in one
// run, and checks the targets of issue 13:
//
//   - the evaluate function's binary is at most 9 MB, stripped, for arm64
//     (built with the Makefile's LAMBDA_FLAGS, as `make build` and sam
//     build do);
//   - every function's init, from process start to its first
//     GET /2018-06-01/runtime/invocation/next, is at most 1.5× the minimal
//     function's (medians of interleaved rounds).
//
// It builds each function (./functions/<name>) and the minimal function
// (./scripts/bench/lambdainit/minimal) for linux and this machine's
// architecture, and starts each in turn with AWS_LAMBDA_RUNTIME_API
// pointing at a fake Runtime API (runtimeapi.go), the environment
// template.yaml gives it, fake credentials, and every AWS endpoint behind
// a proxy that refuses and counts calls: an init that calls AWS fails the
// run. A pass with GODEBUG=inittrace=1 adds the package initialisation
// (the sum of its clock times, and its allocations).
//
//	go run ./scripts/bench/lambdainit                  # 201 rounds; exit 1 when a target is missed
//	go run ./scripts/bench/lambdainit -rounds 51 -v    # more rounds, the heaviest package inits
//	go run ./scripts/bench/lambdainit -root /tmp/old   # the functions of another checkout (the minimal one from here)
//
// See README.md here and docs/benchmarks.md, "Lambda binaries and cold
// start".
package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The targets.
const (
	maxEvaluateSize = 9_000_000 // bytes, stripped arm64 binary of ./functions/evaluate
	// maxInitAllocs bounds any function's allocations in package
	// initialisation (GODEBUG=inittrace=1), checked by go test: about 1 100
	// for the functions on DynamoDB alone, 2 700 for the notifier (SES and
	// EventBridge too); one AWS SDK service with schema-based serialisation
	// adds 1 900 to 3 500.
	maxInitAllocs = 3_500
	maxInitRatio  = 1.5 // each function's median init / the minimal function's
)

// sizeArch is the architecture the functions are deployed on
// (template.yaml, Globals: arm64), whose binary sizes are reported.
const sizeArch = "arm64"

// binary is one program the harness starts.
type binary struct {
	name string
	pkg  string            // package path, relative to its module root
	root string            // module root it is built in
	env  map[string]string // on top of the common environment

	exe  string // built for linux/GOARCH of this machine
	size int64  // of the stripped linux/arm64 build

	inits  []time.Duration // process start to the first GET /next, per round
	ratios []float64       // inits[i] / the minimal function's inits[i]
	cpus   []time.Duration // CPU time of the process until then, per round
	traces []initTrace
}

// functionEnv is the environment template.yaml gives each function (the
// Globals' variables and the function's own; for a function not named
// here, the Globals'), with made-up values.
// COUNTERSIGN_DYNAMODB_ENDPOINT is not set: the store is DynamoDB on AWS,
// which init does not call. COUNTERSIGN_ADMIN_EMAIL and _TOKEN are empty
// (the template's default for the token; with either set, the api and
// console functions' inits bootstrap the first admin, one DynamoDB query).
// The console function has sign-in with an OpenID provider configured, its
// client secret in Secrets Manager: the heavier wiring; neither is called
// at init.
func functionEnv(name string) map[string]string {
	env := map[string]string{
		"COUNTERSIGN_STORE":     "dynamodb",
		"COUNTERSIGN_TABLE":     "countersign-bench",
		"COUNTERSIGN_STAGE":     "bench",
		"COUNTERSIGN_LOG_LEVEL": "info",
		"COUNTERSIGN_LINK_KEY":  strings.Repeat("5a", 32),
	}
	switch name {
	case "api":
		env["COUNTERSIGN_ADMIN_TOKEN"] = ""
		env["COUNTERSIGN_ADMIN_EMAIL"] = ""
		env["COUNTERSIGN_BASE_URL"] = ""
	case "console":
		env["COUNTERSIGN_ADMIN_TOKEN"] = ""
		env["COUNTERSIGN_ADMIN_EMAIL"] = ""
		env["COUNTERSIGN_BASE_URL"] = ""
		env["COUNTERSIGN_OIDC_ISSUER"] = "https://idp.example.com"
		env["COUNTERSIGN_OIDC_NAME"] = "Example"
		env["COUNTERSIGN_OIDC_CLIENT_ID"] = "countersign"
		env["COUNTERSIGN_OIDC_CLIENT_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign-oidc-AbCdEf"
		env["COUNTERSIGN_OIDC_ALLOWED_DOMAINS"] = ""
		env["COUNTERSIGN_OIDC_ROLE"] = ""
	case "evaluate":
		env["COUNTERSIGN_RULESET_REFRESH"] = "5s"
	case "timers", "notifier":
		env["COUNTERSIGN_MAIL_FROM"] = "countersign@example.com"
		env["COUNTERSIGN_SES_CONFIGURATION_SET"] = "countersign-bench"
		env["COUNTERSIGN_EVENT_BUS"] = "default"
		env["COUNTERSIGN_BASE_URL"] = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com"
	}
	return env
}

// functions are the Lambda functions of the module at root: every
// functions/<name> with Go code but local (the single process, not
// deployed; infra/template_test.go checks that the others are in
// template.yaml), the four of issue 13 first.
func functions(root string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	first := []string{"api", "evaluate", "timers", "notifier"}
	var names []string
	for _, e := range entries {
		if gofiles, _ := filepath.Glob(filepath.Join(root, "functions", e.Name(), "*.go")); !e.IsDir() || e.Name() == "local" || len(gofiles) == 0 {
			continue
		}
		names = append(names, e.Name())
	}
	rank := func(n string) int {
		if i := slices.Index(first, n); i >= 0 {
			return i
		}
		return len(first)
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Or(rank(a)-rank(b), strings.Compare(a, b)) })
	return names, nil
}

const minimalPkg = "./scripts/bench/lambdainit/minimal"

func main() {
	rounds := flag.Int("rounds", 201, "interleaved rounds of timed starts (after one warm-up round)")
	traceRounds := flag.Int("trace-rounds", 5, "rounds with GODEBUG=inittrace=1")
	root := flag.String("root", "", "module root to build ./functions/<name> in (default: this repository)")
	keep := flag.String("keep", "", "directory to leave the binaries in (default: a temporary one, removed)")
	verbose := flag.Bool("v", false, "print each binary's heaviest package inits")
	flag.Parse()
	if err := measure(*rounds, *traceRounds, *root, *keep, *verbose, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lambdainit:", err)
		os.Exit(1)
	}
}

// errMissed is returned when a target is missed (after the table).
var errMissed = errors.New("a target was missed")

func measure(rounds, traceRounds int, root, keep string, verbose bool, out io.Writer) error {
	if rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	here, err := moduleRoot()
	if err != nil {
		return err
	}
	if root == "" {
		root = here
	}
	if root, err = filepath.Abs(root); err != nil {
		return err
	}
	dir := keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "lambdainit-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	flags, err := lambdaFlags(here)
	if err != nil {
		return err
	}
	bins := []*binary{{name: "minimal", pkg: minimalPkg, root: here, env: map[string]string{}}}
	names, err := functions(root)
	if err != nil {
		return err
	}
	for _, f := range names {
		bins = append(bins, &binary{name: f, pkg: "./functions/" + f, root: root, env: functionEnv(f)})
	}
	fmt.Fprintf(out, "building %d binaries for linux/%s (timed) and linux/%s (sizes) with %s\n", len(bins), runtime.GOARCH, sizeArch, strings.Join(flags, " "))
	if err := buildAll(bins, runtime.GOARCH, filepath.Join(dir, runtime.GOARCH), flags, func(b *binary, exe string) { b.exe = exe }); err != nil {
		return err
	}
	if err := buildAll(bins, sizeArch, filepath.Join(dir, sizeArch), flags, func(b *binary, exe string) {
		if st, err := os.Stat(exe); err == nil {
			b.size = st.Size()
		}
	}); err != nil {
		return err
	}

	h, err := newHarness()
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(out, "starting each binary %d times, interleaved (one warm-up round first), then %d times with GODEBUG=inittrace=1\n", rounds, traceRounds)
	for round := -1; round < rounds; round++ {
		// rotate the order, so that no binary always follows the same one
		k := max(round, 0) % len(bins)
		order := slices.Concat(bins[k:], bins[:k])
		got := map[string]result{}
		for _, b := range order {
			res, err := h.start(b, nil, "")
			if err != nil {
				return err
			}
			got[b.name] = res
		}
		if round < 0 {
			continue // warm-up: page cache, CPU frequency
		}
		for _, b := range bins {
			b.inits = append(b.inits, got[b.name].init)
			b.ratios = append(b.ratios, float64(got[b.name].init)/float64(got["minimal"].init))
			b.cpus = append(b.cpus, got[b.name].cpu)
		}
	}
	for range traceRounds {
		for _, b := range bins {
			res, err := h.start(b, nil, "inittrace=1")
			if err != nil {
				return err
			}
			b.traces = append(b.traces, parseInitTrace(res.stderr))
		}
	}
	return report(out, bins, rounds, traceRounds, flags, verbose)
}

// harness is the fake Runtime API and the AWS trap the binaries run
// against.
type harness struct {
	api  *runtimeAPI
	trap *awsTrap
}

func newHarness() (*harness, error) {
	api, err := newRuntimeAPI()
	if err != nil {
		return nil, err
	}
	trap, err := newAWSTrap()
	if err != nil {
		api.Close()
		return nil, err
	}
	return &harness{api: api, trap: trap}, nil
}

func (h *harness) Close() {
	h.api.Close()
	h.trap.Close()
}

// env is the environment of b: what Lambda sets for every function (with
// fake credentials), the proxy to the AWS trap, and b's own variables.
func (h *harness) env(b *binary, godebug string) []string {
	env := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          h.api.addr,
		"AWS_REGION":                      "eu-west-1",
		"AWS_DEFAULT_REGION":              "eu-west-1",
		"AWS_ACCESS_KEY_ID":               "ASIAXXXXXXXXXXXXXXXX",
		"AWS_SECRET_ACCESS_KEY":           "lambdainit/fake/secret/access/key/0000000",
		"AWS_SESSION_TOKEN":               "lambdainit-fake-session-token",
		"AWS_LAMBDA_FUNCTION_NAME":        "countersign-bench-" + b.name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/countersign-bench-" + b.name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "2025/01/01/[$LATEST]0123456789abcdef",
		"LAMBDA_TASK_ROOT":                filepath.Dir(b.exe),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(b.exe),
		"_HANDLER":                        "bootstrap",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"HTTPS_PROXY":                     "http://" + h.trap.addr,
		"HTTP_PROXY":                      "http://" + h.trap.addr,
	}
	if godebug != "" {
		env["GODEBUG"] = godebug
	}
	for k, v := range b.env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// result is one start.
type result struct {
	init     time.Duration // process start to the first GET /next
	cpu      time.Duration // CPU time the process had used by then (all its threads)
	stderr   string
	response string // the answer to event, when one was given
}

// start starts b, waits for its first GET /next (answering it with event,
// when not nil, and waiting for the answer), and stops it. It fails when
// the process ends or reports an init error first, takes more than 30 s,
// or calls AWS.
func (h *harness) start(b *binary, event []byte, godebug string) (result, error) {
	var res result
	r := h.api.begin(event)
	defer h.api.end(r)
	cmd := exec.Command(b.exe)
	cmd.Dir = filepath.Dir(b.exe)
	cmd.Env = h.env(b, godebug)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	exited := make(chan error, 1)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	fail := func(what string) (result, error) {
		return res, fmt.Errorf("%s: %s\nstdout: %s\nstderr: %s", b.name, what, stdout.String(), stderr.String())
	}
	timeout := time.After(30 * time.Second)
	select {
	case at := <-r.next:
		res.init = at.Sub(t0)
		// the process now waits for the answer: what it ran so far is its init
		res.cpu = cpuTime(cmd.Process.Pid)
	case msg := <-r.initErr:
		stop()
		return fail("init error: " + msg)
	case err := <-exited:
		return fail(fmt.Sprintf("exited before asking for an event (%v)", err))
	case <-timeout:
		stop()
		return fail("no GET /next in 30 s")
	}
	if event != nil {
		select {
		case res.response = <-r.response:
		case err := <-exited:
			return fail(fmt.Sprintf("exited during the invocation (%v)", err))
		case <-timeout:
			stop()
			return fail("no answer to the event in 30 s")
		}
	}
	stop()
	res.stderr = stderr.String()
	if calls := h.trap.take(); len(calls) > 0 {
		return fail("init called AWS: " + strings.Join(calls, ", "))
	}
	return res, nil
}

// cpuTime is the time the process pid has spent on a CPU, all its threads
// together (/proc/<pid>/task/<tid>/schedstat, whose first field is that
// time in nanoseconds); 0 where /proc has no schedstat. Unlike the wall
// time it does not grow when other processes hold the CPUs.
func cpuTime(pid int) time.Duration {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			continue
		}
		if ns, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the Countersign repository (no go.mod here)")
	}
	return filepath.Dir(mod), nil
}

// lambdaFlags are the build flags of LAMBDA_FLAGS in the Makefile at root.
func lambdaFlags(root string) ([]string, error) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(string(mk), "\n") {
		name, value, ok := strings.Cut(line, ":=")
		if ok && strings.TrimSpace(name) == "LAMBDA_FLAGS" {
			return shellWords(strings.TrimSpace(value))
		}
	}
	return nil, errors.New("the Makefile has no LAMBDA_FLAGS := line")
}

// shellWords splits s as the shell would a command line without
// expansions: words separated by blanks, quotes grouping and removed.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// build builds pkg (relative to the module root) for linux/goarch at out.
func build(root, pkg, goarch, out string, flags []string) (string, error) {
	return out, goBuild(root, goarch, out, flags, pkg)
}

// buildAll builds bins for linux/goarch into dir/<name>, one go build per
// module root (go build links several programs in parallel), and calls
// done with each binary's file.
func buildAll(bins []*binary, goarch, dir string, flags []string, done func(b *binary, exe string)) error {
	byRoot := map[string][]*binary{}
	var roots []string
	for _, b := range bins {
		if _, ok := byRoot[b.root]; !ok {
			roots = append(roots, b.root)
		}
		byRoot[b.root] = append(byRoot[b.root], b)
	}
	for i, root := range roots {
		out := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		var pkgs []string
		for _, b := range byRoot[root] {
			pkgs = append(pkgs, b.pkg)
		}
		if err := goBuild(root, goarch, out+string(filepath.Separator), flags, pkgs...); err != nil {
			return err
		}
		for _, b := range byRoot[root] {
			done(b, filepath.Join(out, filepath.Base(b.pkg)))
		}
	}
	return nil
}

// goBuild runs go build for linux/goarch in root; out is a file, or a
// directory (ending in a separator) for several packages.
func goBuild(root, goarch, out string, flags []string, pkgs ...string) error {
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out)
	args = append(args, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for linux/%s in %s: %v\n%s", strings.Join(pkgs, " "), goarch, root, err, b)
	}
	return nil
}

// initTrace is what GODEBUG=inittrace=1 reported for one start.
type initTrace struct {
	clock  time.Duration // sum over the packages
	bytes  int64
	allocs int64
	pkgs   []pkgInit
}

type pkgInit struct {
	name   string
	clock  time.Duration
	allocs int64
}

// parseInitTrace reads the lines "init <package> @<t> ms, <c> ms clock,
// <n> bytes, <m> allocs".
// top names the n packages allocating most at init, for a message.
func (t initTrace) top(n int) string {
	pkgs := slices.Clone(t.pkgs)
	slices.SortStableFunc(pkgs, func(a, b pkgInit) int { return int(b.allocs - a.allocs) })
	var out []string
	for _, p := range pkgs[:min(n, len(pkgs))] {
		out = append(out, fmt.Sprintf("%s %d", p.name, p.allocs))
	}
	return strings.Join(out, ", ")
}

func parseInitTrace(stderr string) initTrace {
	var t initTrace
	for line := range strings.SplitSeq(stderr, "\n") {
		f := strings.Fields(line)
		if len(f) != 11 || f[0] != "init" || f[5] != "ms" || f[6] != "clock," {
			continue
		}
		clk, err1 := strconv.ParseFloat(f[4], 64)
		by, err2 := strconv.ParseInt(f[7], 10, 64)
		al, err3 := strconv.ParseInt(f[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		d := time.Duration(clk * float64(time.Millisecond))
		t.clock += d
		t.bytes += by
		t.allocs += al
		t.pkgs = append(t.pkgs, pkgInit{name: f[1], clock: d, allocs: al})
	}
	return t
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile is the q-quantile of xs (nearest rank).
func quantile[T int64 | float64 | time.Duration](xs []T, q float64) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func mb(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + " MB" }

// report prints the table and checks the targets.
func report(out io.Writer, bins []*binary, rounds, traceRounds int, flags []string, verbose bool) error {
	minimal := bins[0]
	base := median(minimal.inits)
	fmt.Fprintf(out, "\nInit: process start to the first GET /next, linux/%s, median of %d interleaved rounds (p10–p90);\n", runtime.GOARCH, rounds)
	fmt.Fprintf(out, "× minimal: median init / the minimal function's (per round: p10–p90 of the ratios);\n")
	fmt.Fprintf(out, "CPU: the process's CPU time by its first GET /next, all threads (median; × the minimal function's);\n")
	fmt.Fprintf(out, "package init: GODEBUG=inittrace=1, sum of the packages' clock times (median of %d) and allocations;\n", traceRounds)
	fmt.Fprintf(out, "size: linux/%s, %s.\n\n", sizeArch, strings.Join(flags, " "))
	fmt.Fprintln(out, "| binary | size | init | × minimal | CPU | package init | allocs at init | targets |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---|")
	baseCPU := median(minimal.cpus)
	var missed []string
	for _, b := range bins {
		init := median(b.inits)
		ratio := float64(init) / float64(base)
		var clocks []time.Duration
		var allocs, bytes []int64
		for _, t := range b.traces {
			clocks = append(clocks, t.clock)
			allocs = append(allocs, t.allocs)
			bytes = append(bytes, t.bytes)
		}
		var checks []string
		if b.name == "evaluate" {
			ok := b.size <= maxEvaluateSize
			checks = append(checks, fmt.Sprintf("size ≤ %s: %s", mb(maxEvaluateSize), yes(ok)))
			if !ok {
				missed = append(missed, fmt.Sprintf("evaluate's arm64 binary is %s, more than %s", mb(b.size), mb(maxEvaluateSize)))
			}
		}
		if b != minimal {
			ok := ratio <= maxInitRatio
			checks = append(checks, fmt.Sprintf("init ≤ %.1f×: %s", maxInitRatio, yes(ok)))
			if !ok {
				missed = append(missed, fmt.Sprintf("%s's init is %.2f× the minimal function's (%s ms against %s ms), more than %.1f×", b.name, ratio, ms(init), ms(base), maxInitRatio))
			}
		}
		cpu := median(b.cpus)
		fmt.Fprintf(out, "| %s | %s | %s ms (%s–%s) | %.2f× (%.2f–%.2f) | %s ms, %.2f× | %s ms | %d allocs, %d KB | %s |\n",
			b.name, mb(b.size), ms(init), ms(quantile(b.inits, 0.1)), ms(quantile(b.inits, 0.9)),
			ratio, quantile(b.ratios, 0.1), quantile(b.ratios, 0.9),
			ms(cpu), float64(cpu)/float64(baseCPU),
			ms(median(clocks)), median(allocs), median(bytes)/1024, strings.Join(checks, ", "))
	}
	if verbose {
		for _, b := range bins {
			if len(b.traces) == 0 {
				continue
			}
			pkgs := slices.Clone(b.traces[len(b.traces)-1].pkgs)
			slices.SortFunc(pkgs, func(x, y pkgInit) int { return int(y.allocs - x.allocs) })
			fmt.Fprintf(out, "\n%s: the most allocating package inits (last traced start)\n", b.name)
			for _, p := range pkgs[:min(8, len(pkgs))] {
				fmt.Fprintf(out, "  %-70s %6d allocs %7s ms\n", p.name, p.allocs, ms(p.clock))
			}
		}
	}
	fmt.Fprintln(out)
	if len(missed) > 0 {
		for _, m := range missed {
			fmt.Fprintln(out, "TARGET MISSED:", m)
		}
		return errMissed
	}
	fmt.Fprintln(out, "every target met")
	return nil
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
