package app_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Exposing a flag to client keys makes its answers public: where an
// environment requires approval it is a flag change request like any
// other gated flag-level change (here production, which serves checkout),
// and applies once approved. Hiding it needs approval where the flag is
// served; a flag no gated environment serves is hidden at once. With
// approvals off, exposure applies directly.
func TestClientExposureNeedsApprovalWhereGated(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		expose := func(p *app.Principal, flag string, on bool) app.Outcome[domain.Flag] {
			t.Helper()
			out, err := w.svc.ChangeFlag(w.ctx, p, "shop", flag, nil, app.ChangeOptions{}, func(f *domain.Flag) error { f.ClientExposed = on; return nil })
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		out := expose(w.requester, "checkout", true)
		if out.Request == nil || out.Applied != nil || out.Request.Kind != domain.KindFlag {
			t.Fatalf("exposing checkout applied without approval: %+v", out)
		}
		if !slices.ContainsFunc(out.Request.Diff.Summary, func(s string) bool { return strings.Contains(s, "exposed to client keys") }) {
			t.Fatalf("the request's summary does not say what it exposes: %v", out.Request.Diff.Summary)
		}
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); f.ClientExposed {
			t.Fatal("checkout is exposed while the request is pending")
		}
		w.must(w.svc.Review(w.ctx, w.alice, out.Request.ID, domain.DecisionApprove, "fine to show", app.ChannelAPI))
		w.must(w.svc.Apply(w.ctx, w.requester, out.Request.ID))
		if f, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); !f.ClientExposed {
			t.Fatal("checkout is not exposed after the approved request applied")
		}
		if out := expose(w.requester, "checkout", false); out.Request == nil {
			t.Fatalf("hiding a flag production serves applied without approval: %+v", out.Applied)
		}

		// a new flag may be created exposed: it serves nothing until its
		// (gated) targeting is written; hiding it again needs nobody
		w.must(w.svc.CreateFlag(w.ctx, w.requester, "shop", app.FlagInput{Key: "banner", Name: "Banner", ClientExposed: true,
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}))
		if out := expose(w.requester, "banner", false); out.Applied == nil || out.Applied.ClientExposed {
			t.Fatalf("hiding a flag no gated environment serves: %+v", out)
		}
		if out := expose(w.requester, "banner", true); out.Request == nil {
			t.Fatalf("exposing it again where production requires approval applied: %+v", out.Applied)
		}

		w.approvalsOff()
		if out := expose(w.requester, "checkout", false); out.Applied == nil || out.Applied.ClientExposed {
			t.Fatalf("with approvals off: %+v", out)
		}
	})
}

// Client keys are created, rotated and revoked like SDK keys, by admins,
// audited under their own actions; a client key's secret says what it is,
// and its successor is a client key too.
func TestClientKeysLifecycle(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		_, err := w.svc.CreateSDKKey(w.ctx, w.carol, "shop", "production", app.SDKKeyInput{Name: "web", Kind: "client"})
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.CreateSDKKey(w.ctx, w.admin, "shop", "production", app.SDKKeyInput{Name: "web", Kind: "browser"})
		wantCode(t, err, domain.CodeInvalid)
		var de *domain.Error
		if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Pointer != "/kind" {
			t.Fatalf("a bad kind: %v", err)
		}

		k, err := w.svc.CreateSDKKey(w.ctx, w.admin, "shop", "production", app.SDKKeyInput{Name: "storefront", Kind: "client"})
		if err != nil {
			t.Fatal(err)
		}
		if !k.Client() || !strings.HasPrefix(k.Secret, "cs_client_") {
			t.Fatalf("the client key: %+v", k.SDKKey)
		}
		s, err := w.svc.CreateSDKKey(w.ctx, w.admin, "shop", "production", app.SDKKeyInput{Name: "backend"})
		if err != nil {
			t.Fatal(err)
		}
		if s.KindOrServer() != domain.SDKKeyServer || !strings.HasPrefix(s.Secret, "cs_sdk_") {
			t.Fatalf("a key without a kind is a server key: %+v", s.SDKKey)
		}
		rotated, err := w.svc.RotateSDKKey(w.ctx, w.admin, "shop", "production", k.ID, app.RotateSDKKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !rotated.Client() || !strings.HasPrefix(rotated.Secret, "cs_client_") || rotated.Replaces != k.ID {
			t.Fatalf("the rotated client key: %+v", rotated.SDKKey)
		}
		if err := w.svc.RevokeSDKKey(w.ctx, w.admin, "shop", "production", rotated.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, w.svc.RevokeSDKKey(w.ctx, w.admin, "shop", "production", "sk_nothing"), domain.CodeNotFound)
		for action, id := range map[domain.AuditAction]string{domain.ActionClientKeyCreated: k.ID, domain.ActionClientKeyRotated: k.ID,
			domain.ActionClientKeyRevoked: rotated.ID, domain.ActionSDKKeyCreated: s.ID} {
			got := w.audited(action)
			if len(got) != 1 || got[0].SDKKey != id || got[0].Environment != "production" {
				t.Fatalf("%s: %+v, want one entry for %s", action, got, id)
			}
		}
		if n := len(w.audited(domain.ActionSDKKeyRotated)) + len(w.audited(domain.ActionSDKKeyRevoked)); n != 0 {
			t.Fatalf("the client key's writes audited as a server key's: %d entries", n)
		}
	})
}

// Managers set an environment's allowed origins, validated field by field
// and audited; the origin index answers for them at once.
func TestAllowedOrigins(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		set := func(p *app.Principal, origins ...string) error {
			_, err := w.svc.UpdateEnvironment(w.ctx, p, "shop", "staging", nil, func(e *domain.Environment) error { e.AllowedOrigins = origins; return nil })
			return err
		}
		wantCode(t, set(w.alice, "https://shop.example.com"), domain.CodeForbidden)
		err := set(w.carol, "https://shop.example.com/", "null", "*", "ftp://shop.example.com", "https://shop.example.com:443")
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeInvalid {
			t.Fatalf("bad origins: %v", err)
		}
		var pointers []string
		for _, f := range de.Fields {
			pointers = append(pointers, f.Pointer)
		}
		if !slices.Equal(pointers, []string{"/allowed_origins/0", "/allowed_origins/1", "/allowed_origins/2", "/allowed_origins/3", "/allowed_origins/4"}) {
			t.Fatalf("the fields at fault: %v (%v)", pointers, de.Fields)
		}
		if err := set(w.carol, "https://shop.example.com", "http://localhost:5173"); err != nil {
			t.Fatal(err)
		}
		if ok, err := w.store.OriginAllowed(w.ctx, "http://localhost:5173"); err != nil || !ok {
			t.Fatalf("the origin index: %v %v", ok, err)
		}
		entries := w.audited(domain.ActionEnvironmentUpdated)
		if len(entries) == 0 || entries[0].Environment != "staging" || entries[0].Diff == nil {
			t.Fatalf("the change is not audited with its diff: %+v", entries)
		}
		if err := set(w.carol, "*"); err != nil {
			t.Fatalf(`"*" alone: %v`, err)
		}
	})
}
