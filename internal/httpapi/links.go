package httpapi

import (
	"errors"
	"html/template"
	"net/http"
	"sync"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// E-mail action links. GET never changes anything (mail scanners fetch
// links and run their scripts): it shows what the link would do and a form;
// only the form's POST acts, with a CSRF token tied to the link. The pages
// work without JavaScript and do not submit themselves.

// linkPage is parsed on first use, not at every cold start.
var linkPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("link").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}} · Countersign</title>
<meta name="referrer" content="no-referrer"></head>
<body style="font-family: sans-serif; max-width: 44em; margin: 2em auto">
<h1>{{.Title}}</h1>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
{{with .Request}}
<table cellpadding="3">
<tr><td>Request</td><td><b>{{.Title}}</b> ({{.ID}})</td></tr>
<tr><td>Flag</td><td>{{.Flag}} in project {{.Project}}</td></tr>
<tr><td>Environment</td><td>{{if .Environment}}{{.Environment}}{{else}}every environment it serves{{end}}</td></tr>
<tr><td>Requester</td><td>{{.Requester}}</td></tr>
<tr><td>Status</td><td id="status">{{.Status}}</td></tr>
{{with .Bypass}}<tr><td>Bypass reason</td><td>{{.Reason}}</td></tr>
<tr><td>Acknowledge by</td><td id="due">{{.ReviewDueAt.UTC.Format "Mon, 02 Jan 2006 15:04:05 MST"}}{{if .Overdue}} (overdue){{end}}</td></tr>{{else}}
<tr><td>Approvals</td><td>{{.Approvals}} of {{.Policy.MinApprovals}}</td></tr>{{end}}
</table>
{{with .Diff}}{{if .Summary}}<p>What it changes:</p><ul>{{range .Summary}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
{{end}}
{{if .Form}}
<form method="post" action="">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="comment">Comment{{if .CommentRequired}} (required){{end}}</label><br>
<textarea id="comment" name="comment" rows="4" cols="60" {{if .CommentRequired}}required{{end}}></textarea></p>
<p><button type="submit" id="confirm">{{.Button}}</button></p>
</form>
{{end}}
</body></html>`))
})

type linkView struct {
	Title, Message, CSRF, Button string
	Request                      *app.RequestView
	Form, CommentRequired        bool
}

var buttons = map[string]string{actionlink.Approve: "Approve", actionlink.Reject: "Reject (need changes)", actionlink.Apply: "Apply now",
	actionlink.Acknowledge: "Acknowledge the bypass"}

func (s *Server) writeLinkPage(w http.ResponseWriter, status int, v linkView) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	return linkPage().Execute(w, v)
}

// linkError renders a refused link with the status its error code maps to.
func (s *Server) linkError(w http.ResponseWriter, r *http.Request, err error) error {
	var de *domain.Error
	if !errors.As(err, &de) {
		s.log.ErrorContext(r.Context(), "action link failed", "err", err)
		de = &domain.Error{Code: domain.CodeInternal, Message: "something went wrong on our side; try again later"}
	}
	titles := map[domain.Code]string{domain.CodeGone: "This link can no longer be used", domain.CodeConflict: "Nothing to do",
		domain.CodeForbidden: "This link cannot do that", domain.CodeInvalid: "Not done", domain.CodeNotFound: "Unknown link"}
	title := titles[de.Code]
	if title == "" {
		title = "Error"
	}
	return s.writeLinkPage(w, statusFor(de.Code), linkView{Title: title, Message: de.Message})
}

func (s *Server) showLink(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	st, err := s.svc.InspectLink(r.Context(), r.PathValue("token"))
	if err != nil {
		return s.linkError(w, r, err)
	}
	a := st.Claims.Action
	return s.writeLinkPage(w, http.StatusOK, linkView{
		Title:   buttons[a] + ": " + st.Request.Title,
		Message: "Hello " + st.Member.Name + ". Nothing happens until you press the button below.",
		Request: st.Request, Form: true, CSRF: st.CSRF, Button: buttons[a], CommentRequired: a != actionlink.Apply,
	})
}

func (s *Server) actOnLink(w http.ResponseWriter, r *http.Request, _ *app.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return s.linkError(w, r, domain.Errorf(domain.CodeInvalid, "the form could not be read"))
	}
	v, err := s.svc.ActOnLink(r.Context(), r.PathValue("token"), r.PostForm.Get("csrf"), r.PostForm.Get("comment"))
	if err != nil {
		return s.linkError(w, r, err)
	}
	return s.writeLinkPage(w, http.StatusOK, linkView{Title: "Done", Message: "Thank you: the request is now " + string(v.Status) + ".", Request: v})
}
