package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// Flags in browsers and mobile apps, in the console: client keys on the
// SDK keys page, an environment's allowed origins on the environments
// page, and a flag's exposure to client-side SDKs on its page.

const (
	prodKeysPath = "/projects/shop/environments/production/sdk-keys"
	prodEnvPath  = "/projects/shop/environments/production"
)

// keyByID is the stored key with the id.
func keyByID(t *testing.T, keys []domain.SDKKey, id string) domain.SDKKey {
	t.Helper()
	i := slices.IndexFunc(keys, func(k domain.SDKKey) bool { return k.ID == id })
	if i < 0 {
		t.Fatalf("no key %s among %+v", id, keys)
	}
	return keys[i]
}

// createdKey is the secret the page shows and the one stored key that is
// new since before.
func createdKey(t *testing.T, f *pjFixture, p *page, before []domain.SDKKey) (string, domain.SDKKey) {
	t.Helper()
	m := newSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", p.body)
	}
	var fresh []domain.SDKKey
	for _, k := range f.sdkKeys("production") {
		if !slices.ContainsFunc(before, func(b domain.SDKKey) bool { return b.ID == k.ID }) {
			fresh = append(fresh, k)
		}
	}
	if len(fresh) != 1 || fresh[0].Hash != app.HashToken(m[1]) {
		t.Fatalf("new keys %+v for the secret %s", fresh, m[1])
	}
	return m[1], fresh[0]
}

func TestClientKeyCreatedFromTheConsoleIsListedAsClient(t *testing.T) {
	f := newPJFixture(t)
	page := f.ab.get(prodKeysPath).want(200)
	page.has(`id="client-keys-explained"`, "it can evaluate only the flags exposed to client-side SDKs", "it cannot read the other flags",
		`<legend>Kind</legend>`, `id="sdk-key-kind-server" name="kind" value="server" checked`, `id="sdk-key-kind-client" name="kind" value="client">`,
		"Client — public, for browsers and mobile apps: reads only the flags exposed to clients", "Server — secret, for back ends")

	p := f.ab.post(prodKeysPath, url.Values{"name": {"storefront"}, "kind": {"client"}}).want(200)
	p.has("shown only this once", "It is a client key: public")
	secret, k := createdKey(t, f, p, nil)
	if k.Kind != domain.SDKKeyClient || k.Name != "storefront" || !strings.HasPrefix(secret, "cs_client_") {
		t.Fatalf("created %+v with secret %s", k, secret)
	}
	// a key made without choosing is a server key
	before := f.sdkKeys("production")
	p = f.ab.post(prodKeysPath, url.Values{"name": {"checkout service"}}).want(200).has("It is a server key: keep it secret")
	_, server := createdKey(t, f, p, before)
	if server.KindOrServer() != domain.SDKKeyServer {
		t.Fatalf("a key made without a kind is %q", server.Kind)
	}

	list := f.ab.get(prodKeysPath).want(200)
	list.has(`<th scope="col">Kind</th>`, `<td id="kind-`+k.ID+`"><span class="badge">client</span></td>`, `<td id="kind-`+server.ID+`">server</td>`).lacks(secret)

	// a kind the service does not know is refused next to the field, the form kept
	p = f.ab.post(prodKeysPath, url.Values{"name": {"mobile app"}, "kind": {"public"}}).want(422)
	p.has(`id="sdk-key-error"`, `id="sdk-key-kind-error"`, `must be &#34;server&#34;`, `aria-describedby="sdk-key-kind-error"`, `value="mobile app"`).
		lacks(`id="new-sdk-key"`)
	if n := len(f.sdkKeys("production")); n != 2 {
		t.Fatalf("%d keys after a refused kind, want 2", n)
	}
	// a refused client key form keeps "client" chosen
	f.ab.post(prodKeysPath, url.Values{"name": {" "}, "kind": {"client"}}).want(422).
		has(`id="sdk-key-name-error"`, `id="sdk-key-kind-client" name="kind" value="client" checked`).
		lacks(`id="sdk-key-kind-server" name="kind" value="server" checked`)
	if es := pjActions(f.audited(domain.AuditFilter{Project: "shop", Environment: "production"}), domain.ActionClientKeyCreated); len(es) != 1 || es[0].SDKKey != k.ID {
		t.Fatalf("client key audit %+v", es)
	}
}

func TestClientKeyRotatedStaysClient(t *testing.T) {
	f := newPJFixture(t)
	_, k := createdKey(t, f, f.ab.post(prodKeysPath, url.Values{"name": {"storefront"}, "kind": {"client"}}).want(200), nil)
	before := f.sdkKeys("production")
	p := f.ab.post(prodKeysPath+"/"+k.ID+"/rotate", url.Values{"grace": {"1h"}}).want(200)
	p.has("The new key replacing "+k.ID, "It is a client key: public", `id="old-sdk-key"`)
	secret, next := createdKey(t, f, p, before)
	if next.Kind != domain.SDKKeyClient || next.Replaces != k.ID || !strings.HasPrefix(secret, "cs_client_") {
		t.Fatalf("the rotated key's successor %+v (secret %s)", next, secret)
	}
	if old := keyByID(t, f.sdkKeys("production"), k.ID); old.Kind != domain.SDKKeyClient || old.ReplacedBy != next.ID {
		t.Fatalf("the rotated key %+v", old)
	}
	f.ab.get(prodKeysPath).want(200).has(`<td id="kind-`+next.ID+`"><span class="badge">client</span></td>`, `<td id="kind-`+k.ID+`"><span class="badge">client</span></td>`)
	if es := pjActions(f.audited(domain.AuditFilter{Project: "shop", Environment: "production"}), domain.ActionClientKeyRotated); len(es) != 1 {
		t.Fatalf("client key rotation audit %+v", es)
	}
}

// A viewer (or anyone short of admin) neither sees the SDK keys page nor
// creates a client key from it.
func TestViewerCannotCreateAClientKey(t *testing.T) {
	f := newPJFixture(t)
	f.lb.get(prodKeysPath).want(403).has(`id="error"`).lacks(`id="new-sdk-key-form"`, `id="sdk-key-kind-client"`)
	for _, b := range []*browser{f.lb, f.eb, f.mb} {
		b.post(prodKeysPath, url.Values{"name": {"mine"}, "kind": {"client"}}).want(403).has(`id="error"`).lacks(`id="new-sdk-key"`)
	}
	if keys := f.sdkKeys("production"); len(keys) != 0 {
		t.Fatalf("keys %+v", keys)
	}
}

// originsForm is the allowed origins form of an environment as the page
// sends it: its text and the version the page showed.
func originsForm(text string, version int64) url.Values {
	return url.Values{"allowed_origins": {text}, "version": {strconv.FormatInt(version, 10)}}
}

func TestAllowedOriginsSavedAndShown(t *testing.T) {
	f := newPJFixture(t)
	page := f.mb.get("/projects/shop/environments").want(200)
	page.has(`<th scope="col">Allowed origins</th>`, `<td id="allowed-origins-production"><span class="muted">none</span></td>`,
		`id="origins-production"`, `<label for="origins-field-production">Allowed origins of Production</label>`,
		`<textarea id="origins-field-production" name="allowed_origins"`, `id="origins-help"`, `id="save-origins-staging"`)
	form := formValues(t, page.body, "origins-production")
	if form.Get("version") != strconv.FormatInt(f.env("production").Version, 10) || form.Get("csrf") == "" {
		t.Fatalf("the form sends %v", form)
	}

	before := f.env("production")
	p := f.mb.post(prodEnvPath, originsForm("https://app.example.com\r\n\r\n  http://localhost:3000  \n", before.Version)).want(303)
	if got := p.location(); got != "/projects/shop/environments?done=allowed-origins-saved" {
		t.Fatalf("redirect to %q", got)
	}
	after := f.env("production")
	if !slices.Equal(after.AllowedOrigins, []string{"https://app.example.com", "http://localhost:3000"}) || after.Protected != before.Protected ||
		after.Version != before.Version+1 {
		t.Fatalf("production %+v", after)
	}
	shown := f.mb.get(p.location()).want(200)
	shown.has(`id="flash"`, "The allowed origins are saved",
		`<td id="allowed-origins-production"><code>https://app.example.com</code><br><code>http://localhost:3000</code><br></td>`,
		">https://app.example.com\nhttp://localhost:3000</textarea>", `name="version" value="`+strconv.FormatInt(after.Version, 10)+`"`)
	// others read them, and get no form
	f.eb.get("/projects/shop/environments").want(200).has(`<code>http://localhost:3000</code>`).lacks(`id="origins-production"`, `name="allowed_origins"`)
	f.eb.post(prodEnvPath, originsForm("*", after.Version)).want(403)

	// "*" when it is set explicitly; an empty field allows none
	f.mb.post(prodEnvPath, originsForm("*", after.Version)).want(303)
	if e := f.env("production"); !slices.Equal(e.AllowedOrigins, []string{"*"}) {
		t.Fatalf("origins %q", e.AllowedOrigins)
	}
	f.mb.post(prodEnvPath, originsForm("", after.Version+1)).want(303)
	if e := f.env("production"); len(e.AllowedOrigins) != 0 || !e.Protected {
		t.Fatalf("production %+v", e)
	}
	if es := pjActions(f.audited(domain.AuditFilter{Project: "shop", Environment: "production"}), domain.ActionEnvironmentUpdated); len(es) != 3 {
		t.Fatalf("audit %+v", es)
	}
}

func TestAllowedOriginsBadOriginRefusedAtTheField(t *testing.T) {
	f := newPJFixture(t)
	f.mb.post(prodEnvPath, originsForm("https://app.example.com", f.env("production").Version)).want(303)
	before := f.env("production")
	audits := len(f.w.auditAll())

	p := f.mb.post(prodEnvPath, originsForm("https://app.example.com\n\nhttps://shop.example.com/", before.Version)).want(422)
	p.has(`class="error" role="alert" id="origins-error-production"`, "Not saved.",
		`<p class="error" id="origins-field-production-error">line 3: must be an origin only, without a path`,
		`aria-describedby="origins-help origins-field-production-error" aria-invalid="true">https://app.example.com`+"\n\n"+`https://shop.example.com/</textarea>`).
		lacks(`id="origins-error-staging"`, `id="origins-field-staging-error"`)
	// the service's other refusals land there too
	f.mb.post(prodEnvPath, originsForm("*\nhttps://app.example.com", before.Version)).want(422).
		has(`id="origins-field-production-error">line 1: &#34;*&#34; allows every origin: give it alone`)
	f.mb.post(prodEnvPath, originsForm("HTTPS://App.Example.com:443", before.Version)).want(422).
		has(`id="origins-field-production-error">line 1: must be written as browsers send it: https://app.example.com`)
	f.mb.post(prodEnvPath, originsForm("null", before.Version)).want(422).has(`id="origins-field-production-error">line 1: `)
	if e := f.env("production"); e.Version != before.Version || !slices.Equal(e.AllowedOrigins, before.AllowedOrigins) {
		t.Fatalf("a refused form wrote %+v", e)
	}
	if n := len(f.w.auditAll()); n != audits {
		t.Fatalf("refused forms wrote %d audit entries", n-audits)
	}

	// a form of a version that moved on shows the origins as they are now
	f.mb.post(prodEnvPath, originsForm("https://other.example.com", before.Version-1)).want(409).
		has(`id="origins-error-production"`, "make your change again", ">https://app.example.com</textarea>").lacks("https://other.example.com")
	if e := f.env("production"); e.Version != before.Version {
		t.Fatalf("a stale form wrote %+v", e)
	}
}

// exposureFlag makes the flag checkout in the fixture's project "shop".
func exposureFlag(t *testing.T, w *world) {
	t.Helper()
	if _, err := w.svc.CreateFlag(w.ctx, w.admin, "shop", app.FlagInput{Key: "checkout", Name: "Checkout", Variants: []domain.Variant{
		{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}}); err != nil {
		t.Fatal(err)
	}
}

func (fw *flagWorld) flag(key string) *domain.Flag {
	fw.t.Helper()
	f, err := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", key)
	if err != nil {
		fw.t.Fatal(err)
	}
	return f
}

const checkoutPath = "/projects/shop/flags/checkout"

func TestClientExposureCheckboxWrittenWhereUngated(t *testing.T) {
	fw := newFlagWorld(t)
	page := fw.ed.get(checkoutPath).want(200)
	page.has(`id="client-exposed"><span class="muted">not exposed`, `id="client-exposure-form"`,
		`<input type="checkbox" id="client-exposed-check" name="client_exposed" value="on" aria-describedby="client-exposed-help">`, "Exposed to client-side SDKs")
	fw.look.get(checkoutPath).want(200).has(`id="client-exposed"`).lacks(`id="client-exposure-form"`)

	form := formValues(t, page.body, "client-exposure-form")
	form.Set("client_exposed", "on")
	p := fw.ed.post(checkoutPath+"/client-exposure", form).want(303)
	if got := p.location(); got != checkoutPath+"?done=client-exposed" {
		t.Fatalf("redirect to %q", got)
	}
	if f := fw.flag("checkout"); !f.ClientExposed {
		t.Fatal("the flag is not exposed")
	}
	page = fw.ed.get(p.location()).want(200)
	page.has(`id="flash"`, "exposed to client-side SDKs", `id="client-exposed"><span class="badge on">exposed</span>`,
		`id="client-exposed-check" name="client_exposed" value="on" checked`)

	// unchecked, the flag is hidden again
	form = formValues(t, page.body, "client-exposure-form")
	if form.Get("client_exposed") != "on" {
		t.Fatalf("the form sends %v", form)
	}
	form.Del("client_exposed")
	p = fw.ed.post(checkoutPath+"/client-exposure", form).want(303)
	if got := p.location(); got != checkoutPath+"?done=client-hidden" {
		t.Fatalf("redirect to %q", got)
	}
	if f := fw.flag("checkout"); f.ClientExposed {
		t.Fatal("the flag is still exposed")
	}
	// the same form again names a version that moved on: refused beside the form
	form.Set("client_exposed", "on")
	fw.ed.post(checkoutPath+"/client-exposure", form).want(409).has(`id="client-exposure-error"`, `role="alert"`, "<details open>")
	// viewers may not
	form.Set("version", strconv.FormatInt(fw.flag("checkout").Version, 10))
	fw.look.post(checkoutPath+"/client-exposure", form).want(403).has(`id="error"`)
	if f := fw.flag("checkout"); f.ClientExposed {
		t.Fatal("a refused form exposed the flag")
	}
}

func TestClientExposureBecomesAChangeRequestWhereGated(t *testing.T) {
	fw := newFlagWorld(t)
	fw.approvalsOn()
	before := fw.flag("checkout")
	form := formValues(t, fw.ed.get(checkoutPath).want(200).body, "client-exposure-form")
	form.Set("client_exposed", "on")
	p := fw.ed.post(checkoutPath+"/client-exposure", form).want(303)
	rv := fw.requested(p)
	if rv.Status != domain.StatusPending || rv.Title != "Expose checkout to client-side SDKs" || len(rv.Changes) != 1 ||
		rv.Changes[0].ProposedFlag == nil || !rv.Changes[0].ProposedFlag.ClientExposed {
		t.Fatalf("request %+v", rv.ChangeRequest)
	}
	if f := fw.flag("checkout"); f.ClientExposed || f.Version != before.Version {
		t.Fatalf("the flag changed before approval: %+v", f)
	}
	fw.ed.get(p.location()).want(200).has(`id="flash"`, "Your change needs approval here, so it is now this change request.", "Expose checkout to client-side SDKs")
	fw.ed.get(checkoutPath).want(200).has(`<a href="/requests/` + rv.ID + `"`).lacks(`id="client-exposed"><span class="badge on">`)
}

// Each new or changed form refuses a post without the session's CSRF
// token, or from another site, and changes nothing.
func TestClientKeyFormsRefuseForgery(t *testing.T) {
	f := newPJFixture(t)
	exposureFlag(t, f.w)
	srv := f.w.srv.URL
	k, err := f.w.svc.CreateSDKKey(f.w.ctx, f.w.admin, "shop", "production", app.SDKKeyInput{Name: "storefront", Kind: "client"})
	if err != nil {
		t.Fatal(err)
	}
	flagVersion := func() int64 {
		fl, err := f.w.svc.GetFlag(f.w.ctx, f.w.admin, "shop", "checkout")
		if err != nil {
			t.Fatal(err)
		}
		return fl.Version
	}
	env := f.env("production")
	forms := []struct {
		b    *browser
		path string
		form url.Values
	}{
		{f.ab, prodKeysPath, url.Values{"name": {"forged"}, "kind": {"client"}}},
		{f.ab, prodKeysPath + "/" + k.ID + "/rotate", url.Values{"grace": {""}}},
		{f.mb, prodEnvPath, originsForm("https://evil.example", env.Version)},
		{f.eb, checkoutPath + "/client-exposure", url.Values{"client_exposed": {"on"}, "version": {strconv.FormatInt(flagVersion(), 10)}}},
	}
	audits := len(f.w.auditAll())
	for _, fm := range forms {
		fm.b.send("POST", fm.path, fm.form, http.Header{"Origin": {srv}}).want(403)
		bad := url.Values{"csrf": {"not-the-token"}}
		for k, v := range fm.form {
			bad[k] = v
		}
		fm.b.send("POST", fm.path, bad, http.Header{"Origin": {srv}}).want(403)
		bad.Set("csrf", fm.b.csrf)
		fm.b.send("POST", fm.path, bad, http.Header{"Origin": {"https://evil.example"}}).want(403)
	}
	if keys := f.sdkKeys("production"); len(keys) != 1 || keys[0].ReplacedBy != "" {
		t.Fatalf("forged forms changed the keys: %+v", keys)
	}
	if e := f.env("production"); e.Version != env.Version || len(e.AllowedOrigins) != 0 {
		t.Fatalf("a forged form changed production: %+v", e)
	}
	if fl, _ := f.w.svc.GetFlag(f.w.ctx, f.w.admin, "shop", "checkout"); fl.ClientExposed {
		t.Fatal("a forged form exposed the flag")
	}
	if n := len(f.w.auditAll()); n != audits {
		t.Fatalf("forged forms wrote %d audit entries", n-audits)
	}
}

// A member of another project, even its admin, meets the SDK keys page,
// the environments page and the flag page of this one as pages that do
// not exist, and their forms change nothing.
func TestClientKeyFormsOfAnotherProjectAreNotFound(t *testing.T) {
	f := newPJFixture(t)
	w := f.w
	exposureFlag(t, w)
	if _, err := w.svc.CreateProject(w.ctx, w.admin, app.ProjectInput{Key: "other", Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	olga, err := w.svc.CreateMember(w.ctx, w.admin, app.MemberInput{Email: "olga@example.com", Name: "olga", Role: domain.RoleNone,
		Projects: map[string]domain.Role{"other": domain.RoleAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	b := w.signIn(olga)
	// her own project's pages she reaches
	b.get("/projects/other/environments/production/sdk-keys").want(200).has(`id="sdk-key-kind-client"`)
	b.get("/projects/other/environments").want(200).has(`id="allowed-origins-production"`)

	env := f.env("production")
	missing := b.get("/projects/nope/environments/production/sdk-keys").want(404)
	b.get(prodKeysPath).want(404).has(`id="error"`).lacks(`id="new-sdk-key-form"`, `id="sdk-key-kind-client"`)
	b.get("/projects/shop/environments").want(404).has(`id="error"`).lacks(`id="origins-production"`, "Production")
	b.get(checkoutPath).want(404).has(`id="error"`).lacks(`id="client-exposure-form"`)
	got := b.post(prodKeysPath, url.Values{"name": {"mine"}, "kind": {"client"}}).want(404)
	if strings.ReplaceAll(got.body, "shop", "nope") != strings.ReplaceAll(missing.body, "shop", "nope") {
		t.Fatalf("another project's SDK keys answer otherwise than a missing project's:\n%s\n%s", got.body, missing.body)
	}
	b.post(prodEnvPath, originsForm("https://olga.example", env.Version)).want(404).has(`id="error"`).lacks(`name="allowed_origins"`)
	b.post(checkoutPath+"/client-exposure", url.Values{"client_exposed": {"on"}, "version": {"1"}}).want(404).has(`id="error"`)

	if keys := f.sdkKeys("production"); len(keys) != 0 {
		t.Fatalf("keys %+v", keys)
	}
	if e := f.env("production"); e.Version != env.Version || len(e.AllowedOrigins) != 0 {
		t.Fatalf("production %+v", e)
	}
	if fl, _ := w.svc.GetFlag(w.ctx, w.admin, "shop", "checkout"); fl.ClientExposed {
		t.Fatal("another project's member exposed the flag")
	}
}
