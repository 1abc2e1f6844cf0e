package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/problem"
)

// People: the members list (admins invite, change roles, remove and
// invite again), a member's page with their sessions, and the viewer's
// personal API tokens. Every rule (only admins manage members, the last
// admin stays, a token never has more rights than its member, only one's
// own tokens and sessions) is the application service's; the pages only
// decide what to offer, and show the service's refusals.

func (c *Console) peopleRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/members", handler: c.membersPage},
		{Method: "POST", Pattern: "/members", handler: c.memberInviteSubmit},
		{Method: "GET", Pattern: "/members/{id}", handler: c.memberPage},
		{Method: "POST", Pattern: "/members/{id}/role", handler: c.memberRoleSubmit},
		{Method: "POST", Pattern: "/members/{id}/remove", handler: c.memberRemoveSubmit},
		{Method: "POST", Pattern: "/members/{id}/invite", handler: c.memberReinviteSubmit},
		{Method: "POST", Pattern: "/members/{id}/unsuppress", handler: c.memberUnsuppressSubmit},
		{Method: "POST", Pattern: "/members/{id}/sessions/{session}/end", handler: c.memberEndSessionSubmit},
		{Method: "GET", Pattern: "/tokens", handler: c.tokensPage},
		{Method: "POST", Pattern: "/tokens", handler: c.tokenCreateSubmit},
		{Method: "POST", Pattern: "/tokens/{id}/revoke", handler: c.tokenRevokeSubmit},
	}
}

var _ = flash(map[string]string{
	"member-added":        "The member is added, and an invitation is on its way to them.",
	"member-reinvited":    "A new invitation is on its way; the link sent before no longer works.",
	"member-role":         "The role is changed.",
	"member-removed":      "The member is removed: their sessions, sign-in links and tokens no longer work.",
	"member-unsuppressed": "Countersign mails this address again (if SES's account-level suppression list holds it too, remove it there as well).",
	"session-ended":       "The session is ended.",
	"token-revoked":       "The token is revoked: it no longer works.",
})

// memberRoles are the roles, from the fewest rights to the most.
var memberRoles = []domain.Role{domain.RoleViewer, domain.RoleEditor, domain.RoleManager, domain.RoleAdmin}

// memberRoleHelp says what a role may do, for the invite form.
var memberRoleHelp = map[domain.Role]string{
	domain.RoleViewer:  "viewer: reads everything, changes nothing",
	domain.RoleEditor:  "editor: also changes flags and their targeting, and reviews requests",
	domain.RoleManager: "manager: also changes projects, environments and their settings",
	domain.RoleAdmin:   "admin: also manages members and service tokens",
}

// peopleRefusal is the service's refusal of a form, to show on the page the
// form was on; nil for what is not a refusal (not found, or an internal
// error), which becomes the error page.
func peopleRefusal(err error) *domain.Error {
	var de *domain.Error
	if !errors.As(err, &de) || de.Code == domain.CodeNotFound || de.Code == domain.CodeInternal {
		return nil
	}
	return de
}

// peopleFieldName is what a field of a refusal is called on the pages.
func peopleFieldName(f domain.FieldError) string {
	key := strings.TrimPrefix(f.Pointer, "/")
	if key == "" {
		key = f.Parameter
	}
	switch key {
	case "email":
		return "E-mail"
	case "name":
		return "Name"
	case "role":
		return "Role"
	case "version":
		return "Version"
	}
	return key
}

// peopleProblem is a refusal shown above a page.
type peopleProblem struct {
	Message string
	Fields  []string // "Field: detail"
}

func newPeopleProblem(de *domain.Error, skip ...string) *peopleProblem {
	if de == nil {
		return nil
	}
	p := &peopleProblem{Message: de.Message}
	for _, f := range de.Fields {
		if slices.Contains(skip, strings.TrimPrefix(f.Pointer, "/")) {
			continue
		}
		p.Fields = append(p.Fields, peopleFieldName(f)+": "+f.Detail)
	}
	return p
}

// peopleForm is what a form sent, with the service's messages per field, to
// show it again after a refusal.
type peopleForm struct {
	Values map[string]string
	Errors map[string]string // field ("email") → message
}

func newPeopleForm() peopleForm {
	return peopleForm{Values: map[string]string{}, Errors: map[string]string{}}
}

// Value is what the field held.
func (f peopleForm) Value(field string) string { return f.Values[field] }

// Err is the message for the field, "" when it is fine.
func (f peopleForm) Err(field string) string { return f.Errors[field] }

// Selected reports whether the field held the role.
func (f peopleForm) Selected(field string, r domain.Role) bool { return f.Values[field] == string(r) }

// take moves the refusal's messages about the form's fields to the
// form, and answers the fields it took.
func (f peopleForm) take(de *domain.Error, fields ...string) []string {
	var took []string
	if de == nil {
		return nil
	}
	for _, fe := range de.Fields {
		key := strings.TrimPrefix(fe.Pointer, "/")
		if slices.Contains(fields, key) {
			if f.Errors[key] == "" {
				f.Errors[key] = fe.Detail
			} else {
				f.Errors[key] += "; " + fe.Detail
			}
			took = append(took, key)
		}
	}
	return took
}

// ---- members ----

// peopleMemberRow is a member in the list.
type peopleMemberRow struct {
	domain.Member
	Sessions int // live sessions, counted for admins only
}

// Label is how the member is named: their name, or their address.
func (m peopleMemberRow) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return m.Email
}

// peopleMembersView is the members page.
type peopleMembersView struct {
	Members []peopleMemberRow
	Roles   []domain.Role
	Help    map[domain.Role]string
	Invite  peopleForm
	Problem *peopleProblem // the refusal of the form just sent
	Admin   bool           // the viewer manages members: forms and session counts
}

// peopleMembers reads every member.
func (c *Console) peopleMembers(ctx context.Context, p *app.Principal) ([]domain.Member, error) {
	var out []domain.Member
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListMembers(ctx, p, page)
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

// peopleSessions reads every session of a member (revoked ones included).
func (c *Console) peopleSessions(ctx context.Context, p *app.Principal, memberID string) ([]domain.Session, error) {
	var out []domain.Session
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListMemberSessions(ctx, p, memberID, page)
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

func (c *Console) membersPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showMembers(w, r, v, http.StatusOK, newPeopleForm(), nil)
}

// showMembers renders the members page; after a refused form, with its
// status, the refusal and (for the invite form) what was typed.
func (c *Console) showMembers(w http.ResponseWriter, r *http.Request, v *viewer, status int, invite peopleForm, prob *peopleProblem) error {
	ctx := r.Context()
	ms, err := c.peopleMembers(ctx, v.P)
	if err != nil {
		return err
	}
	view := peopleMembersView{Roles: memberRoles, Help: memberRoleHelp, Invite: invite, Problem: prob, Admin: v.Can("admin")}
	now := c.svc.Now()
	for _, m := range ms {
		row := peopleMemberRow{Member: m}
		if view.Admin {
			sessions, err := c.peopleSessions(ctx, v.P, m.ID)
			if err != nil && domain.ErrorCode(err) != domain.CodeNotFound {
				return err
			}
			for _, s := range sessions {
				if s.Live(now) {
					row.Sessions++
				}
			}
		}
		view.Members = append(view.Members, row)
	}
	if view.Invite.Values["role"] == "" {
		view.Invite.Values["role"] = string(domain.RoleViewer)
	}
	return c.render(w, v, status, "members", "Members", view)
}

// memberInviteSubmit adds a member; the service mails them the invitation.
func (c *Console) memberInviteSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	in := app.MemberInput{
		Email: strings.TrimSpace(r.PostForm.Get("email")),
		Name:  strings.TrimSpace(r.PostForm.Get("name")),
		Role:  domain.Role(r.PostForm.Get("role")),
	}
	if _, err := c.svc.CreateMember(r.Context(), v.P, in); err != nil {
		de := peopleRefusal(err)
		if de == nil {
			return err
		}
		f := newPeopleForm()
		f.Values["email"], f.Values["name"], f.Values["role"] = in.Email, in.Name, string(in.Role)
		took := f.take(de, "email", "name", "role")
		prob := newPeopleProblem(de, took...)
		if len(took) > 0 && len(prob.Fields) == 0 {
			prob.Message = "The member was not added: see the messages at the form's fields."
		}
		return c.showMembers(w, r, v, problem.Status(de.Code), f, prob)
	}
	return done(w, r, "/members", "member-added")
}

// memberBack is where a member form returns to: the member's page when it was
// sent from there, else the list.
func memberBack(r *http.Request, id string) string {
	if r.PostForm.Get("from") == "member" {
		return "/members/" + id
	}
	return "/members"
}

// memberAct runs a change to a member and redirects with a message; a
// refusal shows the page the form was on again, with the refusal and its
// status.
func (c *Console) memberAct(w http.ResponseWriter, r *http.Request, v *viewer, flashKey string, do func(id string) error) error {
	id := r.PathValue("id")
	if err := do(id); err != nil {
		de := peopleRefusal(err)
		if de == nil {
			return err
		}
		if r.PostForm.Get("from") == "member" {
			return c.showMember(w, r, v, problem.Status(de.Code), newPeopleProblem(de))
		}
		return c.showMembers(w, r, v, problem.Status(de.Code), newPeopleForm(), newPeopleProblem(de))
	}
	path := memberBack(r, id)
	if flashKey == "member-removed" {
		path = "/members"
	}
	return done(w, r, path, flashKey)
}

// memberRoleSubmit changes a member's role, against the version the form showed.
// A promotion to manager or admin while approvals are on becomes a
// governance request, which the answer shows.
func (c *Console) memberRoleSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var opened *app.RequestView
	err := c.memberAct(&governedWriter{ResponseWriter: w, opened: &opened}, r, v, "member-role", func(id string) error {
		version, err := formVersion(r)
		if err != nil {
			return err
		}
		role := domain.Role(r.PostForm.Get("role"))
		out, err := c.svc.UpdateMember(r.Context(), v.P, id, version, func(m *domain.Member) error {
			m.Role = role
			return nil
		})
		opened = out.Request
		return err
	})
	return err
}

func (c *Console) memberRemoveSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.memberAct(w, r, v, "member-removed", func(id string) error {
		return c.svc.DeleteMember(r.Context(), v.P, id)
	})
}

// memberUnsuppressSubmit clears the mail suppression of a member's address
// (admins; audited member.updated), against the version the form showed.
func (c *Console) memberUnsuppressSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.memberAct(w, r, v, "member-unsuppressed", func(id string) error {
		version, err := formVersion(r)
		if err != nil {
			return err
		}
		m, err := c.svc.GetMember(r.Context(), v.P, id)
		if err != nil || m.EmailSuppressed == nil {
			return err // nothing to clear (a form sent twice): no write
		}
		_, err = c.svc.UpdateMember(r.Context(), v.P, id, version, func(m *domain.Member) error {
			m.EmailSuppressed = nil
			return nil
		})
		return err
	})
}

func (c *Console) memberReinviteSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.memberAct(w, r, v, "member-reinvited", func(id string) error {
		return c.svc.Invite(r.Context(), v.P, id)
	})
}

// peopleMemberView is a member's page.
type peopleMemberView struct {
	M        peopleMemberRow
	Roles    []domain.Role
	Sessions []peopleSessionRow // admins and the member themselves
	Manage   bool               // the viewer may manage the member (admin)
	Mine     bool               // the page is the viewer's
	Problem  *peopleProblem
}

// peopleSessionRow is a session on a member's page.
type peopleSessionRow struct {
	domain.Session
	Live    bool
	Current bool // the session of this very page
}

func (c *Console) memberPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showMember(w, r, v, http.StatusOK, nil)
}

func (c *Console) showMember(w http.ResponseWriter, r *http.Request, v *viewer, status int, prob *peopleProblem) error {
	ctx := r.Context()
	m, err := c.svc.GetMember(ctx, v.P, r.PathValue("id"))
	if err != nil {
		return err
	}
	view := peopleMemberView{M: peopleMemberRow{Member: *m}, Roles: memberRoles, Manage: v.Can("admin"), Mine: v.IsMe(m.ID), Problem: prob}
	if view.Manage || view.Mine {
		sessions, err := c.peopleSessions(ctx, v.P, m.ID)
		if err != nil {
			return err
		}
		now := c.svc.Now()
		for _, s := range sessions {
			row := peopleSessionRow{Session: s, Live: s.Live(now), Current: s.ID == v.P.SessionID}
			if row.Live {
				view.M.Sessions++
			}
			view.Sessions = append(view.Sessions, row)
		}
		sortSessionRows(view.Sessions)
	}
	return c.render(w, v, status, "member", view.M.Label(), view)
}

// sortSessionRows puts live sessions first, then the newest first.
func sortSessionRows(s []peopleSessionRow) {
	less := func(a, b peopleSessionRow) bool {
		if a.Live != b.Live {
			return a.Live
		}
		return a.CreatedAt.After(b.CreatedAt)
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// memberEndSessionSubmit ends one of a member's sessions (admins anyone's,
// members their own).
func (c *Console) memberEndSessionSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	if err := c.svc.RevokeMemberSession(r.Context(), v.P, id, r.PathValue("session")); err != nil {
		de := peopleRefusal(err)
		if de == nil {
			return err
		}
		return c.showMember(w, r, v, problem.Status(de.Code), newPeopleProblem(de))
	}
	return done(w, r, "/members/"+id, "session-ended")
}

// ---- tokens ----

// peopleTokensView is the viewer's API tokens page.
type peopleTokensView struct {
	Tokens  []domain.Token // the viewer's own
	Service []domain.Token // service tokens, for admins
	Roles   []domain.Role  // the caps a new token may have: up to the viewer's role
	Admin   bool
	Form    peopleForm
	Problem *peopleProblem
	// New is the token just created: its secret is on this answer only.
	New *app.CreatedToken
}

// peopleTokens reads every token of member ("" for every token, admins).
func (c *Console) peopleTokens(ctx context.Context, p *app.Principal, member string) ([]domain.Token, error) {
	var out []domain.Token
	page := domain.Page{Limit: domain.MaxPageLimit}
	for {
		items, next, err := c.svc.ListTokens(ctx, p, member, page)
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

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return c.showTokens(w, r, v, http.StatusOK, peopleTokensView{Form: newPeopleForm()})
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, v *viewer, status int, view peopleTokensView) error {
	ctx := r.Context()
	var err error
	if view.Tokens, err = c.peopleTokens(ctx, v.P, v.P.MemberID); err != nil {
		return err
	}
	sortTokenList(view.Tokens)
	view.Admin = v.Can("admin")
	if view.Admin {
		all, err := c.peopleTokens(ctx, v.P, "")
		if err != nil {
			return err
		}
		for _, t := range all {
			if t.Service() {
				view.Service = append(view.Service, t)
			}
		}
		sortTokenList(view.Service)
	}
	for _, role := range memberRoles {
		if v.P.Role.AtLeast(role) {
			view.Roles = append(view.Roles, role)
		}
	}
	return c.render(w, v, status, "tokens", "API tokens", view)
}

// sortTokenList puts live tokens first, then the newest first.
func sortTokenList(ts []domain.Token) {
	less := func(a, b domain.Token) bool {
		if (a.RevokedAt == nil) != (b.RevokedAt == nil) {
			return a.RevokedAt == nil
		}
		return a.CreatedAt.After(b.CreatedAt)
	}
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && less(ts[j], ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// tokenCreateSubmit creates one of the viewer's tokens and answers the page
// with its secret, once: not a redirect, so that the secret is never in
// a URL (and the answer is not cached: secureHeaders).
func (c *Console) tokenCreateSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	in := app.TokenInput{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: domain.Role(r.PostForm.Get("role"))}
	t, err := c.svc.CreateToken(r.Context(), v.P, in)
	if err != nil {
		de := peopleRefusal(err)
		if de == nil {
			return err
		}
		f := newPeopleForm()
		f.Values["name"], f.Values["role"] = in.Name, string(in.Role)
		took := f.take(de, "name", "role")
		prob := newPeopleProblem(de, took...)
		if len(took) > 0 && len(prob.Fields) == 0 {
			prob.Message = "The token was not created: see the messages at the form's fields."
		}
		return c.showTokens(w, r, v, problem.Status(de.Code), peopleTokensView{Form: f, Problem: prob})
	}
	return c.showTokens(w, r, v, http.StatusOK, peopleTokensView{Form: newPeopleForm(), New: t})
}

// tokenRevokeSubmit revokes a token: the viewer's own, or any for admins
// (another member's token is not found for others).
func (c *Console) tokenRevokeSubmit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if err := c.svc.RevokeToken(r.Context(), v.P, r.PathValue("id")); err != nil {
		de := peopleRefusal(err)
		if de == nil {
			return err
		}
		return c.showTokens(w, r, v, problem.Status(de.Code), peopleTokensView{Form: newPeopleForm(), Problem: newPeopleProblem(de)})
	}
	return done(w, r, "/tokens", "token-revoked")
}

// peopleTokenRow is a token in a table (templates/tokens.html, "token-row").
type peopleTokenRow struct {
	V *viewer
	T *domain.Token
}

// Row is a token as its table row shows it.
func (view peopleTokensView) Row(v *viewer, t domain.Token) peopleTokenRow {
	return peopleTokenRow{V: v, T: &t}
}

// Rights says what a member token may do: up to its cap, or as its member
// as their role changes.
func (row peopleTokenRow) Rights() string {
	if row.T.Role == "" && row.V.IsMe(row.T.MemberID) {
		return "yours, as your role changes"
	}
	if row.T.Role == "" {
		return "those of " + row.V.Name(row.T.MemberID)
	}
	return "at most " + string(row.T.Role)
}
