package oidcauth

import (
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// A refused or failed sign-in is answered with a page (browsers, which ask
// for text/html) or an RFC 9457 problem (anything else), both with a fixed,
// safe message: the cause goes to the log only.

// errorPage is parsed on first use, not at every cold start.
var errorPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("oidc-error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}} · Countersign</title>
<meta name="referrer" content="no-referrer"></head>
<body style="font-family: sans-serif; max-width: 44em; margin: 2em auto">
<h1 id="title">{{.Title}}</h1>
<p id="message">{{.Message}}</p>
<p><a id="back" href="/login">Back to the sign-in page</a></p>
</body></html>`))
})

type problemDoc struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Code     string `json:"code"`
	Instance string `json:"instance,omitempty"`
}

const problemTypeBase = "https://countersign.dev/problems/"

// fail logs why (reason, cause) and answers status with title and message.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code domain.Code, title, message, reason string, cause error, attrs ...any) {
	status := problem.Status(code)
	attrs = append(attrs, "status", status, "reason", reason, "path", r.URL.Path)
	if cause != nil {
		attrs = append(attrs, "err", cause.Error())
	}
	switch {
	case status >= 500:
		h.log.ErrorContext(r.Context(), "OpenID Connect sign-in failed", attrs...)
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		h.log.DebugContext(r.Context(), "OpenID Connect route", attrs...)
	default:
		h.log.WarnContext(r.Context(), "OpenID Connect sign-in refused", attrs...)
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if wantsHTML(r) {
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.WriteHeader(status)
		_ = errorPage().Execute(w, struct{ Title, Message string }{title, message})
		return
	}
	hdr.Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(problemDoc{Type: problemTypeBase + string(code), Title: http.StatusText(status), Status: status, Detail: message, Code: string(code), Instance: r.URL.Path})
}

// wantsHTML reports whether the client lists text/html among what it
// accepts (browsers navigating do).
func wantsHTML(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
			return true
		}
	}
	return false
}
