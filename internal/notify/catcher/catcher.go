// Package catcher is the local runtime's mail catcher: it keeps every
// message the service sends and shows them at /dev/mail, rendered as they
// would be, with working links.
package catcher

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/notify/sesmail"
)

// Mail is one caught message.
type Mail struct {
	ID int
	At time.Time
	sesmail.Message
}

// Catcher keeps messages in memory (a local run's mail; it is not data).
type Catcher struct {
	mu    sync.Mutex
	mails []Mail
	from  string
	now   func() time.Time
}

// New returns an empty catcher; from fills messages that have no sender.
func New(from string, now func() time.Time) *Catcher { return &Catcher{from: from, now: now} }

// Send keeps m.
func (c *Catcher) Send(_ context.Context, m sesmail.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.From == "" {
		m.From = c.from
	}
	id := len(c.mails) + 1
	c.mails = append(c.mails, Mail{ID: id, At: c.now(), Message: m})
	return "catcher-" + strconv.Itoa(id), nil
}

// Mails returns the caught messages, oldest first.
func (c *Catcher) Mails() []Mail {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Mail(nil), c.mails...)
}

var listPage = template.Must(template.New("list").Parse(`<!doctype html>
<html><head><title>Countersign mail</title></head><body style="font-family: sans-serif">
<h1>Mail sent by this Countersign</h1>
{{if not .}}<p>No mail yet.</p>{{end}}
<table cellpadding="4">
<tr><th>#</th><th>At</th><th>To</th><th>Subject</th></tr>
{{range .}}<tr><td>{{.ID}}</td><td>{{.At.Format "2006-01-02 15:04:05"}}</td><td>{{range .To}}{{.}} {{end}}</td><td><a href="/dev/mail/{{.ID}}">{{.Subject}}</a></td></tr>{{end}}
</table></body></html>`))

var mailPage = template.Must(template.New("mail").Parse(`<!doctype html>
<html><head><title>{{.Subject}}</title></head><body style="font-family: sans-serif">
<p><a href="/dev/mail">All mail</a> · <a href="/dev/mail/{{.ID}}/text">Plain text</a></p>
<table cellpadding="2"><tr><td>From</td><td>{{.From}}</td></tr><tr><td>To</td><td>{{range .To}}{{.}} {{end}}</td></tr>
<tr><td>Subject</td><td><b>{{.Subject}}</b></td></tr></table>
<hr>
{{.Body}}
</body></html>`))

// Handler serves /dev/mail, /dev/mail/{id} (the HTML part, as sent) and
// /dev/mail/{id}/text, plus /dev/mail.json for scripts and tests.
func (c *Catcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/mail", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = listPage.Execute(w, c.Mails())
	})
	mux.HandleFunc("GET /dev/mail.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		type out struct {
			ID      int       `json:"id"`
			At      time.Time `json:"at"`
			To      []string  `json:"to"`
			Subject string    `json:"subject"`
			Text    string    `json:"text"`
			HTML    string    `json:"html"`
		}
		ms := c.Mails()
		list := make([]out, len(ms))
		for i, m := range ms {
			list[i] = out{m.ID, m.At, m.To, m.Subject, m.Text, m.HTML}
		}
		_ = jsonEncode(w, list)
	})
	find := func(w http.ResponseWriter, r *http.Request) (Mail, bool) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		ms := c.Mails()
		if id < 1 || id > len(ms) {
			http.Error(w, fmt.Sprintf("no mail #%s", r.PathValue("id")), http.StatusNotFound)
			return Mail{}, false
		}
		return ms[id-1], true
	}
	mux.HandleFunc("GET /dev/mail/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := find(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The HTML part was rendered by the service's own template: shown as sent.
		_ = mailPage.Execute(w, map[string]any{"ID": m.ID, "From": m.From, "To": m.To, "Subject": m.Subject, "Body": template.HTML(m.HTML)})
	})
	mux.HandleFunc("GET /dev/mail/{id}/text", func(w http.ResponseWriter, r *http.Request) {
		m, ok := find(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(m.Text))
	})
	return mux
}
