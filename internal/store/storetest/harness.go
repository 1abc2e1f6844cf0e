// Package storetest is the conformance suite every domain.Store must pass.
// The embedded store runs it in every `go test`; the DynamoDB store runs it
// against DynamoDB Local in `make test`.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

// NewStore returns an empty store; the suite calls it once per test.
type NewStore func(t *testing.T) domain.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := map[string]func(*testing.T, domain.Store){
		"ProjectLifecycle":          testProjectLifecycle,
		"DeleteProjectRevokesKeys":  testDeleteProjectRevokesSDKKeys,
		"DeleteProjectKeyRaces":     testDeleteProjectRacesSDKKeys,
		"ProjectPagination":         testProjectPagination,
		"Environments":              testEnvironments,
		"FlagLifecycle":             testFlagLifecycle,
		"FlagListFilterAndPages":    testFlagListFilterAndPages,
		"FlagConfigs":               testFlagConfigs,
		"UpdateFunctionErrorAborts": testUpdateFunctionErrorAborts,
		"ConcurrentFlagUpdates":     testConcurrentFlagUpdates,
		"ConcurrentConfigUpdates":   testConcurrentConfigUpdates,
		"StaleVersionOneWinner":     testStaleVersionOneWinner,
		"Members":                   testMembers,
		"Tokens":                    testTokens,
	}
	for n, fn := range approvalTests() {
		tests[n] = fn
	}
	for n, fn := range memberTests() {
		tests[n] = fn
	}
	for n, fn := range identityTests() {
		tests[n] = fn
	}
	for n, fn := range auditTests() {
		tests[n] = fn
	}
	for n, fn := range settingsGuardTests() {
		tests[n] = fn
	}
	for n, fn := range segmentTests() {
		tests[n] = fn
	}
	for n, fn := range clientKeyTests() {
		tests[n] = fn
	}
	for n, fn := range freezeTests() {
		tests[n] = fn
	}
	for n, fn := range teamTests() {
		tests[n] = fn
	}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			tests[n](t, newStore(t))
		})
	}
}

var t0 = clocktest.At(0, 12, 0, 0)

func wantCode(t *testing.T, err error, code domain.Code) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("want error code %q, got %q (err: %v)", code, got, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newProject(t *testing.T, s domain.Store, key string) {
	t.Helper()
	p := &domain.Project{Key: key, Name: key, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateProject(context.Background(), p, domain.DefaultEnvironments()))
}

func newFlag(key string, tags ...string) *domain.Flag {
	if tags == nil {
		tags = []string{}
	}
	return &domain.Flag{
		Project: "p", Key: key, Name: key, Tags: tags, BucketingUnit: "user_id", BucketingSalt: "salt1234",
		EvaluationMode: domain.EvaluationRemote, CreatedAt: t0, UpdatedAt: t0,
		Variants: []domain.Variant{
			{Key: "on", Value: json.RawMessage(`true`)},
			{Key: "control", Value: json.RawMessage(`{"color":"blue"}`)},
		},
	}
}

func testProjectLifecycle(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	wantCode(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "again"}, nil), domain.CodeConflict)

	p, err := s.GetProject(ctx, "p")
	must(t, err)
	if p.Version != 1 || p.Name != "p" || !p.CreatedAt.Equal(t0) {
		t.Fatalf("read back %+v", p)
	}
	envs, next, err := s.ListEnvironments(ctx, "p", domain.Page{})
	must(t, err)
	if len(envs) != 3 || next != "" {
		t.Fatalf("want the three default environments on one page, got %d (next %q)", len(envs), next)
	}
	_, err = s.GetProject(ctx, "nope")
	wantCode(t, err, domain.CodeNotFound)

	p, err = s.UpdateProject(ctx, "p", func(p *domain.Project) error { p.Name = "Renamed"; return nil })
	must(t, err)
	if p.Version != 2 || p.Name != "Renamed" {
		t.Fatalf("after update %+v", p)
	}
	_, err = s.UpdateProject(ctx, "nope", func(*domain.Project) error { return nil })
	wantCode(t, err, domain.CodeNotFound)

	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	wantCode(t, s.DeleteProject(ctx, "p", t0, nil), domain.CodeConflict)
	must(t, s.DeleteFlag(ctx, "p", "f", func(*domain.Flag, *domain.Audit) error { return nil }))
	must(t, s.DeleteProject(ctx, "p", t0, nil))
	_, err = s.GetProject(ctx, "p")
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteProject(ctx, "p", t0, nil), domain.CodeNotFound)

	// A project made again under the same key does not inherit old environments.
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "p"}, []domain.Environment{{Key: "only", Name: "Only"}}))
	envs, _, err = s.ListEnvironments(ctx, "p", domain.Page{})
	must(t, err)
	if len(envs) != 1 || envs[0].Key != "only" {
		t.Fatalf("environments of the new project: %+v", envs)
	}
}

// Deleting a project revokes every SDK key of it in the same write (a
// rotated key in its grace period and its successor too), so that no key
// opens a project created again under the same key. Another project's keys
// stay, "p2" included (whose keys share the prefix "p").
func testDeleteProjectRevokesSDKKeys(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	newProject(t, s, "p2")
	sdkKey := func(project, env, id string) *domain.SDKKey {
		return &domain.SDKKey{ID: id, Project: project, Environment: env, Name: id, Hash: "hash-" + project + "-" + id, CreatedBy: "member:m1", CreatedAt: t0}
	}
	must(t, s.CreateSDKKey(ctx, sdkKey("p", "production", "a")))
	must(t, s.CreateSDKKey(ctx, sdkKey("p", "staging", "b")))
	must(t, s.CreateSDKKey(ctx, sdkKey("p", "production", "c")))
	must(t, s.CreateSDKKey(ctx, sdkKey("p2", "production", "a")))
	// a rotated with a grace period: a (until later) and its successor a2 work
	later := t0.Add(24 * time.Hour)
	_, err := s.RotateSDKKey(ctx, "p", "production", "a", sdkKey("p", "production", "a2"), t0, later)
	must(t, err)
	// c is revoked already, before the delete
	_, err = s.RevokeSDKKey(ctx, "p", "production", "c", t0)
	must(t, err)
	gone := []string{"hash-p-a", "hash-p-a2", "hash-p-b", "hash-p-c"}
	for _, h := range gone[:3] {
		_, err := s.GetSDKKeyByHash(ctx, h)
		must(t, err)
	}

	// the audit entry is built from the keys revoked and written in the
	// same write
	var revoked []string
	must(t, s.DeleteProject(ctx, "p", t0, func(ids []string) []domain.AuditEntry {
		revoked = append([]string(nil), ids...)
		return []domain.AuditEntry{{ID: "a-delete-p", At: t0, Actor: "member:m1", Action: "project.deleted", Channel: "api", Project: "p",
			Reason: strings.Join(ids, ",")}}
	}))
	sort.Strings(revoked)
	if strings.Join(revoked, ",") != "a,a2,b" {
		t.Fatalf("the delete says it revoked %v, want a, a2, b (c was revoked before)", revoked)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].Action != "project.deleted" || entries[0].Reason == "" {
		t.Fatalf("the delete's audit entry: %+v", entries)
	}
	if ob, err := s.GetOutbox(ctx, "a-delete-p"); err != nil || ob.Entry.ID != "a-delete-p" {
		t.Fatalf("the delete's outbox item: %+v %v", ob, err)
	}
	for _, h := range gone {
		if k, err := s.GetSDKKeyByHash(ctx, h); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("key %s of the deleted project: want not_found, got %+v (err: %v)", h, k, err)
		}
	}
	// The key items stay, revoked (a key revoked before keeps its time).
	never := t0.AddDate(-1, 0, 0)
	for _, k := range []struct{ env, id string }{{"production", "a"}, {"production", "a2"}, {"staging", "b"}, {"production", "c"}} {
		got, err := s.RevokeSDKKey(ctx, "p", k.env, k.id, never)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			continue // a store may refuse to revoke in a deleted environment
		}
		must(t, err)
		if got.RevokedAt == nil || got.RevokedAt.Equal(never) {
			t.Fatalf("key %s/%s was not revoked by the delete: %+v", k.env, k.id, got)
		}
		if k.id == "c" && !got.RevokedAt.Equal(t0) {
			t.Fatalf("a key revoked before the delete keeps its time: %+v", got)
		}
	}
	other, err := s.GetSDKKeyByHash(ctx, "hash-p2-a")
	must(t, err)
	if other.Project != "p2" || other.ID != "a" || other.RevokedAt != nil {
		t.Fatalf("p2's key after deleting p: %+v", other)
	}

	// Created again under the same key, the project opens to none of them.
	newProject(t, s, "p")
	for _, h := range gone {
		if k, err := s.GetSDKKeyByHash(ctx, h); domain.ErrorCode(err) != domain.CodeNotFound {
			t.Fatalf("key %s of the deleted project opens the new one: %+v (err: %v)", h, k, err)
		}
	}
	must(t, s.CreateSDKKey(ctx, sdkKey("p", "production", "new")))
	if k, err := s.GetSDKKeyByHash(ctx, "hash-p-new"); err != nil || k.Project != "p" || k.ID != "new" {
		t.Fatalf("a key of the new project: %+v (err: %v)", k, err)
	}
}

// Keys created and rotated while the project is deleted: either the delete
// fails (and the project stays) or, once it succeeded, no key of the
// project is found by its hash, whatever the order the writes landed in.
// The creations start spread over one delete's duration, so that some land
// between the delete's reads and its write.
func testDeleteProjectRacesSDKKeys(t *testing.T, s domain.Store) {
	ctx := context.Background()
	const rounds, creators = 10, 3
	newProject(t, s, "warmup")
	began := time.Now() // wall clock: how far apart concurrent writers ran
	must(t, s.DeleteProject(ctx, "warmup", t0, nil))
	spread := time.Since(began) // wall clock: see began
	for round := range rounds {
		p := fmt.Sprintf("race%d", round)
		newProject(t, s, p)
		hash := func(id string) string { return p + "-hash-" + id }
		key := func(id string) *domain.SDKKey {
			return &domain.SDKKey{ID: id, Project: p, Environment: "production", Name: id, Hash: hash(id), CreatedBy: "member:m1", CreatedAt: t0}
		}
		must(t, s.CreateSDKKey(ctx, key("base")))
		hashes := []string{hash("base"), hash("next")}
		start := make(chan struct{})
		var wg sync.WaitGroup
		var deleteErr error
		wg.Go(func() {
			<-start
			deleteErr = s.DeleteProject(ctx, p, t0, nil)
		})
		for i := range creators {
			id := fmt.Sprintf("k%d", i)
			hashes = append(hashes, hash(id))
			wg.Go(func() {
				<-start
				time.Sleep(spread * time.Duration(i) / creators)
				err := s.CreateSDKKey(ctx, key(id))
				if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
					t.Errorf("round %d: create %s: %v", round, id, err)
				}
			})
		}
		wg.Go(func() {
			<-start
			time.Sleep(spread / 2)
			_, err := s.RotateSDKKey(ctx, p, "production", "base", key("next"), t0, t0.Add(time.Hour))
			if err != nil && domain.ErrorCode(err) != domain.CodeConflict && domain.ErrorCode(err) != domain.CodeNotFound {
				t.Errorf("round %d: rotate: %v", round, err)
			}
		})
		close(start)
		wg.Wait()
		if deleteErr != nil {
			if !errors.Is(deleteErr, domain.ErrContention) {
				t.Fatalf("round %d: delete: %v", round, deleteErr)
			}
			must(t, func() error { _, err := s.GetProject(ctx, p); return err }())
			continue
		}
		for _, h := range hashes {
			if k, err := s.GetSDKKeyByHash(ctx, h); domain.ErrorCode(err) != domain.CodeNotFound {
				t.Fatalf("round %d: key %s outlived its deleted project: %+v (err: %v)", round, h, k, err)
			}
		}
		// and none opens the project created again
		newProject(t, s, p)
		for _, h := range hashes {
			if k, err := s.GetSDKKeyByHash(ctx, h); domain.ErrorCode(err) != domain.CodeNotFound {
				t.Fatalf("round %d: key %s opens the project created again: %+v (err: %v)", round, h, k, err)
			}
		}
	}
}

func testProjectPagination(t *testing.T, s domain.Store) {
	ctx := context.Background()
	for i := range 7 {
		newProject(t, s, fmt.Sprintf("p%02d", i))
	}
	var keys []string
	cursor := ""
	pages := 0
	for {
		ps, next, err := s.ListProjects(ctx, domain.Page{Limit: 3, Cursor: cursor})
		must(t, err)
		pages++
		for _, p := range ps {
			keys = append(keys, p.Key)
		}
		if next == "" {
			break
		}
		if len(ps) != 3 {
			t.Fatalf("a page with a next cursor must be full, got %d", len(ps))
		}
		cursor = next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || len(keys) != 7 {
		t.Fatalf("want 7 projects over 3 pages, got %v over %d", keys, pages)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("p%02d", i) {
			t.Fatalf("want projects in key order, got %v", keys)
		}
	}
	_, _, err := s.ListProjects(ctx, domain.Page{Cursor: "!!not-a-cursor!!"})
	wantCode(t, err, domain.CodeInvalid)
}

func testEnvironments(t *testing.T, s domain.Store) {
	ctx := context.Background()
	wantCode(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: "qa", Name: "QA"}), domain.CodeNotFound)
	newProject(t, s, "p")
	must(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: "qa", Name: "QA", CreatedAt: t0}))
	wantCode(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: "qa", Name: "QA"}), domain.CodeConflict)
	e, err := s.GetEnvironment(ctx, "p", "production")
	must(t, err)
	if !e.Protected || e.Version != 1 || e.Project != "p" {
		t.Fatalf("production: %+v", e)
	}
	e, err = s.UpdateEnvironment(ctx, "p", "qa", func(e *domain.Environment, _ *domain.Audit) error { e.Protected = true; return nil })
	must(t, err)
	if !e.Protected || e.Version != 2 {
		t.Fatalf("after update: %+v", e)
	}
	_, err = s.GetEnvironment(ctx, "p", "nope")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.UpdateEnvironment(ctx, "p", "nope", func(*domain.Environment, *domain.Audit) error { return nil })
	wantCode(t, err, domain.CodeNotFound)
	_, _, err = s.ListEnvironments(ctx, "nope", domain.Page{})
	wantCode(t, err, domain.CodeNotFound)

	envs, next, err := s.ListEnvironments(ctx, "p", domain.Page{Limit: 2})
	must(t, err)
	if len(envs) != 2 || next == "" {
		t.Fatalf("first page: %d, next %q", len(envs), next)
	}
	rest, next, err := s.ListEnvironments(ctx, "p", domain.Page{Limit: 2, Cursor: next})
	must(t, err)
	if len(rest) != 2 || next != "" {
		t.Fatalf("second page: %d, next %q", len(rest), next)
	}

	for i := len(envs) + len(rest); i < domain.MaxEnvironmentsPerProject; i++ {
		must(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: fmt.Sprintf("e%d", i), Name: "E"}))
	}
	wantCode(t, s.CreateEnvironment(ctx, &domain.Environment{Project: "p", Key: "one-too-many", Name: "E"}), domain.CodeConflict)
}

func testFlagLifecycle(t *testing.T, s domain.Store) {
	ctx := context.Background()
	wantCode(t, s.CreateFlag(ctx, newFlag("f"), nil), domain.CodeNotFound)
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f", "checkout"), nil))
	wantCode(t, s.CreateFlag(ctx, newFlag("f"), nil), domain.CodeConflict)

	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if f.Version != 1 || len(f.Variants) != 2 || string(f.Variants[1].Value) != `{"color":"blue"}` || !f.HasTag("checkout") {
		t.Fatalf("read back %+v", f)
	}
	_, err = s.GetFlag(ctx, "p", "nope")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.GetFlag(ctx, "nope", "f")
	wantCode(t, err, domain.CodeNotFound)

	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "control", Weight: 1}}}
		return nil
	})
	must(t, err)

	var seen []domain.FlagConfig
	f, err = s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, configs []domain.FlagConfig, _ *domain.Audit) error {
		seen = configs
		f.Archived = true
		return nil
	})
	must(t, err)
	if f.Version != 2 || !f.Archived {
		t.Fatalf("after update: %+v", f)
	}
	if len(seen) != 1 || seen[0].Environment != "production" || !seen[0].UsesVariant("control") {
		t.Fatalf("update function should see the one stored config, saw %+v", seen)
	}

	refuse := errors.New("refused")
	if err := s.DeleteFlag(ctx, "p", "f", func(*domain.Flag, *domain.Audit) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("delete check error should come back, got %v", err)
	}
	must(t, s.DeleteFlag(ctx, "p", "f", func(f *domain.Flag, _ *domain.Audit) error {
		if !f.Archived {
			t.Error("delete check got a stale flag")
		}
		return nil
	}))
	_, err = s.GetFlag(ctx, "p", "f")
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteFlag(ctx, "p", "f", func(*domain.Flag, *domain.Audit) error { return nil }), domain.CodeNotFound)

	// Its configs went with it: a new flag of the same key starts from the default.
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	_, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if c.Version != 0 || c.Enabled {
		t.Fatalf("config of a re-created flag should be the default, got %+v", c)
	}
}

func testFlagListFilterAndPages(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	newProject(t, s, "other")
	for i := range 9 {
		tags := []string{"all"}
		if i%3 == 0 {
			tags = append(tags, "checkout")
		}
		must(t, s.CreateFlag(ctx, newFlag(fmt.Sprintf("f%d", i), tags...), nil))
	}
	of := newFlag("in-other")
	of.Project = "other"
	must(t, s.CreateFlag(ctx, of, nil))
	_, err := s.UpdateFlag(ctx, "p", "f3", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.Archived = true; return nil })
	must(t, err)

	collect := func(filter domain.FlagFilter, limit int) []string {
		var keys []string
		cursor := ""
		for range 20 {
			fs, next, err := s.ListFlags(ctx, "p", filter, domain.Page{Limit: limit, Cursor: cursor})
			must(t, err)
			for _, f := range fs {
				keys = append(keys, f.Key)
			}
			if next == "" {
				return keys
			}
			cursor = next
		}
		t.Fatal("pagination does not end")
		return nil
	}
	if got := collect(domain.FlagFilter{}, 4); fmt.Sprint(got) != "[f0 f1 f2 f3 f4 f5 f6 f7 f8]" {
		t.Fatalf("all flags of p: %v", got)
	}
	if got := collect(domain.FlagFilter{Tag: "checkout"}, 1); fmt.Sprint(got) != "[f0 f3 f6]" {
		t.Fatalf("tag checkout: %v", got)
	}
	yes, no := true, false
	if got := collect(domain.FlagFilter{Archived: &yes}, 2); fmt.Sprint(got) != "[f3]" {
		t.Fatalf("archived: %v", got)
	}
	if got := collect(domain.FlagFilter{Tag: "checkout", Archived: &no}, 1); fmt.Sprint(got) != "[f0 f6]" {
		t.Fatalf("checkout, not archived: %v", got)
	}
	// a search: key or name, ASCII letters in either case, across pages
	for key, name := range map[string]string{"new-checkout": "New Checkout", "dark-mode": "Dark <Mode> & more", "kelvin": "Kelvin scale"} {
		f := newFlag(key)
		f.Name = name
		must(t, s.CreateFlag(ctx, f, nil))
	}
	for q, want := range map[string]string{
		"CHECKOUT": "[new-checkout]", "new-": "[new-checkout]", "f": "[f0 f1 f2 f3 f4 f5 f6 f7 f8]",
		"<mode> &": "[dark-mode]", "mode": "[dark-mode]", "elvin s": "[kelvin]", "kelvin": "[kelvin]",
		"kKelvin": "[]", "nothing": "[]",
	} {
		if got := fmt.Sprint(collect(domain.FlagFilter{Query: q}, 1)); got != want && !(want == "[]" && got == "[]") {
			t.Errorf("query %q: %v, want %v", q, got, want)
		}
	}
	if got := collect(domain.FlagFilter{Query: "F", Tag: "checkout", Archived: &no}, 1); fmt.Sprint(got) != "[f0 f6]" {
		t.Fatalf("query, tag and archived: %v", got)
	}
	_, _, err = s.ListFlags(ctx, "nope", domain.FlagFilter{}, domain.Page{})
	wantCode(t, err, domain.CodeNotFound)
}

func testFlagConfigs(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))

	f, c, err := s.GetFlagConfig(ctx, "p", "f", "staging")
	must(t, err)
	if f.Key != "f" || c.Version != 0 || c.Enabled || c.OffVariant != domain.OffVariantKey || c.Environment != "staging" {
		t.Fatalf("default config: %+v", c)
	}
	_, _, err = s.GetFlagConfig(ctx, "p", "f", "nope")
	wantCode(t, err, domain.CodeNotFound)
	_, _, err = s.GetFlagConfig(ctx, "p", "nope", "staging")
	wantCode(t, err, domain.CodeNotFound)
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "nope", func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error { return nil })
	wantCode(t, err, domain.CodeNotFound)

	rule := domain.Rule{
		Name:       "beta users",
		Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIn, Values: []string{"DE", "FR"}}},
		Allocation: domain.Allocation{Rollout: 12.5, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "control", Weight: 4}}},
	}
	c, err = s.UpdateFlagConfig(ctx, "p", "f", "staging", func(f *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		if f.Key != "f" {
			t.Error("update function got the wrong flag")
		}
		c.Enabled = true
		c.Rules = []domain.Rule{rule}
		c.StickyBucketing = true
		c.ExposureEvent = "$exposure"
		return nil
	})
	must(t, err)
	if c.Version != 1 {
		t.Fatalf("first write should make version 1, got %d", c.Version)
	}
	_, c, err = s.GetFlagConfig(ctx, "p", "f", "staging")
	must(t, err)
	if c.Version != 1 || !c.Enabled || !c.StickyBucketing || c.ExposureEvent != "$exposure" || len(c.Rules) != 1 ||
		c.Rules[0].Rollout != 12.5 || c.Rules[0].Weights[1].Weight != 4 || c.Rules[0].Conditions[0].Values[1] != "FR" {
		t.Fatalf("read back %+v", c)
	}
	c, err = s.UpdateFlagConfig(ctx, "p", "f", "staging", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error { c.Enabled = false; return nil })
	must(t, err)
	if c.Version != 2 || c.Enabled {
		t.Fatalf("second write: %+v", c)
	}
	// Other environments are untouched.
	_, c, err = s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if c.Version != 0 {
		t.Fatalf("production should still be the default, got version %d", c.Version)
	}
}

func testUpdateFunctionErrorAborts(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	refuse := domain.Errorf(domain.CodeInvalid, "no")
	_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.Name = "changed"; return refuse })
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		return refuse
	})
	wantCode(t, err, domain.CodeInvalid)
	_, err = s.UpdateProject(ctx, "p", func(p *domain.Project) error { p.Name = "changed"; return refuse })
	wantCode(t, err, domain.CodeInvalid)

	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	_, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	p, err := s.GetProject(ctx, "p")
	must(t, err)
	if f.Name != "f" || f.Version != 1 || c.Enabled || c.Version != 0 || p.Name != "p" || p.Version != 1 {
		t.Fatalf("a failed update function must write nothing: flag %+v config %+v project %+v", f, c, p)
	}
}

// Many writers each add one thing; none may be lost.
func testConcurrentFlagUpdates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
				f.Variants = append(f.Variants, domain.Variant{Key: fmt.Sprintf("v%d", i), Value: json.RawMessage(`1`)})
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if len(f.Variants) != 2+n || f.Version != 1+n {
		t.Fatalf("lost updates: %d variants (want %d), version %d (want %d)", len(f.Variants), 2+n, f.Version, 1+n)
	}
}

// untilNotContended calls write again while the store answers
// domain.ErrContention, at most 5 times: the store refused the write (it
// wrote nothing) and tells the client to retry, as clients do. An update
// it acknowledged is never lost; that is what the callers check.
func untilNotContended(write func() error) error {
	err := write()
	for i := 0; i < 4 && errors.Is(err, domain.ErrContention); i++ {
		err = write()
	}
	return err
}

func testConcurrentConfigUpdates(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- untilNotContended(func() error {
				_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
					c.Rules = append(c.Rules, domain.Rule{Name: fmt.Sprintf("r%d", i), Allocation: domain.Allocation{Weights: []domain.Weight{}}})
					return nil
				})
				return err
			})
		})
		// Flag writers at the same time must not lose config writes nor the reverse.
		wg.Go(func() {
			errs <- untilNotContended(func() error {
				_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
					f.Description += "x"
					return nil
				})
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	f, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if len(c.Rules) != n || c.Version != n {
		t.Fatalf("lost config updates: %d rules, version %d, want %d", len(c.Rules), c.Version, n)
	}
	if len(f.Description) != n || f.Version != 1+n {
		t.Fatalf("lost flag updates: description %q, version %d", f.Description, f.Version)
	}
}

// Writers that all read version 1 and insist on it: exactly one wins.
func testStaleVersionOneWinner(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateFlag(ctx, newFlag("f"), nil))
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
				if f.Version != 1 {
					return domain.StaleVersion("flag", 1, f.Version)
				}
				f.Name = fmt.Sprintf("writer %d", i)
				return nil
			})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch domain.ErrorCode(err) {
		case domain.CodeInternal:
			if err != nil {
				t.Fatal(err)
			}
			wins++
		case domain.CodeConflict:
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("want exactly one winner, got %d", wins)
	}
}

func testMembers(t *testing.T, s domain.Store) {
	ctx := context.Background()
	ada := &domain.Member{ID: "m-ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleAdmin, CreatedAt: t0}
	must(t, s.CreateMember(ctx, ada))
	wantCode(t, s.CreateMember(ctx, &domain.Member{ID: "m-other", Email: "ADA@example.com", Name: "x", Role: domain.RoleViewer}), domain.CodeConflict)
	wantCode(t, s.CreateMember(ctx, &domain.Member{ID: "m-ada", Email: "new@example.com", Name: "x", Role: domain.RoleViewer}), domain.CodeConflict)
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-bob", Email: "bob@example.com", Name: "Bob", Role: domain.RoleEditor}))

	m, err := s.GetMember(ctx, "m-ada")
	must(t, err)
	if m.Email != "ada@example.com" || m.Role != domain.RoleAdmin || m.Version != 1 {
		t.Fatalf("read back %+v", m)
	}
	// Changing e-mail frees the old address and takes the new one.
	_, err = s.UpdateMember(ctx, "m-bob", func(m *domain.Member) error { m.Email = "ada@example.com"; return nil })
	wantCode(t, err, domain.CodeConflict)
	m, err = s.UpdateMember(ctx, "m-ada", func(m *domain.Member) error { m.Email = "lovelace@example.com"; return nil })
	must(t, err)
	if m.Version != 2 {
		t.Fatalf("version after update: %d", m.Version)
	}
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-new", Email: "ada@example.com", Name: "New", Role: domain.RoleViewer}))
	wantCode(t, s.CreateMember(ctx, &domain.Member{ID: "m-x", Email: "lovelace@example.com", Name: "x", Role: domain.RoleViewer}), domain.CodeConflict)

	ms, next, err := s.ListMembers(ctx, domain.Page{Limit: 2})
	must(t, err)
	more, next2, err := s.ListMembers(ctx, domain.Page{Limit: 2, Cursor: next})
	must(t, err)
	if len(ms) != 2 || next == "" || len(more) != 1 || next2 != "" {
		t.Fatalf("member pages: %d then %d", len(ms), len(more))
	}

	must(t, s.DeleteMember(ctx, "m-ada"))
	_, err = s.GetMember(ctx, "m-ada")
	wantCode(t, err, domain.CodeNotFound)
	wantCode(t, s.DeleteMember(ctx, "m-ada"), domain.CodeNotFound)
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m-y", Email: "lovelace@example.com", Name: "y", Role: domain.RoleViewer}))
}

func testTokens(t *testing.T, s domain.Store) {
	ctx := context.Background()
	tok := &domain.Token{ID: "t1", Name: "ci", MemberID: "m1", Role: domain.RoleEditor, Hash: "hash-1", CreatedBy: "m1", CreatedAt: t0}
	must(t, s.CreateToken(ctx, tok))
	must(t, s.CreateToken(ctx, &domain.Token{ID: "t2", Name: "svc", Role: domain.RoleViewer, Hash: "hash-2", CreatedBy: "m1", CreatedAt: t0}))
	wantCode(t, s.CreateToken(ctx, &domain.Token{ID: "t3", Hash: "hash-1"}), domain.CodeConflict)
	wantCode(t, s.CreateToken(ctx, &domain.Token{ID: "t1", Hash: "hash-9"}), domain.CodeConflict)

	got, err := s.GetTokenByHash(ctx, "hash-1")
	must(t, err)
	if got.ID != "t1" || got.MemberID != "m1" || got.LastUsedAt != nil {
		t.Fatalf("by hash: %+v", got)
	}
	_, err = s.GetTokenByHash(ctx, "hash-x")
	wantCode(t, err, domain.CodeNotFound)

	must(t, s.TouchToken(ctx, "t1", t0.Add(time.Hour)))
	must(t, s.TouchToken(ctx, "t1", t0)) // an older use does not move last-used back
	got, err = s.GetToken(ctx, "t1")
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last used: %v", got.LastUsedAt)
	}

	mine, _, err := s.ListTokens(ctx, "m1", domain.Page{})
	must(t, err)
	all, _, err := s.ListTokens(ctx, "", domain.Page{})
	must(t, err)
	if len(mine) != 1 || mine[0].ID != "t1" || len(all) != 2 {
		t.Fatalf("lists: mine %d, all %d", len(mine), len(all))
	}

	r, err := s.RevokeToken(ctx, "t1", t0.Add(2*time.Hour))
	must(t, err)
	if r.RevokedAt == nil || !r.RevokedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("revoked: %+v", r)
	}
	_, err = s.GetTokenByHash(ctx, "hash-1")
	wantCode(t, err, domain.CodeNotFound)
	r, err = s.RevokeToken(ctx, "t1", t0.Add(3*time.Hour))
	must(t, err)
	if !r.RevokedAt.Equal(t0.Add(2 * time.Hour)) {
		t.Fatal("revoking twice must keep the first revocation time")
	}
	_, err = s.RevokeToken(ctx, "nope", t0)
	wantCode(t, err, domain.CodeNotFound)
	got, err = s.GetToken(ctx, "t1")
	must(t, err)
	if got.RevokedAt == nil {
		t.Fatal("revocation not stored")
	}
}

// only is the error of a change-request transition, whose Transition the
// suite does not look at.
func only(_ domain.Transition, err error) error { return err }
