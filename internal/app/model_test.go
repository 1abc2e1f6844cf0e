package app_test

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// The model-based test of the change-request workflow (issue 14): random
// sequences of proposals, explicit requests, edits, reviews, comments,
// applies, withdrawals, approval-settings changes, the organisation switch,
// clock advances and timer sweeps, by random actors, on every store; after
// each step the store is compared with a small reference model
// (model_ref_test.go) and checked against the workflow's invariants
// (model_check_test.go). A failing sequence is shrunk by rapid, printed, and
// saved under testdata/rapid/ (replayed first by every later run until it
// passes).
//
//	go test ./internal/app/ -run TestWorkflowModel                       # the default: a few seconds
//	go test ./internal/app/ -run TestWorkflowModel -rapid.checks=2000    # longer (DynamoDB: a tenth of that)
//	go test ./internal/app/ -run TestWorkflowModel/dynamodb -model.dynamodb-checks=300
//
// -rapid.steps sets the average sequence length (30), -rapid.seed replays
// one run.

// Checks per store when -rapid.checks is not given: the bbolt run stays
// within a few seconds, the DynamoDB Local run (every call a round trip, a
// table per check) short.
const (
	modelChecksBolt     = 40
	modelChecksDynamoDB = 2
)

var modelDynamoChecks = flag.Int("model.dynamodb-checks", 0, "TestWorkflowModel: checks on DynamoDB Local (default: a tenth of -rapid.checks when given, else 2)")

func TestWorkflowModel(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, len(storeFactories))
	for name := range storeFactories {
		names = append(names, name)
	}
	slices.Sort(names)
	// one store after the other: rapid's check count is a package
	// variable, set per store below
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			stats := &modelStats{counts: map[string]int{}}
			withRapidChecks(t, modelChecks(name), func() {
				rapid.Check(t, func(rt *rapid.T) {
					tb := &checkTB{T: t, rt: rt}
					m := newModel(newWorld(tb, modelStore(tb, name)), stats)
					rt.Repeat(m.actions())
					stats.addN("steps", m.steps)
				})
			})
			t.Logf("what the sequences did (shrinking included):\n%s", stats)
		})
	}
}

// modelStore opens a fresh store of storeFactories' kind for one check,
// closed and removed when the check ends (storeFactories' stores live as
// long as the test).
func modelStore(tb *checkTB, name string) domain.Store {
	switch name {
	case "bolt":
		s, err := boltstore.Open(tb.TempDir())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	case "dynamodb":
		return dynamotest.NewStore(tb)
	}
	tb.Fatalf("the model test does not know store %q: add it to modelStore", name)
	return nil
}

// modelChecks is how many sequences to try on a store.
func modelChecks(store string) int {
	n, explicit := rapidChecks()
	if store != "dynamodb" {
		if explicit {
			return n
		}
		return modelChecksBolt
	}
	switch {
	case *modelDynamoChecks > 0:
		n = *modelDynamoChecks
	case explicit:
		n = max(1, n/10)
	default:
		n = modelChecksDynamoDB
	}
	if testing.Short() {
		n = max(n, 5) // rapid runs a fifth under -short: at least one
	}
	return n
}

// rapidChecks reads -rapid.checks and whether it (or RAPID_CHECKS) was given.
func rapidChecks() (int, bool) {
	explicit := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "rapid.checks" {
			explicit = true
		}
	})
	if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
		explicit = true
	}
	n, _ := strconv.Atoi(flag.Lookup("rapid.checks").Value.String())
	return n, explicit
}

func withRapidChecks(t *testing.T, n int, fn func()) {
	f := flag.Lookup("rapid.checks")
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Value.Set(old) }()
	t.Logf("%d checks", n)
	fn()
}

// modelStats counts what the sequences did, to see that they reach every
// corner (logged with -v).
type modelStats struct{ counts map[string]int }

func (s *modelStats) add(what string)         { s.counts[what]++ }
func (s *modelStats) addN(what string, n int) { s.counts[what] += n }

func (s *modelStats) String() string {
	keys := make([]string, 0, len(s.counts))
	for k := range s.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-45s %7d\n", k, s.counts[k])
	}
	return b.String()
}

// checkTB lets the world and the store factories, written for a
// *testing.T, live for one rapid check: failures fail the check (so rapid
// shrinks them), and temporary directories and cleanups (a bbolt file, a
// DynamoDB table) end with it instead of piling up until the test ends.
type checkTB struct {
	*testing.T
	rt *rapid.T
}

func (c *checkTB) Cleanup(f func())                  { c.rt.Cleanup(f) }
func (c *checkTB) Helper()                           {}
func (c *checkTB) Error(args ...any)                 { c.rt.Error(args...) }
func (c *checkTB) Errorf(format string, args ...any) { c.rt.Errorf(format, args...) }
func (c *checkTB) Fatal(args ...any)                 { c.rt.Fatal(args...) }
func (c *checkTB) Fatalf(format string, args ...any) { c.rt.Fatalf(format, args...) }
func (c *checkTB) FailNow()                          { c.rt.FailNow() }
func (c *checkTB) Fail()                             { c.rt.Fail() }
func (c *checkTB) Failed() bool                      { return c.rt.Failed() }
func (c *checkTB) Log(args ...any)                   { c.rt.Log(args...) }
func (c *checkTB) Logf(format string, args ...any)   { c.rt.Logf(format, args...) }
func (c *checkTB) Skip(args ...any)                  { c.rt.Fatal(append([]any{"skip in a model check:"}, args...)...) }
func (c *checkTB) Skipf(format string, args ...any) {
	c.rt.Fatalf("skip in a model check: "+format, args...)
}
func (c *checkTB) SkipNow() { c.rt.Fatal("skip in a model check") }

// TempDir is on a memory file system where there is one (/dev/shm): a
// bbolt commit's fsync is most of a step's time on a disk, and a check's
// store lives for a fraction of a second.
func (c *checkTB) TempDir() string {
	parent := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		parent = "/dev/shm"
	}
	dir, err := os.MkdirTemp(parent, "countersign-model-")
	if err != nil {
		c.rt.Fatal(err)
	}
	c.rt.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

var _ testing.TB = (*checkTB)(nil)
