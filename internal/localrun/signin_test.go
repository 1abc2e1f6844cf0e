package localrun_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/notify/smtpmail/smtptest"
)

var invitationRe = regexp.MustCompile(`(?m)^(?:Accept the invitation and sign in|Sign in): (\S+)$`)

// person is someone's browser: a cookie jar, redirects not followed.
type person struct {
	t      *testing.T
	client *http.Client
}

func newPerson(t *testing.T) *person {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &person{t: t, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *person) do(method, url, body string, headers ...string) (int, http.Header, string) {
	p.t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func (p *person) json(method, url, body string, out any, headers ...string) int {
	p.t.Helper()
	if body != "" {
		headers = append(headers, "Content-Type", "application/json")
	}
	code, _, b := p.do(method, url, body, headers...)
	if out != nil {
		_ = json.Unmarshal([]byte(b), out)
	}
	return code
}

// The walk of getting in, on the local runtime: the admin invites
// a member, the invitation comes from the mail catcher, ten GETs of its
// link change nothing, a POST signs in, the session answers, a token made
// with the cookie and the CSRF header works as Bearer, the used link is
// refused, and once the member is removed their session and token are not
// let in.
func TestSignInEndToEnd(t *testing.T) {
	const tok = "signin-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t),
		"COUNTERSIGN_DEV": "1", "COUNTERSIGN_TIMER_INTERVAL": "50ms"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	base := "http://" + cfg.Addr
	admin := func(method, path, body string, want int) map[string]any {
		t.Helper()
		got, out := jsonCall(t, method, base+path, tok, body)
		if got != want {
			t.Fatalf("%s %s: want %d, got %d: %v", method, path, want, got, out)
		}
		return out
	}

	// 1. the admin invites a member; the invitation comes from the catcher
	member := admin("POST", "/v1/members", `{"email":"ada@example.com","name":"Ada","role":"editor"}`, 201)
	id := member["id"].(string)
	mail := waitMail(t, base, "ada@example.com", "You are invited", 0)
	m := invitationRe.FindStringSubmatch(mail.Text)
	if m == nil || !strings.HasPrefix(m[1], base+"/signin/") {
		t.Fatalf("no sign-in link in the invitation: %s", mail.Text)
	}
	link := m[1]

	// 2. ten GETs change nothing; a POST signs in
	ada := newPerson(t)
	var page string
	for range 10 {
		code, _, body := ada.do("GET", link, "")
		if code != 200 || !strings.Contains(body, `id="signin"`) || strings.Contains(body, "<script") {
			t.Fatalf("the sign-in page: %d %s", code, body)
		}
		page = body
	}
	if sessions := admin("GET", "/v1/members/"+id+"/sessions", "", 200)["items"].([]any); len(sessions) != 0 {
		t.Fatalf("GETs started a session: %v", sessions)
	}
	csrf := csrfRe.FindStringSubmatch(page)[1]
	code, h, body := ada.do("POST", link, url.Values{"csrf": {csrf}}.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", base)
	if code != 303 || h.Get("Location") != "/" {
		t.Fatalf("signing in: %d %v %s", code, h, body)
	}

	// 3. the session answers; a token made with the cookie and the CSRF header works as Bearer
	var session struct {
		ID        string `json:"id"`
		CSRFToken string `json:"csrf_token"`
		Channel   string `json:"channel"`
		Member    struct {
			ID, Email string
		} `json:"member"`
	}
	if code := ada.json("GET", base+"/v1/session", "", &session); code != 200 || session.Member.ID != id || session.Channel != "email" || session.CSRFToken == "" {
		t.Fatalf("GET /v1/session: %d %+v", code, session)
	}
	if code, _, body := ada.do("GET", base+"/account", ""); code != 200 || !strings.Contains(body, "ada@example.com") {
		t.Fatalf("the account page: %d %s", code, body)
	}
	if code := ada.json("POST", base+"/v1/tokens", `{"name":"laptop"}`, nil); code != 403 {
		t.Fatalf("a token without the CSRF header: %d", code)
	}
	var created struct{ ID, Token string }
	if code := ada.json("POST", base+"/v1/tokens", `{"name":"laptop"}`, &created, "X-CSRF-Token", session.CSRFToken); code != 201 || created.Token == "" {
		t.Fatalf("a token with the session: %d %+v", code, created)
	}
	if code := call(t, "GET", base+"/v1/projects", created.Token, ""); code != 200 {
		t.Fatalf("the token as Bearer: %d", code)
	}

	// 4. the used link, replayed, is refused
	if code, _, _ := ada.do("POST", link, url.Values{"csrf": {csrf}}.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != 410 {
		t.Fatalf("a replayed link: %d", code)
	}
	if code, _, _ := newPerson(t).do("GET", link, ""); code != 410 {
		t.Fatalf("a used link's page: %d", code)
	}

	// 5. the member is removed: their session and their token are refused
	admin("DELETE", "/v1/members/"+id, "", 204)
	if code := ada.json("GET", base+"/v1/session", "", nil); code != 401 {
		t.Fatalf("the removed member's session: %d", code)
	}
	if code := call(t, "GET", base+"/v1/projects", created.Token, ""); code != 401 {
		t.Fatalf("the removed member's token: %d", code)
	}

	// the audit log has the sign-in, by e-mail, and the invitation
	actions := map[string]string{}
	for _, e := range admin("GET", "/v1/audit", "", 200)["items"].([]any) {
		e := e.(map[string]any)
		actions[e["action"].(string)] = e["channel"].(string)
	}
	if actions["auth.signed_in"] != "email" || actions["member.invited"] == "" || actions["member.removed"] == "" {
		t.Fatalf("audit: %v", actions)
	}
}

// COUNTERSIGN_ADMIN_EMAIL: the first admin is invited like any member, and
// no token is printed.
func TestAdminEmailInvitation(t *testing.T) {
	env := map[string]string{"COUNTERSIGN_ADMIN_EMAIL": "boss@example.com", "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t),
		"COUNTERSIGN_DEV": "1", "COUNTERSIGN_TIMER_INTERVAL": "50ms"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	defer stop()
	base := "http://" + cfg.Addr
	if out := console.String(); strings.Contains(out, "cs_") || !strings.Contains(out, "boss@example.com") || !strings.Contains(out, "/dev/mail") {
		t.Fatalf("the banner: %s", out)
	}
	mail := waitMail(t, base, "boss@example.com", "You are invited", 0)
	link := invitationRe.FindStringSubmatch(mail.Text)[1]
	boss := newPerson(t)
	_, _, page := boss.do("GET", link, "")
	csrf := csrfRe.FindStringSubmatch(page)[1]
	if code, _, body := boss.do("POST", link, url.Values{"csrf": {csrf}, "next": {"/v1/session"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded"); code != 303 {
		t.Fatalf("signing in: %d %s", code, body)
	}
	var session struct {
		Member struct{ Role string } `json:"member"`
	}
	if code := boss.json("GET", base+"/v1/session", "", &session); code != 200 || session.Member.Role != "admin" {
		t.Fatalf("the first admin's session: %d %+v", code, session)
	}
	// asking for a sign-in link at /login works too
	if code, _, _ := newPerson(t).do("POST", base+"/login", "email=boss%40example.com", "Content-Type", "application/x-www-form-urlencoded"); code != 202 {
		t.Fatalf("POST /login: %d", code)
	}
	mail = waitMail(t, base, "boss@example.com", "Your sign-in link", 0)
	if invitationRe.FindStringSubmatch(mail.Text) == nil {
		t.Fatalf("the sign-in link mail: %s", mail.Text)
	}
}

// COUNTERSIGN_SMTP_URL: a team's single process (no development mode)
// mails through a real SMTP server, here with STARTTLS, the user in the
// URL, the password in COUNTERSIGN_SMTP_PASSWORD and the server's private
// CA in COUNTERSIGN_SMTP_CA_FILE; the first admin's invitation arrives
// there, and its link opens the sign-in page.
func TestSMTPInvitation(t *testing.T) {
	srv := smtptest.Start(t)
	boss := "boss-" + smtptest.Token() + "@example.com"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte(srv.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	env := map[string]string{"COUNTERSIGN_ADMIN_EMAIL": boss, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": addr,
		"COUNTERSIGN_DEV": "0", "COUNTERSIGN_TIMER_INTERVAL": "50ms", "COUNTERSIGN_MAIL_FROM": "Countersign <countersign@example.com>",
		"COUNTERSIGN_SMTP_URL":      "smtp://" + url.User(srv.Username).String() + "@" + srv.StartTLS,
		"COUNTERSIGN_SMTP_PASSWORD": srv.Password, "COUNTERSIGN_SMTP_CA_FILE": ca}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	defer stop()
	if out := console.String(); !strings.Contains(out, boss) || strings.Contains(out, "/dev/mail") {
		t.Fatalf("the banner: %s", out)
	}
	var got []smtptest.Message
	for deadline := time.Now().Add(10 * time.Second); len(got) == 0 && time.Now().Before(deadline); { // wall clock: polling the server
		time.Sleep(50 * time.Millisecond)
		got = srv.Messages(t, boss)
	}
	if len(got) != 1 {
		t.Fatalf("%d invitations at the SMTP server", len(got))
	}
	m := got[0]
	if m.Subject != "You are invited to Countersign" || m.User != srv.Username || !m.Secure || m.MailFrom != "countersign@example.com" {
		t.Fatalf("the invitation: subject %q, user %q, secure %v, from %q", m.Subject, m.User, m.Secure, m.MailFrom)
	}
	link := invitationRe.FindStringSubmatch(m.Text)
	if link == nil || !strings.HasPrefix(link[1], "http://"+addr+"/signin/") {
		t.Fatalf("no sign-in link in %s", m.Text)
	}
	if code, _, page := newPerson(t).do("GET", link[1], ""); code != 200 || !strings.Contains(page, boss) {
		t.Fatalf("GET the invitation's link: %d %s", code, page)
	}
}
