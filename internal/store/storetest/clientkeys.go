package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// clientKeyTests: what flags in browsers and mobile apps need of a store
// (issue 17): client keys keep their kind, a flag its client exposure, and
// the origin index follows the environments' allowed origins.
func clientKeyTests() map[string]func(*testing.T, domain.Store) {
	return map[string]func(*testing.T, domain.Store){
		"ClientKeyKind":            testClientKeyKind,
		"FlagClientExposure":       testFlagClientExposure,
		"OriginIndex":              testOriginIndex,
		"OriginIndexDeleteProject": testOriginIndexDeleteProject,
	}
}

// A client key is stored with its kind, found by hash and by id with it,
// and its successor after a rotation is a client key too; a key stored
// without a kind reads as a server key.
func testClientKeyKind(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "c1", Project: "p", Environment: "production", Name: "web", Hash: "hc1", Kind: domain.SDKKeyClient, CreatedAt: t0}))
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "s1", Project: "p", Environment: "production", Name: "backend", Hash: "hs1", CreatedAt: t0}))
	k, err := s.GetSDKKeyByHash(ctx, "hc1")
	must(t, err)
	if !k.Client() || k.KindOrServer() != domain.SDKKeyClient {
		t.Fatalf("by hash, the client key: %+v", k)
	}
	k, err = s.GetSDKKey(ctx, "p", "production", "s1")
	must(t, err)
	if k.Client() || k.KindOrServer() != domain.SDKKeyServer || k.Name != "backend" {
		t.Fatalf("by id, the key stored without a kind: %+v", k)
	}
	_, err = s.GetSDKKey(ctx, "p", "staging", "c1")
	wantCode(t, err, domain.CodeNotFound) // another environment's id
	_, err = s.RotateSDKKey(ctx, "p", "production", "c1", &domain.SDKKey{ID: "c2", Project: "p", Environment: "production", Hash: "hc2", CreatedAt: t0}, t0, t0)
	must(t, err)
	next, err := s.GetSDKKeyByHash(ctx, "hc2")
	must(t, err)
	if !next.Client() || next.Replaces != "c1" || next.Name != "web" {
		t.Fatalf("the client key's successor: %+v", next)
	}
	old, err := s.GetSDKKey(ctx, "p", "production", "c1")
	must(t, err)
	if old.RevokedAt == nil || !old.Client() {
		t.Fatalf("GetSDKKey reads a revoked key too: %+v", old)
	}
	keys, _, err := s.ListSDKKeys(ctx, "p", "production", domain.Page{})
	must(t, err)
	kinds := map[string]domain.SDKKeyKind{}
	for _, k := range keys {
		kinds[k.ID] = k.KindOrServer()
	}
	if kinds["c1"] != domain.SDKKeyClient || kinds["c2"] != domain.SDKKeyClient || kinds["s1"] != domain.SDKKeyServer {
		t.Fatalf("listed kinds: %v", kinds)
	}
}

// A flag's client exposure is stored, served with the ruleset, and off
// unless set.
func testFlagClientExposure(t *testing.T, s domain.Store) {
	ctx := context.Background()
	newProject(t, s, "p")
	exposed := newFlag("exposed")
	exposed.ClientExposed = true
	must(t, s.CreateFlag(ctx, exposed, nil))
	must(t, s.CreateFlag(ctx, newFlag("hidden"), nil))
	f, err := s.GetFlag(ctx, "p", "exposed")
	must(t, err)
	if !f.ClientExposed {
		t.Fatalf("exposure lost: %+v", f)
	}
	_, err = s.UpdateFlag(ctx, "p", "exposed", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
		f.ClientExposed = false
		return nil
	})
	must(t, err)
	_, err = s.UpdateFlag(ctx, "p", "hidden", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.ClientExposed = true; return nil })
	must(t, err)
	r, err := s.Ruleset(ctx, "p", "production")
	must(t, err)
	got := map[string]bool{}
	for _, f := range r.Flags {
		got[f.Key] = f.ClientExposed
	}
	if got["exposed"] || !got["hidden"] || len(got) != 2 {
		t.Fatalf("the ruleset's exposure after the updates: %v", got)
	}
}

// setOrigins sets an environment's allowed origins.
func setOrigins(t *testing.T, s domain.Store, project, env string, origins ...string) {
	t.Helper()
	_, err := s.UpdateEnvironment(context.Background(), project, env, func(e *domain.Environment, _ *domain.Audit) error {
		e.AllowedOrigins = origins
		return nil
	})
	must(t, err)
}

// wantOrigins checks OriginAllowed for each origin.
func wantOrigins(t *testing.T, s domain.Store, allowed bool, origins ...string) {
	t.Helper()
	for _, o := range origins {
		ok, err := s.OriginAllowed(context.Background(), o)
		must(t, err)
		if ok != allowed {
			t.Fatalf("OriginAllowed(%q) = %t, want %t", o, ok, allowed)
		}
	}
}

// The origin index holds an origin while some environment allows it, across
// projects; "*" allows every origin; a change of the origins moves the
// ruleset version (evaluators read the environment with the ruleset), and
// the ruleset carries the environment's origins; other environment changes
// leave the version alone.
func testOriginIndex(t *testing.T, s domain.Store) {
	ctx := context.Background()
	const a, b, c = "https://a.example", "https://b.example", "http://localhost:5173"
	newProject(t, s, "p")
	newProject(t, s, "q")
	wantOrigins(t, s, false, a, b, c, "")
	v0, err := s.RulesetVersion(ctx, "p")
	must(t, err)
	setOrigins(t, s, "p", "production", a, b)
	wantOrigins(t, s, true, a, b)
	wantOrigins(t, s, false, c, "https://a.example.evil.test", "https://A.example", a+"/")
	v1, err := s.RulesetVersion(ctx, "p")
	must(t, err)
	if v1 == v0 {
		t.Fatal("allowing origins did not move the ruleset version")
	}
	r, err := s.Ruleset(ctx, "p", "production")
	must(t, err)
	if !slices.Equal(r.Environment.AllowedOrigins, []string{a, b}) || r.Environment.Key != "production" || r.Version != v1 {
		t.Fatalf("the ruleset's environment: %+v (version %d, want %d)", r.Environment, r.Version, v1)
	}
	_, err = s.UpdateEnvironment(ctx, "p", "production", func(e *domain.Environment, _ *domain.Audit) error { e.Name = "Prod"; return nil })
	must(t, err)
	if v, err := s.RulesetVersion(ctx, "p"); err != nil || v != v1 {
		t.Fatalf("renaming moved the ruleset version: %d (%v), want %d", v, err, v1)
	}
	setOrigins(t, s, "q", "staging", a)
	setOrigins(t, s, "p", "production", b)
	wantOrigins(t, s, true, a, b) // a: q's staging still allows it
	setOrigins(t, s, "q", "staging")
	wantOrigins(t, s, false, a)
	wantOrigins(t, s, true, b)
	setOrigins(t, s, "q", "development", domain.AnyOrigin)
	wantOrigins(t, s, true, a, c, "https://anything.example")
	setOrigins(t, s, "q", "development", c)
	wantOrigins(t, s, false, a)
	wantOrigins(t, s, true, b, c)
	e := &domain.Environment{Project: "q", Key: "preview", Name: "Preview", AllowedOrigins: []string{"https://preview.example"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateEnvironment(ctx, e))
	wantOrigins(t, s, true, "https://preview.example")
	got, err := s.GetEnvironment(ctx, "q", "preview")
	must(t, err)
	if !slices.Equal(got.AllowedOrigins, []string{"https://preview.example"}) {
		t.Fatalf("created with origins: %+v", got)
	}
}

// Deleting a project takes its environments' origins out of the index, and
// leaves those another project allows.
func testOriginIndexDeleteProject(t *testing.T, s domain.Store) {
	ctx := context.Background()
	const a, b = "https://a.example", "https://b.example"
	newProject(t, s, "p")
	newProject(t, s, "q")
	setOrigins(t, s, "p", "production", a, b)
	setOrigins(t, s, "p", "staging", a)
	setOrigins(t, s, "q", "production", b)
	must(t, s.DeleteProject(ctx, "p", t0.Add(time.Minute), nil))
	wantOrigins(t, s, false, a)
	wantOrigins(t, s, true, b)
	newProject(t, s, "p") // the same key again: allows nothing
	wantOrigins(t, s, false, a)
	must(t, s.DeleteProject(ctx, "q", t0.Add(time.Minute), nil))
	wantOrigins(t, s, false, a, b)
}
