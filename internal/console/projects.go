package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// Projects, their environments, each environment's approval settings and
// SDK keys, and the organisation's approvals switch. (A project's own page,
// /projects/{project}, and its flags are flags.go's.)

func (c *Console) projectRoutes() []Route {
	const env = "/projects/{project}/environments/{environment}"
	routes := []Route{
		{Method: "GET", Pattern: "/projects", handler: c.projectsPage},
		{Method: "POST", Pattern: "/projects", handler: c.projectCreate},
		{Method: "POST", Pattern: "/settings", handler: c.orgSettingsSubmit},
		{Method: "GET", Pattern: "/projects/{project}/environments", handler: c.environmentsPage},
		{Method: "POST", Pattern: "/projects/{project}/environments", handler: c.environmentCreate},
		{Method: "POST", Pattern: env, handler: c.environmentSubmit},
		{Method: "GET", Pattern: env + "/approvals", handler: c.approvalsPage},
		{Method: "POST", Pattern: env + "/approvals", handler: c.approvalsSubmit},
		{Method: "GET", Pattern: env + "/sdk-keys", handler: c.sdkKeysPage},
		{Method: "POST", Pattern: env + "/sdk-keys", handler: c.sdkKeyCreate},
		{Method: "POST", Pattern: env + "/sdk-keys/{key}/rotate", handler: c.sdkKeyRotate},
		{Method: "POST", Pattern: env + "/sdk-keys/{key}/revoke", handler: c.sdkKeyRevoke},
	}
	return append(routes, c.auditRoutes()...)
}

var _ = flash(map[string]string{
	"project-created":         "The project is created, with the environments development, staging and production.",
	"approvals-on":            "Approvals are on: each environment's approval settings apply now.",
	"approvals-off":           "Approvals are off: changes apply directly in every environment.",
	"environment-created":     "The environment is created.",
	"environment-protected":   "The environment is protected now.",
	"environment-unprotected": "The environment is no longer protected.",
	"approval-settings-saved": "The approval settings are saved.",
	"sdk-key-revoked":         "The SDK key is revoked: it stops working at once.",
	"allowed-origins-saved":   "The allowed origins are saved: browsers on those origins may call with the environment's client keys.",
	"governance-requested":    "This change weakens the rules, so another admin must approve it: it is now this change request.",
})

// governed answers a change to the rules that became a governance
// request: its page.
func governed(w http.ResponseWriter, r *http.Request, req *app.RequestView) error {
	return done(w, r, "/requests/"+url.PathEscape(req.ID), "governance-requested")
}

// governedWriter redirects to the governance request a form's write opened
// (*opened, set by the write) instead of where the form would go.
type governedWriter struct {
	http.ResponseWriter
	opened **app.RequestView
}

func (g *governedWriter) WriteHeader(code int) {
	if *g.opened != nil && code == http.StatusSeeOther {
		g.Header().Set("Location", "/requests/"+url.PathEscape((*g.opened).ID)+"?done=governance-requested")
	}
	g.ResponseWriter.WriteHeader(code)
}

// ---- refused forms ----

// fieldNotes are a refused form's problems: one message above the form,
// and one next to each field concerned.
type fieldNotes struct {
	Message string
	fields  map[string]string
}

// notesFrom reads a refusal that the form can show next to its fields (an
// invalid or conflicting value, a stale version); ok is false for any
// other error, which becomes an error page.
func notesFrom(err error) (n fieldNotes, status int, ok bool) {
	var de *domain.Error
	if !errors.As(err, &de) {
		return n, 0, false
	}
	switch de.Code {
	case domain.CodeInvalid, domain.CodeMalformed, domain.CodeConflict:
	default:
		return n, 0, false
	}
	n.Message = de.Message
	var summary []string
	for _, f := range de.Fields {
		name := f.Parameter
		if f.Pointer != "" {
			name, _, _ = strings.Cut(strings.TrimPrefix(f.Pointer, "/"), "/")
		}
		n.add(name, f.Detail)
		summary = append(summary, strings.ReplaceAll(name, "_", " ")+": "+f.Detail)
	}
	if len(summary) > 0 {
		// an error summary: every problem, named, also those of fields
		// the form does not show
		n.Message = "Not saved. " + strings.Join(summary, "; ") + "."
	}
	return n, problem.Status(de.Code), true
}

func (n *fieldNotes) add(field, detail string) {
	if n.fields == nil {
		n.fields = map[string]string{}
	}
	if prev := n.fields[field]; prev != "" {
		detail = prev + "; " + detail
	}
	n.fields[field] = detail
}

// For is the message for a field (its JSON name), "" when it is fine.
func (n fieldNotes) For(field string) string { return n.fields[field] }

// mustFormVersion reads the form's version: a replacing write must say
// which version it replaces.
func mustFormVersion(r *http.Request) (*int64, error) {
	version, err := formVersion(r)
	if err == nil && version == nil {
		var v domain.Validation
		v.Add("/version", "is required: the version the page showed")
		return nil, v.Err()
	}
	return version, err
}

// ---- projects and the organisation's switch ----

type projectsView struct {
	Projects []domain.Project
	Next     string // the cursor of the next page of projects
	Org      *domain.OrgSettings
	Form     app.ProjectInput // the new project form's values
	Notes    fieldNotes
}

func (c *Console) projectsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showProjects(w, r, v, http.StatusOK, projectsView{})
}

func (c *Console) showProjects(w http.ResponseWriter, r *http.Request, v *viewer, status int, view projectsView) error {
	ctx := r.Context()
	var err error
	view.Projects, view.Next, err = c.svc.ListProjects(ctx, v.P, domain.Page{Limit: domain.MaxPageLimit, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		return err
	}
	if view.Org, err = c.svc.GetOrgSettings(ctx, v.P); err != nil {
		return err
	}
	return c.render(w, v, status, "projects", "Projects", view)
}

func (c *Console) projectCreate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	f := r.PostForm
	in := app.ProjectInput{Key: strings.TrimSpace(f.Get("key")), Name: strings.TrimSpace(f.Get("name")), Description: strings.TrimSpace(f.Get("description"))}
	p, err := c.svc.CreateProject(r.Context(), v.P, in)
	if err != nil {
		notes, status, ok := notesFrom(err)
		if !ok {
			return err
		}
		if status == http.StatusConflict && notes.For("key") == "" {
			notes.add("key", "is taken: choose another key")
		}
		return c.showProjects(w, r, v, status, projectsView{Form: in, Notes: notes})
	}
	return done(w, r, "/projects/"+p.Key, "project-created")
}

// orgSettingsSubmit turns the organisation's approvals switch on or off.
func (c *Console) orgSettingsSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	version, err := mustFormVersion(r)
	if err != nil {
		return err
	}
	on := r.PostForm.Get("approvals") == "on"
	out, err := c.svc.UpdateOrgSettings(r.Context(), v.P, version, app.OrgSettingsInput{Approvals: on, Version: version})
	if err != nil {
		return err
	}
	if out.Request != nil {
		return governed(w, r, out.Request)
	}
	if on {
		return done(w, r, "/projects", "approvals-on")
	}
	return done(w, r, "/projects", "approvals-off")
}

// ---- environments ----

type environmentsView struct {
	Project      *domain.Project
	Environments []domain.Environment
	Org          *domain.OrgSettings
	Form         app.EnvironmentInput // the new environment form's values
	Notes        fieldNotes
	// Origins is an environment's allowed origins form just refused.
	Origins *originsRefusal
}

// originsRefusal is a refused allowed origins form: its environment, its
// text as typed (unless the environment changed meanwhile: the form then
// shows the origins as they are), and why.
type originsRefusal struct {
	Env     string
	Text    string
	Typed   bool
	Message string // above the form
	Field   string // next to the field
}

// OriginsText is what an environment's allowed origins field shows: the
// refused form's text as typed, else its origins, one per line.
func (v environmentsView) OriginsText(e domain.Environment) string {
	if o := v.OriginsRefusal(e.Key); o != nil && o.Typed {
		return o.Text
	}
	return strings.Join(e.AllowedOrigins, "\n")
}

// OriginsRefusal is why the environment's allowed origins form was just
// refused, nil when it was not.
func (v environmentsView) OriginsRefusal(env string) *originsRefusal {
	if v.Origins == nil || v.Origins.Env != env {
		return nil
	}
	return v.Origins
}

func environmentsURL(project string) string { return "/projects/" + project + "/environments" }

func environmentURL(project, env string) string { return environmentsURL(project) + "/" + env }

func (c *Console) environmentsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showEnvironments(w, r, v, http.StatusOK, environmentsView{})
}

func (c *Console) showEnvironments(w http.ResponseWriter, r *http.Request, v *viewer, status int, view environmentsView) error {
	ctx := r.Context()
	var err error
	if view.Project, err = c.svc.GetProject(ctx, v.P, r.PathValue("project")); err != nil {
		return err
	}
	if view.Environments, err = c.envsOfProject(r, v, view.Project.Key); err != nil {
		return err
	}
	if view.Org, err = c.svc.GetOrgSettings(ctx, v.P); err != nil {
		return err
	}
	return c.render(w, v, status, "environments", "Environments of "+view.Project.Name, view)
}

func (c *Console) envsOfProject(r *http.Request, v *viewer, project string) ([]domain.Environment, error) {
	var out []domain.Environment
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListEnvironments(r.Context(), v.P, project, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		page.Cursor = next
	}
}

func (c *Console) environmentCreate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	f := r.PostForm
	project := r.PathValue("project")
	in := app.EnvironmentInput{Key: strings.TrimSpace(f.Get("key")), Name: strings.TrimSpace(f.Get("name")), Protected: f.Get("protected") != ""}
	if _, err := c.svc.CreateEnvironment(r.Context(), v.P, project, in); err != nil {
		notes, status, ok := notesFrom(err)
		if !ok {
			return err
		}
		if status == http.StatusConflict && notes.For("key") == "" {
			notes.add("key", notes.Message)
		}
		return c.showEnvironments(w, r, v, status, environmentsView{Form: in, Notes: notes})
	}
	return done(w, r, environmentsURL(project), "environment-created")
}

// environmentSubmit changes what the form sends of an environment: its
// protection (protected: on or off), its allowed origins (allowed_origins,
// one per line; an empty field allows none), or both. The service decides
// the rest: which origins are valid, and whether the change needs a
// second admin. A refused allowed origins form shows the page again, the
// refusal at the field.
func (c *Console) environmentSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	version, err := mustFormVersion(r)
	if err != nil {
		return err
	}
	project, envKey := r.PathValue("project"), r.PathValue("environment")
	f := r.PostForm
	_, setOrigins := f["allowed_origins"]
	var protect *bool // nil: the form does not change the protection
	switch p := f.Get("protected"); {
	case p == "on" || p == "off":
		on := p == "on"
		protect = &on
	case p != "" || !setOrigins:
		var val domain.Validation
		val.Add("/protected", "must be on or off")
		return val.Err()
	}
	text := f.Get("allowed_origins")
	origins, lines := formOrigins(text)
	out, err := c.svc.UpdateEnvironment(r.Context(), v.P, project, envKey, version, func(e *domain.Environment) error {
		if protect != nil {
			e.Protected = *protect
		}
		if setOrigins {
			e.AllowedOrigins = origins
		}
		return nil
	})
	if err != nil {
		if !setOrigins {
			return err
		}
		notes, status, ok := notesFrom(err)
		if !ok {
			return err
		}
		refused := &originsRefusal{Env: envKey, Text: text, Typed: true, Message: notes.Message, Field: originsNote(err, lines)}
		if status == http.StatusConflict {
			// Someone changed the environment meanwhile: show it as it is now.
			refused.Typed = false
			refused.Message = strings.TrimSuffix(refused.Message, ".") + ". The page now shows the allowed origins as they are; make your change again."
		}
		return c.showEnvironments(w, r, v, status, environmentsView{Origins: refused})
	}
	switch {
	case out.Request != nil:
		return governed(w, r, out.Request)
	case protect != nil && *protect:
		return done(w, r, environmentsURL(project), "environment-protected")
	case protect != nil:
		return done(w, r, environmentsURL(project), "environment-unprotected")
	}
	return done(w, r, environmentsURL(project), "allowed-origins-saved")
}

// formOrigins reads the allowed origins field: one origin per line, as
// typed, blank lines skipped (none: nil, stored as nothing); lines[i] is
// the line (from 1) origins[i] is on. The service says which are not
// origins.
func formOrigins(text string) (origins []string, lines []int) {
	for n, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			origins = append(origins, line)
			lines = append(lines, n+1)
		}
	}
	return origins, lines
}

// originsNote says a refusal's problems with the allowed origins by the
// line of the field they are on ("line 2: must be an origin only, …"),
// "" when it has none.
func originsNote(err error, lines []int) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return ""
	}
	var parts []string
	for _, fe := range de.Fields {
		rest, ok := strings.CutPrefix(fe.Pointer, "/allowed_origins")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(rest, "/")); err == nil && i >= 0 && i < len(lines) {
			parts = append(parts, fmt.Sprintf("line %d: %s", lines[i], fe.Detail))
			continue
		}
		parts = append(parts, fe.Detail)
	}
	return strings.Join(parts, "; ")
}

// ---- approval settings ----

type approvalsView struct {
	Project  *domain.Project
	Env      *domain.Environment
	Org      *domain.OrgSettings
	S        *domain.ApprovalSettings // what the page shows: the settings, or the refused form
	Min      string                   // min_approvals as the form had it
	Tags     string                   // the tags, comma-separated
	Members  []domain.Member          // who may be designated: editors and above, and anyone designated now
	Teams    []domain.Team            // the teams a requirement may name
	Require  []requireRow             // the team requirements' rows: the settings', then empty ones
	Editable bool
	Notes    fieldNotes
	v        *viewer
}

// requireRow is one team requirement on the form: a team and how many of
// its members must approve. Unknown: the team no longer exists.
type requireRow struct {
	N       int
	Team    string
	Min     int
	Unknown bool
}

// requireRows are the settings' team requirements, then empty rows up to
// domain.MaxTeamRequirements.
func requireRows(s *domain.ApprovalSettings, teams []domain.Team) []requireRow {
	var out []requireRow
	for i, r := range s.Require {
		known := slices.ContainsFunc(teams, func(t domain.Team) bool { return t.Key == r.Team })
		out = append(out, requireRow{N: i + 1, Team: r.Team, Min: r.Min, Unknown: r.Team != "" && !known})
	}
	for len(out) < domain.MaxTeamRequirements {
		out = append(out, requireRow{N: len(out) + 1, Min: 1})
	}
	return out
}

// RequireText says the team requirements: "1 from sre, 2 from payments".
func (a approvalsView) RequireText() string {
	var parts []string
	for _, r := range a.S.Require {
		parts = append(parts, fmt.Sprintf("%d from %s", r.Min, r.Team))
	}
	return strings.Join(parts, ", ")
}

// Designated reports whether a member is among the designated reviewers.
func (a approvalsView) Designated(id string) bool {
	for _, m := range a.S.DesignatedReviewers {
		if m == id {
			return true
		}
	}
	return false
}

// Grants names the bypass grants' holders.
func (a approvalsView) Grants() []string {
	var out []string
	for _, g := range a.S.Bypass {
		if g.MemberID != "" {
			out = append(out, a.v.Name("member:"+g.MemberID))
		} else {
			out = append(out, a.v.Name("token:"+g.TokenID))
		}
	}
	return out
}

// DesignatedNames names the designated reviewers.
func (a approvalsView) DesignatedNames() []string {
	var out []string
	for _, id := range a.S.DesignatedReviewers {
		out = append(out, a.v.Name("member:"+id))
	}
	return out
}

func approvalsURL(project, env string) string { return environmentURL(project, env) + "/approvals" }

func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showApprovals(w, r, v, http.StatusOK, nil, "", fieldNotes{})
}

// showApprovals renders the approval settings page: the stored settings,
// or (shown non-nil) a refused form as it was sent, with min as typed.
func (c *Console) showApprovals(w http.ResponseWriter, r *http.Request, v *viewer, status int, shown *domain.ApprovalSettings, min string, notes fieldNotes) error {
	ctx := r.Context()
	project, envKey := r.PathValue("project"), r.PathValue("environment")
	view := approvalsView{Editable: v.Can("manager"), Notes: notes, v: v}
	var err error
	if view.Project, err = c.svc.GetProject(ctx, v.P, project); err != nil {
		return err
	}
	if view.Env, err = c.svc.GetEnvironment(ctx, v.P, project, envKey); err != nil {
		return err
	}
	if view.Org, err = c.svc.GetOrgSettings(ctx, v.P); err != nil {
		return err
	}
	view.S, view.Min = shown, min
	if shown == nil {
		if view.S, err = c.svc.GetApprovalSettings(ctx, v.P, project, envKey); err != nil {
			return err
		}
		view.Min = strconv.Itoa(view.S.MinApprovals)
	}
	view.Tags = strings.Join(view.S.Tags, ", ")
	if view.Teams, err = c.everyTeam(ctx, v); err != nil {
		return err
	}
	view.Require = requireRows(view.S, view.Teams)
	if view.Editable {
		members, err := c.everyMember(r, v)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.Role.AtLeast(domain.RoleEditor) || view.Designated(m.ID) {
				view.Members = append(view.Members, m)
			}
		}
	}
	return c.render(w, v, status, "approvals", "Approval settings of "+view.Env.Name+" in "+view.Project.Name, view)
}

func (c *Console) everyMember(r *http.Request, v *viewer) ([]domain.Member, error) {
	var out []domain.Member
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListMembers(r.Context(), v.P, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		page.Cursor = next
	}
}

// everyTeam lists the organisation's teams (every member may read them).
func (c *Console) everyTeam(ctx context.Context, v *viewer) ([]domain.Team, error) {
	var out []domain.Team
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListTeams(ctx, v.P, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		page.Cursor = next
	}
}

// formRequire reads the form's team requirements: the rows that name a
// team (require_team and require_min, row by row). A number that is no
// number is sent as 0, which the service refuses. A refused form shows
// them again in this order, without the empty rows.
func formRequire(f url.Values) []domain.TeamRequirement {
	out := []domain.TeamRequirement{}
	teams, mins := f["require_team"], f["require_min"]
	for i, team := range teams {
		team = strings.TrimSpace(team)
		if team == "" {
			continue
		}
		n := 0
		if i < len(mins) {
			n, _ = strconv.Atoi(strings.TrimSpace(mins[i]))
		}
		out = append(out, domain.TeamRequirement{Team: team, Min: n})
	}
	return out
}

// requireNote says a refusal's problems with the team requirements by
// their row as the refused form shows them ("row 2: must be from 1 to
// 5"), "" when it has none.
func requireNote(err error) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return ""
	}
	var parts []string
	for _, fe := range de.Fields {
		rest, ok := strings.CutPrefix(fe.Pointer, "/require")
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 {
			parts = append(parts, fmt.Sprintf("row %d: %s", i+1, fe.Detail))
			continue
		}
		parts = append(parts, fe.Detail)
	}
	return strings.Join(parts, "; ")
}

// splitSettingTags reads tags written with commas or spaces between them.
func splitSettingTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// approvalsSubmit replaces the environment's approval settings with the
// form (the bypass grants, which the page does not edit, are kept).
func (c *Console) approvalsSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	project, envKey := r.PathValue("project"), r.PathValue("environment")
	version, err := mustFormVersion(r)
	if err != nil {
		return err
	}
	current, err := c.svc.GetApprovalSettings(ctx, v.P, project, envKey)
	if err != nil {
		return err
	}
	f := r.PostForm
	checked := func(name string) bool { return f.Get(name) != "" }
	in := &domain.ApprovalSettings{
		Project: project, Environment: envKey,
		Required:                        domain.Required(f.Get("required")),
		Tags:                            splitSettingTags(f.Get("tags")),
		AllowSelfApproval:               checked("allow_self_approval"),
		RejectionBlocksApply:            checked("rejection_blocks_apply"),
		Reviewers:                       domain.ReviewerMode(f.Get("reviewers")),
		DesignatedReviewers:             f["designated_reviewers"],
		AutoApproveAfter:                f.Get("auto_approve_after"),
		ExpireAfter:                     strings.TrimSpace(f.Get("expire_after")),
		Apply:                           domain.ApplyMode(f.Get("apply")),
		LockWhilePending:                checked("lock_while_pending"),
		APITokenBypass:                  checked("api_token_bypass"),
		AllowUnapprovedScheduleDeletion: checked("allow_unapproved_schedule_deletion"),
		Bypass:                          current.Bypass,
		ReviewAfterBypass:               strings.TrimSpace(f.Get("review_after_bypass")),
		Require:                         formRequire(f),
		DistinctReviewers:               checked("distinct_reviewers"),
		RequireMaintainer:               checked("require_maintainer"),
	}
	if in.DesignatedReviewers == nil {
		in.DesignatedReviewers = []string{}
	}
	// A number that is no number is sent as 0, which the service refuses
	// (after deciding whether the viewer may change the settings at all).
	min := strings.TrimSpace(f.Get("min_approvals"))
	n, convErr := strconv.Atoi(min)
	if convErr != nil {
		n = 0
	}
	in.MinApprovals = n
	out, err := c.svc.UpdateApprovalSettings(ctx, v.P, project, envKey, version, in)
	if err == nil && out.Request != nil {
		return governed(w, r, out.Request)
	}
	if err == nil {
		return done(w, r, approvalsURL(project, envKey), "approval-settings-saved")
	}
	notes, status, ok := notesFrom(err)
	if !ok {
		return err
	}
	if note := requireNote(err); note != "" {
		notes.fields["require"] = note
	}
	if convErr != nil && notes.For("min_approvals") != "" {
		notes.fields["min_approvals"] = "must be a whole number from 1 to 5 (0 only with team or maintainer requirements)"
	}
	if status == http.StatusConflict {
		// Someone changed them meanwhile: show them as they are now.
		notes.Message += ". The page now shows the settings as they are; make your change again."
		return c.showApprovals(w, r, v, status, nil, "", notes)
	}
	in.Version = *version
	return c.showApprovals(w, r, v, status, in, min, notes)
}

// ---- SDK keys ----

// graceOptions are how long a rotated key may keep working.
var graceOptions = []struct{ Value, Label string }{
	{"", "Stop the old key at once"},
	{"1h", "Keep the old key 1 hour"},
	{"24h", "Keep the old key 24 hours"},
	{"168h", "Keep the old key 7 days"},
	{"720h", "Keep the old key 30 days"},
}

// sdkKeyKind is a kind of key the new key form offers.
type sdkKeyKind struct {
	Value       domain.SDKKeyKind
	Label, Help string
}

// sdkKeyKinds are the kinds of key the new key form offers, server first
// (the service's default); the service decides which kinds exist.
var sdkKeyKinds = []sdkKeyKind{
	{domain.SDKKeyServer, "Server", "secret, for back ends: reads every flag of the environment"},
	{domain.SDKKeyClient, "Client", "public, for browsers and mobile apps: reads only the flags exposed to clients"},
}

type sdkKeysView struct {
	Project *domain.Project
	Env     *domain.Environment
	Keys    []domain.SDKKey
	Name    string // the new key form's values
	Kind    string
	Kinds   []sdkKeyKind
	Notes   fieldNotes
	New     *app.CreatedSDKKey // the key just created or rotated to: its secret, shown once
	Old     *domain.SDKKey     // the key a rotation replaced
	Graces  []struct{ Value, Label string }
	now     time.Time
}

// KindChosen reports whether the new key form has kind chosen: the kind
// sent with a refused form, else server.
func (s sdkKeysView) KindChosen(kind domain.SDKKeyKind) bool {
	if s.Kind == "" {
		return kind == domain.SDKKeyServer
	}
	return string(kind) == s.Kind
}

// KindOf says a key's kind: "client" or "server" (a key stored without a
// kind is a server key).
func (s sdkKeysView) KindOf(k domain.SDKKey) domain.SDKKeyKind { return k.KindOrServer() }

// Revocable reports whether a key still works (and so may be revoked).
func (s sdkKeysView) Revocable(k domain.SDKKey) bool { return k.Live(s.now) }

// Rotatable reports whether a key may be rotated: it works and has no
// successor yet.
func (s sdkKeysView) Rotatable(k domain.SDKKey) bool { return k.Live(s.now) && k.ReplacedBy == "" }

// State says whether a key works.
func (s sdkKeysView) State(k domain.SDKKey) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked " + when(k.RevokedAt)
	case k.ExpiresAt != nil && !s.now.Before(*k.ExpiresAt):
		return "stopped " + when(k.ExpiresAt)
	case k.ExpiresAt != nil:
		return "works until " + when(k.ExpiresAt)
	}
	return "works"
}

func sdkKeysURL(project, env string) string { return environmentURL(project, env) + "/sdk-keys" }

func (c *Console) sdkKeysPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showSDKKeys(w, r, v, http.StatusOK, sdkKeysView{})
}

func (c *Console) showSDKKeys(w http.ResponseWriter, r *http.Request, v *viewer, status int, view sdkKeysView) error {
	ctx := r.Context()
	project, envKey := r.PathValue("project"), r.PathValue("environment")
	// Listing first: it is for admins, whatever exists.
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListSDKKeys(ctx, v.P, project, envKey, page)
		if err != nil {
			return err
		}
		view.Keys = append(view.Keys, items...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	var err error
	if view.Project, err = c.svc.GetProject(ctx, v.P, project); err != nil {
		return err
	}
	if view.Env, err = c.svc.GetEnvironment(ctx, v.P, project, envKey); err != nil {
		return err
	}
	view.Graces, view.Kinds, view.now = graceOptions, sdkKeyKinds, c.svc.Now()
	return c.render(w, v, status, "sdkkeys", "SDK keys of "+view.Env.Name+" in "+view.Project.Name, view)
}

// sdkKeyCreate issues a key of the kind chosen (server or client; the
// service decides which kinds there are) and shows its secret on the
// answer (200, not a redirect: the secret is never in a URL, and is shown
// only this once).
func (c *Console) sdkKeyCreate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	kind := r.PostForm.Get("kind")
	k, err := c.svc.CreateSDKKey(r.Context(), v.P, r.PathValue("project"), r.PathValue("environment"), app.SDKKeyInput{Name: name, Kind: kind})
	if err != nil {
		notes, status, ok := notesFrom(err)
		if !ok {
			return err
		}
		return c.showSDKKeys(w, r, v, status, sdkKeysView{Name: name, Kind: kind, Notes: notes})
	}
	return c.showSDKKeys(w, r, v, http.StatusOK, sdkKeysView{New: k})
}

// sdkKeyRotate replaces a key, the old one working on for the grace
// period chosen; the new secret is shown once, as on creation. The new key
// is of the old one's kind (the service keeps it).
func (c *Console) sdkKeyRotate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	grace := r.PostForm.Get("grace")
	var in app.RotateSDKKeyInput
	known := false
	for _, g := range graceOptions {
		known = known || g.Value == grace
	}
	if !known {
		var val domain.Validation
		val.Add("/grace", "must be one of the periods offered")
		return val.Err()
	}
	if grace != "" {
		d, _ := time.ParseDuration(grace)
		until := c.svc.Now().Add(d)
		in.OldKeyExpiresAt = &until
	}
	k, err := c.svc.RotateSDKKey(r.Context(), v.P, r.PathValue("project"), r.PathValue("environment"), r.PathValue("key"), in)
	if err != nil {
		notes, status, ok := notesFrom(err)
		if !ok {
			return err
		}
		return c.showSDKKeys(w, r, v, status, sdkKeysView{Notes: notes})
	}
	return c.showSDKKeys(w, r, v, http.StatusOK, sdkKeysView{New: &k.CreatedSDKKey, Old: k.Old})
}

func (c *Console) sdkKeyRevoke(w http.ResponseWriter, r *http.Request, v *viewer) error {
	project, envKey := r.PathValue("project"), r.PathValue("environment")
	if err := c.svc.RevokeSDKKey(r.Context(), v.P, project, envKey, r.PathValue("key")); err != nil {
		return err
	}
	return done(w, r, sdkKeysURL(project, envKey), "sdk-key-revoked")
}
