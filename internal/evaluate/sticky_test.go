package evaluate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// stickyStores are the stores the sticky bucketing tests run on: bbolt
// always, DynamoDB Local when it is configured (make test requires it).
func stickyStores(t *testing.T) map[string]func(t *testing.T) domain.Store {
	stores := map[string]func(t *testing.T) domain.Store{
		"bolt": func(t *testing.T) domain.Store {
			s, err := boltstore.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	if dynamotest.Endpoint() != "" || dynamotest.Required() {
		stores["dynamodb"] = func(t *testing.T) domain.Store { return dynamotest.NewStore(t) }
	}
	return stores
}

// stickyWorld is a project with flag "exp" (variants a, b, c; bucketed by
// user_id) in production, sticky bucketing on, and evaluator instances
// (Lambda instances, each with its own caches) over one store.
type stickyWorld struct {
	t     *testing.T
	ctx   context.Context
	store domain.Store
	clock *clock.Manual
}

func newStickyWorld(t *testing.T, store domain.Store) *stickyWorld {
	w := &stickyWorld{t: t, ctx: context.Background(), store: store, clock: clocktest.Clock(0, 0, 0)}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreateProject(w.ctx, &domain.Project{Key: "shop", Name: "Shop"}, domain.DefaultEnvironments()))
	must(store.CreateFlag(w.ctx, &domain.Flag{Project: "shop", Key: "exp", Name: "exp", Tags: []string{}, BucketingUnit: "user_id",
		BucketingSalt: "salt1234", EvaluationMode: "remote", CreatedAt: w.clock.Now(),
		Variants: []domain.Variant{{Key: "a", Value: json.RawMessage(`"A"`)}, {Key: "b", Value: json.RawMessage(`"B"`)}, {Key: "c", Value: json.RawMessage(`"C"`)}}}, nil))
	must(store.CreateSDKKey(w.ctx, &domain.SDKKey{ID: "k", Project: "shop", Environment: "production", Name: "k", Hash: evaluate.HashSDKKey(key)}))
	w.configure(func(c *domain.FlagConfig) {
		c.Enabled, c.StickyBucketing, c.OffVariant = true, true, domain.OffVariantKey
		c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "a", Weight: 1}, {Variant: "b", Weight: 1}}}
	})
	return w
}

// configure changes exp's production config and lets every evaluator's
// refresh interval pass, so the change is served.
func (w *stickyWorld) configure(fn func(c *domain.FlagConfig)) {
	w.t.Helper()
	_, err := w.store.UpdateFlagConfig(w.ctx, "shop", "exp", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		fn(c)
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Advance(2 * time.Second)
}

// instance is one evaluator (one Lambda instance) behind an HTTP server.
func (w *stickyWorld) instance() *httptest.Server {
	srv := httptest.NewServer(evaluate.NewHandler(evaluate.New(w.store, w.clock, time.Second), slog.New(slog.NewTextHandler(io.Discard, nil))))
	w.t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	Variant  string         `json:"variant"`
	Reason   string         `json:"reason"`
	Value    any            `json:"value"`
	Metadata map[string]any `json:"metadata"`
}

func (a answer) sticky() bool { return a.Metadata["sticky"] == true }

func (w *stickyWorld) eval(srv *httptest.Server, user string) answer {
	w.t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/ofrep/v1/evaluate/flags/exp", strings.NewReader(`{"context":{"targetingKey":"tk-`+user+`","user_id":"`+user+`"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	var a answer
	if err := json.NewDecoder(res.Body).Decode(&a); err != nil || res.StatusCode != 200 {
		w.t.Fatalf("evaluate %s: %d %v", user, res.StatusCode, err)
	}
	return a
}

// bulk evaluates every flag for user, by key.
func (w *stickyWorld) bulk(srv *httptest.Server, user string) map[string]answer {
	w.t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/ofrep/v1/evaluate/flags", strings.NewReader(`{"context":{"targetingKey":"tk-`+user+`","user_id":"`+user+`"}}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Flags []struct {
			Key string `json:"key"`
			answer
		} `json:"flags"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		w.t.Fatalf("bulk %s: %d %v", user, res.StatusCode, err)
	}
	out := map[string]answer{}
	for _, f := range body.Flags {
		out[f.Key] = f.answer
	}
	return out
}

func users(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestStickyBucketing(t *testing.T) {
	for name, newStore := range stickyStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("KeepsFirstVariantAcrossWeightChangesAndInstances", func(t *testing.T) {
				w := newStickyWorld(t, newStore(t))
				one := w.instance()
				first := map[string]string{}
				count := map[string]int{}
				for _, u := range users(200, "u") {
					a := w.eval(one, u)
					if !a.sticky() || a.Reason != "SPLIT" {
						t.Fatalf("%s: a first sticky answer is the split, marked sticky: %+v", u, a)
					}
					first[u] = a.Variant
					count[a.Variant]++
				}
				if count["a"] < 60 || count["b"] < 60 {
					t.Fatalf("a 1:1 split of 200 users gave %v", count)
				}
				// everyone to c from now on
				w.configure(func(c *domain.FlagConfig) {
					c.DefaultRule.Weights = []domain.Weight{{Variant: "c", Weight: 1}}
				})
				two := w.instance() // another instance, nothing cached
				for _, srv := range []*httptest.Server{one, two} {
					for u, v := range first {
						a := w.eval(srv, u)
						if a.Variant != v || !a.sticky() || a.Reason != "TARGETING_MATCH" {
							t.Fatalf("%s first got %s; after the weights moved to c it gets %+v", u, v, a)
						}
					}
				}
				if a := w.eval(two, "newcomer"); a.Variant != "c" || a.Reason != "STATIC" || !a.sticky() {
					t.Fatalf("a new user gets what targeting says now: %+v", a)
				}
				// a smaller rollout keeps those already in
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Rollout = 0 })
				for u, v := range first {
					if a := w.eval(two, u); a.Variant != v {
						t.Fatalf("%s: rollout 0 %% must keep the assigned %s, got %+v", u, v, a)
					}
				}
				if a := w.eval(two, "late"); a.Variant != "off" || a.Value != nil || a.sticky() {
					t.Fatalf("a new user outside the rollout gets the fallback: %+v", a)
				}
				// bulk evaluation serves the same assignments
				for u, v := range first {
					flags := w.bulk(two, u)
					if a := flags["exp"]; a.Variant != v || !a.sticky() {
						t.Fatalf("%s: bulk must serve the assigned %s: %+v", u, v, a)
					}
					break
				}
				// disabled: the kill switch wins over assignments
				w.configure(func(c *domain.FlagConfig) { c.Enabled = false })
				for u := range first {
					if a := w.eval(one, u); a.Variant != "off" || a.Reason != "DISABLED" || a.sticky() {
						t.Fatalf("%s: a disabled flag serves the off variant to everyone: %+v", u, a)
					}
				}
			})

			t.Run("WithoutStickyBucketingUsersMove", func(t *testing.T) {
				// the control: the same weight change moves every a user to c
				w := newStickyWorld(t, newStore(t))
				w.configure(func(c *domain.FlagConfig) { c.StickyBucketing = false })
				srv := w.instance()
				moved := 0
				for _, u := range users(50, "u") {
					before := w.eval(srv, u)
					if before.sticky() {
						t.Fatalf("not sticky: %+v", before)
					}
					if before.Variant == "a" {
						moved++
					}
				}
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Weights = []domain.Weight{{Variant: "c", Weight: 1}} })
				for _, u := range users(50, "u") {
					if a := w.eval(srv, u); a.Variant != "c" {
						t.Fatalf("%s: without sticky bucketing the weights decide: %+v", u, a)
					}
				}
				if moved == 0 {
					t.Fatal("no user had a")
				}
			})

			t.Run("OutsideTheRolloutIsNotKept", func(t *testing.T) {
				w := newStickyWorld(t, newStore(t))
				// a real off variant (c), served to those outside the rollout
				w.configure(func(c *domain.FlagConfig) {
					c.OffVariant = "c"
					c.DefaultRule = domain.Allocation{Rollout: 30, Weights: []domain.Weight{{Variant: "a", Weight: 1}}}
				})
				srv := w.instance()
				out := []string{}
				for _, u := range users(100, "u") {
					if a := w.eval(srv, u); a.Variant == "c" {
						out = append(out, u)
					}
				}
				if len(out) < 40 {
					t.Fatalf("at 30 %% rollout only %d of 100 were out", len(out))
				}
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Rollout = 100 })
				for _, u := range out {
					if a := w.eval(srv, u); a.Variant != "a" {
						t.Fatalf("%s was outside the rollout; at 100 %% it must get a: %+v", u, a)
					}
				}
			})

			t.Run("RemovedVariantAndNewSaltStartOver", func(t *testing.T) {
				w := newStickyWorld(t, newStore(t))
				w.configure(func(c *domain.FlagConfig) {
					c.DefaultRule.Weights = []domain.Weight{{Variant: "c", Weight: 1}}
				})
				srv := w.instance()
				if a := w.eval(srv, "u1"); a.Variant != "c" {
					t.Fatalf("u1 first gets c: %+v", a)
				}
				// c leaves the flag: u1 takes what targeting gives now, and keeps it
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Weights = []domain.Weight{{Variant: "b", Weight: 1}} })
				_, err := w.store.UpdateFlag(w.ctx, "shop", "exp", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
					f.Variants = f.Variants[:2]
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				w.clock.Advance(2 * time.Second)
				if a := w.eval(w.instance(), "u1"); a.Variant != "b" || !a.sticky() {
					t.Fatalf("u1's c is gone: b now, %+v", a)
				}
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Weights = []domain.Weight{{Variant: "a", Weight: 1}} })
				if a := w.eval(w.instance(), "u1"); a.Variant != "b" {
					t.Fatalf("u1's replacement b is kept: %+v", a)
				}
				// a new salt starts the assignments over
				_, err = w.store.UpdateFlag(w.ctx, "shop", "exp", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
					f.BucketingSalt = "salt5678"
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				w.clock.Advance(2 * time.Second)
				if a := w.eval(srv, "u1"); a.Variant != "a" {
					t.Fatalf("after a new salt u1 gets what targeting gives now (a): %+v", a)
				}
			})

			t.Run("InstancesWithDifferentRulesetsAgree", func(t *testing.T) {
				// one instance still serves the old weights (within its
				// refresh interval) while another serves the new ones; both
				// evaluate the same new users at once: each user gets one
				// variant from both
				w := newStickyWorld(t, newStore(t))
				w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Weights = []domain.Weight{{Variant: "a", Weight: 1}} })
				old := w.instance()
				w.eval(old, "warm-up") // old compiles the a-only ruleset
				_, err := w.store.UpdateFlagConfig(w.ctx, "shop", "exp", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
					c.DefaultRule.Weights = []domain.Weight{{Variant: "b", Weight: 1}}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				fresh := w.instance() // compiles the b-only ruleset; old keeps a for another second
				var mu sync.Mutex
				got := map[string][]string{}
				var wg sync.WaitGroup
				for _, u := range users(30, "racer") {
					for _, srv := range []*httptest.Server{old, fresh} {
						wg.Go(func() {
							a := w.eval(srv, u)
							mu.Lock()
							got[u] = append(got[u], a.Variant)
							mu.Unlock()
						})
					}
				}
				wg.Wait()
				for u, vs := range got {
					if len(vs) != 2 || vs[0] != vs[1] {
						t.Fatalf("%s got %v from two instances", u, vs)
					}
				}
			})

		})
	}
}

// The capacity a sticky flag's evaluation costs on DynamoDB, as the store
// meters it: what docs/evaluation.md and sticky.go state.
func TestStickyBucketingCostOnDynamoDB(t *testing.T) {
	ds := dynamotest.NewStore(t)
	w := newStickyWorld(t, ds)
	one, two := w.instance(), w.instance()
	w.eval(one, "warm-up") // rulesets compiled, SDK keys cached
	w.eval(two, "warm-up")
	measure := func(srv *httptest.Server, us []string) float64 {
		ds.ResetConsumedCapacity()
		for _, u := range us {
			w.eval(srv, u)
		}
		return ds.ConsumedCapacity() / float64(len(us))
	}
	newcomers := users(100, "n")
	first := measure(one, newcomers)
	again := measure(one, newcomers)
	elsewhere := measure(two, newcomers)
	t.Logf("capacity units per evaluation of a sticky flag: a new unit %.2f, a unit this instance has seen %.2f, a unit only another instance has seen %.2f",
		first, again, elsewhere)
	if first != 1.5 || again != 0 || elsewhere != 0.5 {
		t.Fatalf("want 1.5 (a read and a write), 0 (cached), 0.5 (one eventually consistent read); got %.2f, %.2f, %.2f", first, again, elsewhere)
	}

	// units outside the rollout: nothing is stored; one read per unit and
	// instance, then none until the refresh interval has passed
	w.configure(func(c *domain.FlagConfig) { c.DefaultRule.Rollout = 0 })
	w.eval(one, "warm-up") // the new ruleset compiled
	outsiders := users(100, "o")
	offFirst := measure(one, outsiders)
	offAgain := measure(one, outsiders)
	w.clock.Advance(2 * time.Second)
	w.eval(one, "warm-up")
	offLater := measure(one, outsiders)
	t.Logf("capacity units per evaluation of a unit outside the rollout: first %.2f, again %.2f, after the refresh interval %.2f", offFirst, offAgain, offLater)
	if offFirst != 0.5 || offAgain != 0 || offLater != 0.5 {
		t.Fatalf("outside the rollout: want 0.5, 0, 0.5; got %.2f, %.2f, %.2f", offFirst, offAgain, offLater)
	}
	for _, u := range outsiders[:5] {
		if a := w.eval(one, u); a.Variant != "off" || a.sticky() {
			t.Fatalf("%s is outside the rollout: %+v", u, a)
		}
	}
}
