package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/*
var assetFiles embed.FS

// pages are the parsed templates, one per page file (templates/<name>.html
// defines "content"), each with the layout and the shared partials
// (files whose name starts with "_"). They are parsed at the first page
// rendered, not at package initialisation: the api function links the
// console, and most of its cold starts serve JSON (docs/benchmarks.md,
// "Lambda binaries and cold start").
var pages = sync.OnceValue(parsePages)

var funcs = template.FuncMap{
	"when":      when,
	"date":      func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"join":      strings.Join,
	"asset":     assetURL,
	"pct":       pct,
	"plural":    plural,
	"onoff":     func(b bool) string { return map[bool]string{true: "on", false: "off"}[b] },
	"errtext":   errText,
	"eventText": eventText,
	"rows": func(v *viewer, items []domain.ChangeRequest, empty string) requestRows {
		return requestRows{V: v, Items: items, Empty: empty}
	},
}

// requestRows is a table of requests (templates/_requests.html).
type requestRows struct {
	V     *viewer
	Items []domain.ChangeRequest
	Empty string // what to say when there are none
}

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	partials, _ := fs.Glob(templateFiles, "templates/_*.html")
	if len(partials) > 0 {
		base = template.Must(base.ParseFS(templateFiles, partials...))
	}
	names, _ := fs.Glob(templateFiles, "templates/*.html")
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, n))
	}
	return out
}

// Page is what the layout gets: the viewer, the page's title, and the
// page's own data.
type Page struct {
	V     *viewer
	Title string
	Data  any
}

// render writes a page. It renders into a buffer first, so a template
// error becomes an error page, not half a page.
func (c *Console) render(w http.ResponseWriter, v *viewer, status int, name, title string, data any) error {
	t := pages()[name]
	if t == nil {
		return fmt.Errorf("console: no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", Page{V: v, Title: title, Data: data}); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// ok renders a page with 200.
func (c *Console) ok(w http.ResponseWriter, v *viewer, name, title string, data any) error {
	return c.render(w, v, http.StatusOK, name, title, data)
}

// when is a time as pages show it: absolute, in UTC.
func when(t any) string {
	switch x := t.(type) {
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if x == nil {
			return ""
		}
		return when(*x)
	}
	return ""
}

// pct is a rollout percentage as people write it: "25 %", "12.5 %".
func pct(f float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
	return s + " %"
}

// plural is "1 request", "2 requests".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// errText is the message of a refusal, for a disabled action's reason.
func errText(err error) string {
	if err == nil {
		return ""
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return de.Message
	}
	return "not available"
}

// ---- assets ----

// assetHashes version the assets' URLs, so that they can be cached for a
// year and still change with a release: the first 12 hex digits of each
// file's SHA-256, written here rather than computed at every start (which
// read and copied the files at package initialisation, a visible part of
// the console function's cold start). TestAssetHashesMatchTheFiles fails,
// naming the right value, when a file changes without its hash.
var assetHashes = map[string]string{
	"console.css": "ecdf33b62109",
	"favicon.svg": "31e7f280c767",
}

func assetURL(name string) string { return "/assets/" + name + "?v=" + assetHashes[name] }

var assetTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := assetFiles.ReadFile("assets/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", assetTypes[path.Ext(name)])
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+assetHashes[name]+`"`)
	if r.Header.Get("If-None-Match") == `"`+assetHashes[name]+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(b)
}

// eventTexts say what happened, after the actor's name; every timeline
// event has one (TestEveryEventHasText).
var eventTexts = map[domain.EventType]string{
	domain.EventCreated: "requested the change", domain.EventEdited: "edited the request", domain.EventCommented: "commented",
	domain.EventApproved: "approved", domain.EventRejected: "rejected", domain.EventApplied: "applied the change",
	domain.EventWithdrawn: "withdrew the request", domain.EventExpired: "expired the request",
	domain.EventAutoApproved: "auto-approved the request", domain.EventApplyConflict: "could not apply: the live state changed",
	domain.EventScheduleFailed: "could not apply on schedule", domain.EventApprovalsRevoked: "revoked the approvals", domain.EventReviewVoided: "voided a review: its reviewer may no longer review",
	domain.EventDrafted: "worked on the draft", domain.EventSubmitted: "submitted the request for review",
	domain.EventHeld:     "held the apply: a change freeze is in force",
	domain.EventBypassed: "applied the change by a bypass; another reviewer must acknowledge it", domain.EventAcknowledged: "acknowledged the bypass",
	domain.EventReviewOverdue: "marked the review after the bypass overdue: nobody acknowledged it in time",
}

func eventText(t domain.EventType) string {
	if s, ok := eventTexts[t]; ok {
		return s
	}
	return strings.ReplaceAll(string(t), "_", " ")
}

// inWords says a duration as people do: "12 hours", "30 minutes".
func inWords(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "1 hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	default:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
}
