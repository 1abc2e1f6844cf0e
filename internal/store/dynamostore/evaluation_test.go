package dynamostore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

func wantNumber(t *testing.T, it map[string]types.AttributeValue, name, want string) {
	t.Helper()
	if n, ok := it[name].(*types.AttributeValueMemberN); !ok || n.Value != want {
		t.Errorf("%s: want %s, got %#v", name, want, it[name])
	}
}

// An SDK key is PROJECT#<p> / SDKKEY#<env>#<id>, and while it is live
// ORG / SDKKEYHASH#<hash> names it; revocation removes the hash item and
// keeps the first revocation time.
func TestSDKKeyItems(t *testing.T) {
	s, c, table := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	k := &domain.SDKKey{ID: "k1", Project: "p", Environment: "staging", Name: "web", Hash: "abc123", CreatedBy: "member:m1", CreatedAt: at0}
	must(t, s.CreateSDKKey(ctx, k))

	key := rawItem(t, c, table, "PROJECT#p", "SDKKEY#staging#k1")
	if key == nil {
		t.Fatal("no SDK key item")
	}
	wantString(t, key, "id", "k1")
	wantString(t, key, "hash", "abc123")
	wantString(t, key, "environment", "staging")
	if _, ok := key["revoked_at"]; ok {
		t.Error("a new key carries revoked_at")
	}
	hash := rawItem(t, c, table, "ORG", "SDKKEYHASH#abc123")
	if hash == nil {
		t.Fatal("no SDK key hash item")
	}
	wantString(t, hash, "project", "p")
	wantString(t, hash, "environment", "staging")
	wantString(t, hash, "sdk_key_id", "k1")

	// Missing environment of an existing project, missing project.
	err := s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k2", Project: "p", Environment: "nope", Hash: "h2"})
	if domain.ErrorCode(err) != domain.CodeNotFound || rawItem(t, c, table, "ORG", "SDKKEYHASH#h2") != nil {
		t.Fatalf("key of a missing environment: %v", err)
	}
	_, _, err = s.ListSDKKeys(ctx, "p", "nope", domain.Page{})
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("keys of a missing environment: %v", err)
	}
	// The same id in another environment is another key.
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k1", Project: "p", Environment: "production", Hash: "h3", CreatedAt: at0}))
	// A cursor of one environment's keys is refused by another's.
	must(t, s.CreateSDKKey(ctx, &domain.SDKKey{ID: "k2", Project: "p", Environment: "staging", Hash: "h4", CreatedAt: at0}))
	keys, next, err := s.ListSDKKeys(ctx, "p", "staging", domain.Page{Limit: 1})
	must(t, err)
	if len(keys) != 1 || keys[0].ID != "k1" || next == "" {
		t.Fatalf("first page of staging keys: %+v %q", keys, next)
	}
	_, _, err = s.ListSDKKeys(ctx, "p", "production", domain.Page{Cursor: next})
	if domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("cursor of another environment's keys: want invalid, got %v", err)
	}

	r, err := s.RevokeSDKKey(ctx, "p", "staging", "k1", at0)
	must(t, err)
	if r.RevokedAt == nil || !r.RevokedAt.Equal(at0) {
		t.Fatalf("revoked key: %+v", r)
	}
	if rawItem(t, c, table, "ORG", "SDKKEYHASH#abc123") != nil {
		t.Error("the hash item outlived the revocation")
	}
	if _, ok := rawItem(t, c, table, "PROJECT#p", "SDKKEY#staging#k1")["revoked_at"]; !ok {
		t.Error("the revoked key has no revoked_at")
	}
	again, err := s.RevokeSDKKey(ctx, "p", "staging", "k1", at0.Add(time.Hour))
	must(t, err)
	if again.RevokedAt == nil || !again.RevokedAt.Equal(at0) {
		t.Fatalf("revoking twice must keep the first time: %+v", again)
	}
	// The other key of the same id is untouched.
	got, err := s.GetSDKKeyByHash(ctx, "h3")
	must(t, err)
	if got.Environment != "production" || got.RevokedAt != nil {
		t.Fatalf("key k1 of production: %+v", got)
	}
}

// The ruleset version is PROJECT#<p> / RULESET, and every write of a flag or
// a config adds one to it, deleting a flag included.
func TestRulesetVersionItem(t *testing.T) {
	s, c, table := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	if rawItem(t, c, table, "PROJECT#p", "RULESET") != nil {
		t.Fatal("a project without flags has a ruleset item")
	}
	v, err := s.RulesetVersion(ctx, "p")
	must(t, err)
	if v != 0 {
		t.Fatalf("version before any write: %d", v)
	}
	must(t, s.CreateFlag(ctx, newFlag("f", "on", "off"), nil))
	_, err = s.UpdateFlagConfig(ctx, "p", "f", "staging", serve("on"))
	must(t, err)
	_, err = s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.Name = "F"; return nil })
	must(t, err)
	wantNumber(t, rawItem(t, c, table, "PROJECT#p", "RULESET"), "ruleset_version", "3")
	// A write that fails moves nothing.
	_, err = s.UpdateFlag(ctx, "p", "f", func(*domain.Flag, []domain.FlagConfig, *domain.Audit) error {
		return domain.Errorf(domain.CodeInvalid, "no")
	})
	if domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatal(err)
	}
	must(t, s.DeleteFlag(ctx, "p", "f", func(*domain.Flag, *domain.Audit) error { return nil }))
	v, err = s.RulesetVersion(ctx, "p")
	must(t, err)
	if v != 4 {
		t.Fatalf("version after create, config, update, delete: want 4, got %d", v)
	}
	// Another project's version is its own.
	v, err = s.RulesetVersion(ctx, "other")
	must(t, err)
	if v != 0 {
		t.Fatalf("version of a project never written: %d", v)
	}
}

// While config writes land, every ruleset read answers a version that is
// never newer than its content (and, when the reads were not overtaken, the
// version of exactly its content): here the version is the setup's plus the
// production config's version.
func TestRulesetVersionFollowsContent(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	base, err := s.RulesetVersion(ctx, "p")
	must(t, err)

	const writes = 30
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(stop)
		for i := range writes {
			_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
				c.Enabled = i%2 == 0
				return nil
			})
			if err != nil {
				t.Errorf("config write %d: %v", i, err)
				return
			}
		}
	}()
	var reads, exact int
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		r, err := s.Ruleset(ctx, "p", "production")
		must(t, err)
		reads++
		var cv int64
		for _, c := range r.Configs {
			if c.Flag == "f" {
				cv = c.Version
			}
		}
		if len(r.Flags) != 1 || len(r.Configs) > 1 {
			t.Fatalf("ruleset: %+v", r)
		}
		if r.Version > base+cv {
			t.Fatalf("ruleset version %d is newer than its content (config version %d over base %d)", r.Version, cv, base)
		}
		if r.Version == base+cv {
			exact++
		}
	}
	wg.Wait()
	t.Logf("%d ruleset reads during %d config writes, %d of them exact", reads, writes, exact)
	if exact == 0 {
		t.Fatal("no ruleset read answered the version of its content")
	}
	r, err := s.Ruleset(ctx, "p", "production")
	must(t, err)
	if r.Version != base+writes || len(r.Configs) != 1 || r.Configs[0].Version != writes {
		t.Fatalf("ruleset after the writes: version %d (base %d), %+v", r.Version, base, r.Configs)
	}
}
