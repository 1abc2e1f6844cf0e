package notify

import (
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// The templates the mails' HTML parts were written with until they became
// Go code (html.go): the code writes byte for byte what they did.
const (
	mailTemplate = `<!doctype html>
<html><body style="font-family: sans-serif; max-width: 40em">
<p>{{.Intro}}</p>
<table>
<tr><td>Flag</td><td><b>{{.CR.Flag}}</b> in project {{.CR.Project}}</td></tr>
<tr><td>Environment</td><td>{{.Env}}</td></tr>
<tr><td>Requester</td><td>{{.CR.Requester}}</td></tr>
<tr><td>Status</td><td>{{.CR.Status}} (revision {{.CR.Revision}})</td></tr>
{{range .Due}}<tr><td>{{.Name}}</td><td>{{.At}}</td></tr>{{end}}
</table>
{{if .Summary}}<p>What it changes:</p><ul>{{range .Summary}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{range .Links}}<p><a href="{{.URL}}">{{.Label}}</a> (you confirm on the next page; the link expires {{.Expires}})</p>{{end}}
</body></html>`
	signInTemplate = `<!doctype html>
<html><body style="font-family: sans-serif; max-width: 40em">
<p>{{.Intro}}</p>
<p><a href="{{.URL}}">{{.Label}}</a></p>
<p>The link works once, until {{.Expires}}; you confirm on the page it opens. {{.Outro}}</p>
</body></html>`
)

// awkward are strings with everything html/template escapes or rewrites.
var awkward = []string{
	"", "plain", `Ada <ada@example.com> said "go" & 'stop' + more`, "nul\x00byte", "héllo wörld ✓",
	"<script>alert(1)</script>", "a\tb\nc",
}

// awkwardURLs are links as the mails could carry them, and some they
// never do.
var awkwardURLs = []string{
	"https://flags.example.com/a/abc_DEF-123.xyz~", "http://127.0.0.1:8080/signin/tok", "HTTPS://x/y?a=1&b=2#f",
	"https://x/a b/ü/'()<>\"{}|\\^`", "javascript:alert(1)", "mailto:ada@example.com", "data:text/html,x", "/relative/path:x",
	"https://x/%41%zz", "https://x/%4", "https://x/%41", "https://x/%41/", "",
}

func TestHTMLEscapingMatchesTemplate(t *testing.T) {
	mail := template.Must(template.New("mail").Parse(mailTemplate))
	signIn := template.Must(template.New("signin").Parse(signInTemplate))
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Format(time.RFC1123) // calendar-free: text in a mail, compared with no clock
	for i, s := range awkward {
		for _, u := range awkwardURLs {
			cr := &domain.ChangeRequest{Flag: s, Project: "p" + s, Requester: "member:" + s, Status: domain.CRStatus(s), Revision: i}
			if i%2 == 0 {
				cr.Environment = "env" + s
			}
			dues := []due{{"Expires at", at}, {s, s}}
			summary := []string{s, "x" + s}
			if i%3 == 0 {
				summary = nil
			}
			links := []link{{Label: s, URL: u, Expires: at}, {Label: "Approve", URL: u + s, Expires: s}}
			var want strings.Builder
			if err := mail.Execute(&want, map[string]any{"Intro": "intro " + s, "CR": cr, "Env": envName(cr), "Due": dues, "Summary": summary, "Links": links}); err != nil {
				t.Fatal(err)
			}
			if got := mailHTML("intro "+s, cr, dues, summary, links); got != want.String() {
				t.Errorf("mail with %q, %q:\n got %s\nwant %s", s, u, got, want.String())
			}
			v := map[string]string{"Intro": s, "URL": u, "Label": "Sign in " + s, "Expires": at, "Outro": s + " outro"}
			want.Reset()
			if err := signIn.Execute(&want, v); err != nil {
				t.Fatal(err)
			}
			if got := signInMailHTML(v); got != want.String() {
				t.Errorf("sign-in mail with %q, %q:\n got %s\nwant %s", s, u, got, want.String())
			}
		}
	}
}
