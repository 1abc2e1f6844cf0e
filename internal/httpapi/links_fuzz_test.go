package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// FuzzActionLink opens an e-mail action link (GET /a/{token}) and posts
// its form (POST /a/{token}) with any token and any form body. The token
// is picked by mode (its low three bits):
//
//	0  the fuzzed string as it is
//	1  a live link: the manager's, the viewer's or the requester's, to
//	   approve, reject or apply the pending request (mode's high bits)
//	2  a live link with the fuzzed string appended
//	3  a live link with the fuzzed string in its middle
//	4  the fuzzed string as the link's claims (JSON), signed with the key:
//	   a link Countersign could have sent, saying anything
//	5  a live link whose claims get the fuzzed string's members on top
//
// In the form, "CSRF" stands for the form token of the link sent. The
// properties: GET never writes and never fails with 5xx; the POST is never
// 5xx; a refusal is a 4xx link page and writes nothing; an accepted form
// (200) came with the link's own form token, wrote the review or the
// apply, and says so ("Done").
func FuzzActionLink(f *testing.F) {
	w := newLinkFuzz(f)
	for _, s := range []struct {
		mode  uint8
		token string
		form  string
	}{
		{1, "", "csrf=CSRF&comment=looks+right"},                    // the manager approves
		{1 | 1<<3, "", "csrf=CSRF&comment=no"},                      // the viewer may not review
		{1 | 2<<3, "", "csrf=CSRF&comment=mine"},                    // nor the requester
		{1 | 3<<3, "", "csrf=CSRF&comment=needs+work"},              // the manager rejects
		{1 | 6<<3, "", "csrf=CSRF"},                                 // the manager applies (not approved yet)
		{1, "", "csrf=CSRF&comment="},                               // a review needs a comment
		{1, "", "comment=no+form+token"},                            // no form token
		{1, "", "csrf=CSRF&csrf=other&comment=x"},                   // two
		{1, "", "csrf=AAAA&comment=x"},                              // another
		{1, "", "csrf=%zz&comment=x"},                               // not a form
		{1, "", "csrf=CSRF&comment=" + strings.Repeat("x", 17<<10)}, // larger than a form may be
		{0, "", "csrf=CSRF&comment=x"},
		{0, ".", "csrf=CSRF&comment=x"},
		{0, "eyJyIjoiY3JfMSJ9.c2ln", "csrf=CSRF&comment=x"},
		{0, strings.Repeat("A", 3000) + ".x", "csrf=CSRF&comment=x"},
		{2, "x", "csrf=CSRF&comment=x"},
		{2, "/../a", "csrf=CSRF&comment=x"},
		{3, "xx", "csrf=CSRF&comment=x"},
		{4, `{"r":"CR","v":1,"m":"MANAGER","a":"approve","e":99999999999,"n":"n1"}`, "csrf=CSRF&comment=forged+but+signed"},
		{4, `{"r":"CR","v":1,"m":"MANAGER","a":"approve","e":1,"n":"n1"}`, "csrf=CSRF&comment=expired"},
		{4, `{"r":"CR","v":2,"m":"MANAGER","a":"approve","e":99999999999,"n":"n1"}`, "csrf=CSRF&comment=old+revision"},
		{4, `{"r":"cr_nope","v":1,"m":"MANAGER","a":"approve","e":99999999999,"n":"n1"}`, "csrf=CSRF&comment=x"},
		{4, `{"r":"CR","v":1,"m":"m_nobody","a":"apply","e":99999999999,"n":"n1"}`, "csrf=CSRF"},
		{4, `{"r":"CR","v":1,"m":"MANAGER","a":"delete","e":99999999999,"n":"n1"}`, "csrf=CSRF&comment=x"},
		{4, `{"r":"CR","v":-1,"m":"MANAGER","a":"reject","e":-9223372036854775808,"n":""}`, "csrf=CSRF&comment=x"},
		{4, `{"r":"CR","v":1e9,"m":"MANAGER","a":"approve","e":1.5,"n":"n"}`, "csrf=CSRF&comment=x"},
		{4, `[]`, "csrf=CSRF"},
		{5, `{"a":"apply"}`, "csrf=CSRF"},
		{5, `{"e":-62135596801}`, "csrf=CSRF&comment=x"},
		{5, `{"v":0}`, "csrf=CSRF&comment=x"},
	} {
		f.Add(s.mode, s.token, []byte(s.form))
	}
	f.Fuzz(func(t *testing.T, mode uint8, token string, form []byte) {
		w.run(t, mode, token, form)
	})
}

type linkFuzz struct {
	store   *fuzzStore
	api     *httpapi.Server
	log     *fuzzLog
	signer  *actionlink.Signer
	key     []byte
	request string
	members [3]string // manager, viewer, requester
	links   [9]string // members × approve, reject, apply
}

func newLinkFuzz(tb testing.TB) *linkFuzz {
	ctx := context.Background()
	w := &linkFuzz{store: newFuzzStore(tb), log: &fuzzLog{}, key: []byte(strings.Repeat("fuzz-action-link-key-", 2))}
	log := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc := app.New(w.store, clocktest.Clock(0, 9, 0), log)
	var err error
	if w.signer, err = actionlink.NewSigner(w.key); err != nil {
		tb.Fatal(err)
	}
	svc.WithLinks(w.signer)
	if _, err := svc.Bootstrap(ctx, fuzzAdminToken); err != nil {
		tb.Fatal(err)
	}
	w.api = httpapi.New(svc, log)
	admin, err := svc.Authenticate(ctx, fuzzAdminToken)
	if err != nil {
		tb.Fatal(err)
	}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	_, err = svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"})
	must(err)
	_, err = svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "new-checkout", Name: "New checkout",
		Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`false`)}}})
	must(err)
	var roles []*domain.Member
	for _, role := range []domain.Role{domain.RoleManager, domain.RoleViewer, domain.RoleEditor} {
		m, err := svc.CreateMember(ctx, admin, app.MemberInput{Email: string(role) + "@example.com", Name: string(role), Role: role})
		must(err)
		roles = append(roles, m)
	}
	_, err = svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true})
	must(err)
	requester := &app.Principal{MemberID: roles[2].ID, Role: domain.RoleEditor, TokenID: "t_setup"}
	out, err := svc.ChangeFlagConfig(ctx, requester, "shop", "new-checkout", "production", nil, app.ChangeOptions{Title: "Turn it on"},
		func(c *domain.FlagConfig) error {
			c.Enabled = true
			c.DefaultRule = domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
			return nil
		})
	must(err)
	if out.Request == nil {
		tb.Fatal("setup: the change to production did not open a request")
	}
	w.request = out.Request.ID
	cr, err := w.store.GetChangeRequest(ctx, w.request)
	must(err)
	for i, m := range roles {
		w.members[i] = m.ID
		for j, action := range []string{actionlink.Approve, actionlink.Reject, actionlink.Apply} {
			if w.links[j*3+i], _, err = svc.IssueLink(cr, m.ID, action); err != nil {
				tb.Fatal(err)
			}
		}
	}
	// the forged links are signed as Countersign signs them
	if got := w.sign(w.payload(w.links[0])); got != w.links[0] {
		tb.Fatalf("the test signs links unlike actionlink: %s, not %s", got, w.links[0])
	}
	w.store.snap()
	// the seeds reach the action: the manager's live link approves
	form := "csrf=" + url.QueryEscape(w.signer.CSRF(w.links[0])) + "&comment=fine"
	if res := w.send(http.MethodPost, w.links[0], []byte(form)); res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "<h1>Done</h1>") {
		tb.Fatalf("setup: the manager's link does not approve: %d %s", res.Code, res.Body)
	}
	w.store.reset()
	return w
}

var linkB64 = base64.RawURLEncoding

// sign signs a payload as actionlink.Signer.Issue does: an HMAC-SHA256
// over "link", NUL, the payload, NUL.
func (w *linkFuzz) sign(payload string) string {
	m := hmac.New(sha256.New, w.key)
	m.Write([]byte("link\x00" + payload + "\x00"))
	return payload + "." + linkB64.EncodeToString(m.Sum(nil))
}

func (w *linkFuzz) payload(token string) string {
	p, _, _ := strings.Cut(token, ".")
	return p
}

// token is the link the input sends.
func (w *linkFuzz) token(mode uint8, s string) string {
	live := w.links[int(mode>>3)%len(w.links)]
	switch mode & 7 {
	case 1:
		return live
	case 2:
		return live + s
	case 3:
		i := len(s) % len(live)
		return live[:i] + s + live[i:]
	case 4:
		s = strings.NewReplacer("CR", w.request, "MANAGER", w.members[0]).Replace(s)
		return w.sign(linkB64.EncodeToString([]byte(s)))
	case 5:
		raw, _ := linkB64.DecodeString(w.payload(live))
		var claims map[string]any
		_ = json.Unmarshal(raw, &claims)
		var over map[string]any
		if json.Unmarshal([]byte(s), &over) != nil {
			return live
		}
		for k, v := range over {
			claims[k] = v
		}
		b, _ := json.Marshal(claims)
		return w.sign(linkB64.EncodeToString(b))
	}
	return s
}

func (w *linkFuzz) send(method, token string, form []byte) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, "http://countersign.test/a/"+url.PathEscape(token), strings.NewReader(string(form)))
	if err != nil {
		return nil
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.RemoteAddr = "192.0.2.7:4711"
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	return rec
}

func (w *linkFuzz) run(t *testing.T, mode uint8, s string, form []byte) {
	token := w.token(mode, s)
	if token == "" || token == "." || token == ".." || strings.Contains(token, "/") {
		return // not one path segment: not the link route
	}
	csrf := w.signer.CSRF(token)
	form = []byte(strings.ReplaceAll(string(form), "CSRF", url.QueryEscape(csrf)))
	desc := func(method string, res *httptest.ResponseRecorder) string {
		return fmt.Sprintf("%s /a/%s (mode %d) with the form %q\n→ %d %s\nlog: %s", method, clipped([]byte(token)), mode, clipped(form),
			res.Code, clipped(res.Body.Bytes()), w.log.take())
	}
	isPage := func(res *httptest.ResponseRecorder) bool {
		mt, _, _ := mime.ParseMediaType(res.Header().Get("Content-Type"))
		return mt == "text/html" && strings.Contains(res.Body.String(), "<h1>")
	}
	w.log.take()

	// GET shows what the link would do, and never acts
	before := w.store.txid()
	res := w.send(http.MethodGet, token, nil)
	if res == nil {
		return
	}
	if after := w.store.txid(); after != before {
		w.store.reset()
		t.Fatalf("GET of a link wrote to the store (transaction %d → %d):\n%s", before, after, desc("GET", res))
	}
	if res.Code >= 500 || !isPage(res) {
		t.Fatalf("GET of a link:\n%s", desc("GET", res))
	}

	res = w.send(http.MethodPost, token, form)
	after := w.store.txid()
	if after != before {
		defer w.store.reset()
	}
	switch {
	case res.Code >= 500:
		t.Fatalf("a server error:\n%s", desc("POST", res))
	case !isPage(res):
		t.Fatalf("not a link page:\n%s", desc("POST", res))
	case res.Code >= 400 && after != before:
		t.Fatalf("refused, yet the store was written (transaction %d → %d):\n%s", before, after, desc("POST", res))
	case res.Code >= 400:
	case res.Code != http.StatusOK || !strings.Contains(res.Body.String(), "<h1>Done</h1>"):
		t.Fatalf("neither refused nor done:\n%s", desc("POST", res))
	case after == before:
		t.Fatalf("done, yet nothing was written:\n%s", desc("POST", res))
	default:
		// accepted: only with the link's own form token, for a link
		// Countersign signed
		if !w.signer.CheckCSRF(token, formValue(form, "csrf")) {
			t.Fatalf("accepted without the link's form token:\n%s", desc("POST", res))
		}
		if _, err := w.signer.Parse(token); err != nil {
			t.Fatalf("accepted a link that does not parse (%v):\n%s", err, desc("POST", res))
		}
	}
}

func formValue(form []byte, name string) string {
	v, _ := url.ParseQuery(string(form))
	return v.Get(name)
}
