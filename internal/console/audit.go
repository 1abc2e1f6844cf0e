package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// The audit log, newest first, filtered by query parameters.

func (c *Console) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/audit", handler: c.auditPage},
	}
}

// auditQuery is the filter as the page's form sends it.
type auditQuery struct {
	Project, Flag, Environment, Actor string
	From, To                          string // dates, 2006-01-02, UTC days; To is inclusive
}

// auditOption is one choice of a select.
type auditOption struct{ Value, Label string }

type auditView struct {
	Q        auditQuery
	Entries  []domain.AuditEntry
	Next     string   // cursor of the older entries
	Projects []string // project keys to filter by
	Actors   []auditOption
	v        *viewer
}

// Filtered reports whether any filter is set.
func (a auditView) Filtered() bool { return a.Q != auditQuery{} }

// OlderURL is the link to the next, older page, with the same filters.
func (a auditView) OlderURL() string {
	q := url.Values{}
	for k, val := range map[string]string{"project": a.Q.Project, "flag": a.Q.Flag, "environment": a.Q.Environment,
		"actor": a.Q.Actor, "from": a.Q.From, "to": a.Q.To, "cursor": a.Next} {
		if val != "" {
			q.Set(k, val)
		}
	}
	return "/audit?" + q.Encode()
}

// auditPart is one thing an entry concerns: a label, its name, and a link
// to it when it has a page.
type auditPart struct{ Label, Name, Href string }

// What lists what an entry concerns: its project, flag, environment,
// change request, SDK key, member.
func (a auditView) What(e domain.AuditEntry) []auditPart {
	var out []auditPart
	p := url.PathEscape(e.Project)
	if e.Project != "" {
		out = append(out, auditPart{"project", e.Project, "/projects/" + p})
	}
	if e.Flag != "" {
		out = append(out, auditPart{"flag", e.Flag, "/projects/" + p + "/flags/" + url.PathEscape(e.Flag)})
	}
	if e.Environment != "" {
		out = append(out, auditPart{"environment", e.Environment, "/projects/" + p + "/environments/" + url.PathEscape(e.Environment) + "/approvals"})
	}
	if e.ChangeRequest != "" {
		out = append(out, auditPart{"change request", e.ChangeRequest, "/requests/" + url.PathEscape(e.ChangeRequest)})
	}
	if e.SDKKey != "" {
		out = append(out, auditPart{"SDK key", e.SDKKey, ""})
	}
	if e.Member != "" {
		id := strings.TrimPrefix(e.Member, "member:")
		out = append(out, auditPart{"member", a.v.Name(id), "/members/" + url.PathEscape(id)})
	}
	return out
}

// auditPageSize is how many entries one page shows.
const auditPageSize = 50

// parseAuditQuery reads and checks the filter; a bad value is refused
// (422) naming its parameter.
func parseAuditQuery(q url.Values) (auditQuery, domain.AuditFilter, error) {
	aq := auditQuery{
		Project: strings.TrimSpace(q.Get("project")), Flag: strings.TrimSpace(q.Get("flag")),
		Environment: strings.TrimSpace(q.Get("environment")), Actor: strings.TrimSpace(q.Get("actor")),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
	}
	f := domain.AuditFilter{Project: aq.Project, Flag: aq.Flag, Environment: aq.Environment, Actor: aq.Actor}
	var v domain.Validation
	if aq.Project != "" && !domain.ValidKey(aq.Project) {
		v.AddParameter("project", "must be a project key: lower-case letters, digits and dashes")
	}
	if aq.Environment != "" && !domain.ValidKey(aq.Environment) {
		v.AddParameter("environment", "must be an environment key: lower-case letters, digits and dashes")
	}
	if len(aq.Flag) > 128 || strings.ContainsAny(aq.Flag, "/?#% ") {
		v.AddParameter("flag", "must be a flag key: letters, digits, '_', '.' or '-'")
	}
	if aq.Actor != "" {
		kind, id, _ := strings.Cut(aq.Actor, ":")
		if id == "" || (kind != "member" && kind != "token" && kind != "system") {
			v.AddParameter("actor", "must be member:<id>, token:<id> or system:<name>")
		}
	}
	for _, p := range []struct {
		name, raw string
		dst       **time.Time
		shift     int
	}{{"from", aq.From, &f.From, 0}, {"to", aq.To, &f.To, 1}} {
		if p.raw == "" {
			continue
		}
		day, err := time.ParseInLocation(time.DateOnly, p.raw, time.UTC)
		if err != nil {
			v.AddParameter(p.name, "must be a date, year-month-day")
			continue
		}
		// to is inclusive: entries before the start of the next day.
		t := day.AddDate(0, 0, p.shift)
		*p.dst = &t
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		v.AddParameter("to", "must not be before from")
	}
	return aq, f, v.Err()
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	q := r.URL.Query()
	aq, filter, err := parseAuditQuery(q)
	if err != nil {
		return err
	}
	view := auditView{Q: aq, v: v}
	cursor := q.Get("cursor")
	view.Entries, view.Next, err = c.svc.ListAudit(ctx, v.P, filter, domain.Page{Limit: auditPageSize, Cursor: cursor})
	if err != nil {
		var de *domain.Error
		if cursor != "" && errors.As(err, &de) && de.Code == domain.CodeInvalid && len(de.Fields) == 0 {
			var val domain.Validation
			val.AddParameter("cursor", "%s", de.Message)
			return val.Err()
		}
		return err
	}
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		ps, next, err := c.svc.ListProjects(ctx, v.P, page)
		if err != nil {
			return err
		}
		for _, p := range ps {
			view.Projects = append(view.Projects, p.Key)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if aq.Project != "" && !slices.Contains(view.Projects, aq.Project) {
		view.Projects = append(view.Projects, aq.Project) // a deleted project's entries stay
	}
	members, err := c.everyMember(r, v)
	if err != nil {
		return err
	}
	for _, m := range members {
		view.Actors = append(view.Actors, auditOption{Value: "member:" + m.ID, Label: v.Name("member:" + m.ID)})
	}
	if aq.Actor != "" && !slices.ContainsFunc(view.Actors, func(o auditOption) bool { return o.Value == aq.Actor }) {
		view.Actors = append(view.Actors, auditOption{Value: aq.Actor, Label: v.Name(aq.Actor)})
	}
	return c.ok(w, v, "audit", "Audit log", view)
}
