package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// Change freezes (docs/governance-design.md, "Change freezes"): windows
// during which nothing applies in the environments they name. The calendar
// is one item (domain.FreezeCalendar); a freeze of a project belongs to
// that project (its managers write it, its readers see it), a freeze of
// every project to the organisation (its managers write it, every member
// sees it).
//
// What a freeze holds: direct writes in its environments are refused
// (CodeFrozen, naming the freeze), gated or not, unless a holder of the
// environment's bypass grant gives a reason (passFreeze); requests still
// open, but do not apply (apply refuses, an approval that would apply
// holds the request, a scheduled apply holds or fails as the freeze says:
// timers.go). The check reads the calendar before the write, not inside
// the store's atomic write: a freeze created in the same instant as a
// write in flight may miss it.

// FreezeInput is a freeze as a client writes it (POST /v1/freezes).
type FreezeInput struct {
	Name         string
	Reason       string
	Project      string
	Environments []string
	From, To     *time.Time
	Start, End   string
	TimeZone     string
	Scheduled    domain.FreezeSchedule
}

// FreezeFilter narrows a list of freezes: those of a project (and those of
// every project), those covering an environment, those in force at an
// instant.
type FreezeFilter struct {
	Project, Environment string
	ActiveAt             *time.Time
}

// seesFreeze reports whether p may read f: a freeze of every project is
// everyone's who reads something, a project's is its readers'.
func (p *Principal) seesFreeze(f *domain.Freeze) bool {
	if f.Project == "" {
		return p.requireSomewhere(domain.RoleViewer, "reading freezes") == nil
	}
	return p.canRead(f.Project)
}

// requireFreezeWriter checks p may write a freeze of project ("" for every
// project): a manager there, or of the organisation.
func (p *Principal) requireFreezeWriter(project, action string) error {
	if project == "" {
		return p.requireOrg(domain.RoleManager, action+" of every project")
	}
	return p.requireIn(project, domain.RoleManager, action)
}

// ListFreezes lists the freezes p may read, in the calendar's order.
func (s *Service) ListFreezes(ctx context.Context, p *Principal, f FreezeFilter) ([]domain.Freeze, error) {
	if err := p.requireSomewhere(domain.RoleViewer, "reading freezes"); err != nil {
		return nil, err
	}
	cal, err := s.store.GetFreezes(ctx)
	if err != nil {
		return nil, err
	}
	out := []domain.Freeze{}
	for i := range cal.Freezes {
		fz := &cal.Freezes[i]
		if !p.seesFreeze(fz) || (f.Project != "" && fz.Project != "" && fz.Project != f.Project) ||
			(f.Environment != "" && len(fz.Environments) > 0 && !slices.Contains(fz.Environments, f.Environment)) {
			continue
		}
		if f.ActiveAt != nil {
			if _, _, active := fz.Window(*f.ActiveAt); !active {
				continue
			}
		}
		out = append(out, *fz)
	}
	return out, nil
}

// GetFreeze reads a freeze; one p may not read does not exist for p.
func (s *Service) GetFreeze(ctx context.Context, p *Principal, id string) (*domain.Freeze, error) {
	cal, err := s.store.GetFreezes(ctx)
	if err != nil {
		return nil, err
	}
	f := cal.Freeze(id)
	if f == nil || !p.seesFreeze(f) {
		return nil, domain.NotFound("freeze", id)
	}
	return f, nil
}

// CreateFreeze adds a freeze to the calendar (a manager of its project, or
// of the organisation for a freeze of every project).
func (s *Service) CreateFreeze(ctx context.Context, p *Principal, in FreezeInput) (*domain.Freeze, error) {
	if err := p.requireFreezeWriter(in.Project, "creating a freeze"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	f := domain.Freeze{ID: newID("fz"), Name: in.Name, Reason: in.Reason, Project: in.Project, Environments: slices.Clone(in.Environments),
		From: in.From, To: in.To, Start: in.Start, End: in.End, TimeZone: in.TimeZone, Scheduled: in.Scheduled,
		Version: 1, CreatedBy: p.Actor(), CreatedAt: now, UpdatedAt: now}
	if err := s.checkFreeze(ctx, &f, now); err != nil {
		return nil, err
	}
	_, err := s.store.UpdateFreezes(ctx, func(cal *domain.FreezeCalendar, audit *domain.Audit) error {
		cal.Freezes = append(cal.Freezes, f)
		if err := cal.Validate(); err != nil {
			return err
		}
		e := s.freezeEntry(p, domain.ActionFreezeCreated, &f)
		e.Version = 1
		e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("freeze %q created: %s", f.Name, describeFreeze(&f))}}
		audit.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "freeze created", "freeze", f.ID, "project", f.Project, "actor", p.Actor())
	return &f, nil
}

// UpdateFreeze applies change to a freeze, at the version the client read
// when expected is set (a stale one is 409). Moving a freeze from one
// project to another needs the manager role in both. While approvals are
// on, a change that narrows the freeze (domain.WeakenedFreeze) opens a
// governance request instead; one that widens it applies directly.
func (s *Service) UpdateFreeze(ctx context.Context, p *Principal, id string, expected *int64, change func(*domain.Freeze) error) (Outcome[domain.Freeze], error) {
	out, g, err := decidedAgain(func() (*domain.Freeze, *domain.GovernanceChange, error) {
		return s.updateFreeze(ctx, p, id, expected, change)
	})
	return governedOutcome(ctx, s, p, out, err, g)
}

// updateFreeze is UpdateFreeze's decision and write: the freeze written,
// or the governance change to open instead (with errGoverned).
func (s *Service) updateFreeze(ctx context.Context, p *Principal, id string, expected *int64, change func(*domain.Freeze) error) (*domain.Freeze, *domain.GovernanceChange, error) {
	cur, err := s.GetFreeze(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	if err := p.requireFreezeWriter(cur.Project, "changing a freeze"); err != nil {
		return nil, nil, err
	}
	if err := checkVersion("freeze", expected, cur.Version); err != nil {
		return nil, nil, err
	}
	now := s.clock.Now()
	next := cloneFreeze(cur)
	if err := change(next); err != nil {
		return nil, nil, err
	}
	keepFreezeIdentity(next, cur)
	if next.Project != cur.Project {
		if err := p.requireFreezeWriter(next.Project, "moving a freeze"); err != nil {
			return nil, nil, err
		}
	}
	if err := s.checkFreeze(ctx, next, now); err != nil {
		return nil, nil, err
	}
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out domain.Freeze
	var g *domain.GovernanceChange
	_, err = s.store.UpdateFreezes(ctx, func(cal *domain.FreezeCalendar, audit *domain.Audit) error {
		g = nil
		stored := cal.Freeze(id)
		if stored == nil {
			return domain.NotFound("freeze", id)
		}
		if err := checkVersion("freeze", expected, stored.Version); err != nil {
			return err
		}
		if stored.Version != cur.Version {
			return domain.ErrContention // changed meanwhile: the checks read another freeze
		}
		before := cloneFreeze(stored)
		out = *cloneFreeze(next)
		out.CreatedBy, out.CreatedAt, out.UpdatedAt, out.Version = before.CreatedBy, before.CreatedAt, now, before.Version+1
		if weak := domain.WeakenedFreeze(before, &out, now); governed && len(weak) > 0 {
			g = &domain.GovernanceChange{What: domain.GovernFreeze, Project: before.Project, Freeze: id, NewFreeze: cloneFreeze(&out), BaseFreeze: before, Weakens: weak}
			return errGoverned
		}
		*stored = out
		if err := cal.Validate(); err != nil {
			return err
		}
		audit.Guard = guard // decided with approvals off: only while they are
		audit.Record(s.freezeUpdatedEntry(p, before, &out))
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	s.log.InfoContext(ctx, "freeze updated", "freeze", id, "actor", p.Actor())
	return &out, nil, nil
}

// freezeUpdatedEntry is the audit entry of freeze before updated to after.
func (s *Service) freezeUpdatedEntry(p *Principal, before, after *domain.Freeze) domain.AuditEntry {
	e := s.freezeEntry(p, domain.ActionFreezeUpdated, after)
	e.Version = after.Version
	if d, err := domain.AnyDiff(before, after); err == nil {
		d.Summary = []string{fmt.Sprintf("freeze %q: %s → %s", after.Name, describeFreeze(before), describeFreeze(after))}
		e.Diff = d
	}
	return e
}

// DeleteFreeze removes a freeze from the calendar. While approvals are on,
// removing a freeze that is, or will be, in force opens a governance
// request instead (Applied is then nil).
func (s *Service) DeleteFreeze(ctx context.Context, p *Principal, id string) (Outcome[domain.Freeze], error) {
	out, g, err := decidedAgain(func() (*domain.Freeze, *domain.GovernanceChange, error) {
		return s.deleteFreeze(ctx, p, id)
	})
	return governedOutcome(ctx, s, p, out, err, g)
}

// deleteFreeze is DeleteFreeze's decision and write: the freeze deleted,
// or the governance change to open instead (with errGoverned).
func (s *Service) deleteFreeze(ctx context.Context, p *Principal, id string) (*domain.Freeze, *domain.GovernanceChange, error) {
	cur, err := s.GetFreeze(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	if err := p.requireFreezeWriter(cur.Project, "deleting a freeze"); err != nil {
		return nil, nil, err
	}
	governed, guard, err := s.rulesRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := s.clock.Now()
	var f domain.Freeze
	var g *domain.GovernanceChange
	_, err = s.store.UpdateFreezes(ctx, func(cal *domain.FreezeCalendar, audit *domain.Audit) error {
		g = nil
		i := slices.IndexFunc(cal.Freezes, func(f domain.Freeze) bool { return f.ID == id })
		if i < 0 {
			return domain.NotFound("freeze", id)
		}
		f = cal.Freezes[i]
		if f.Project != cur.Project {
			return domain.ErrContention
		}
		if weak := domain.WeakenedFreeze(&f, nil, now); governed && len(weak) > 0 {
			g = &domain.GovernanceChange{What: domain.GovernFreeze, Project: f.Project, Freeze: id, BaseFreeze: cloneFreeze(&f), Weakens: weak}
			return errGoverned
		}
		cal.Freezes = slices.Delete(cal.Freezes, i, i+1)
		audit.Guard = guard // decided with approvals off: only while they are
		audit.Record(s.freezeDeletedEntry(p, &f))
		return nil
	})
	if err != nil {
		return nil, g, err
	}
	s.log.InfoContext(ctx, "freeze deleted", "freeze", id, "actor", p.Actor())
	return &f, nil, nil
}

func (s *Service) freezeDeletedEntry(p *Principal, f *domain.Freeze) domain.AuditEntry {
	e := s.freezeEntry(p, domain.ActionFreezeDeleted, f)
	e.Diff = &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{fmt.Sprintf("freeze %q deleted: %s", f.Name, describeFreeze(f))}}
	return e
}

// applyFreezeChange writes freeze governance change g onto cal, the
// calendar as the store read it: the freeze as g leaves it, or deleted.
// record checks the freeze's version as read (live) against g's base and
// records the write (its audit entries, the request applied).
func (s *Service) applyFreezeChange(cal *domain.FreezeCalendar, g *domain.GovernanceChange, now time.Time, record func(live int64, written, base *domain.Freeze, action domain.AuditAction) error) error {
	i := slices.IndexFunc(cal.Freezes, func(f domain.Freeze) bool { return f.ID == g.Freeze })
	if i < 0 {
		return domain.Errorf(domain.CodeConflict, "freeze %s was deleted since this request was made: there is nothing to apply", g.Freeze)
	}
	base := cloneFreeze(&cal.Freezes[i])
	if g.NewFreeze == nil {
		cal.Freezes = slices.Delete(cal.Freezes, i, i+1)
		return record(base.Version, nil, base, domain.ActionFreezeDeleted)
	}
	out := cloneFreeze(g.NewFreeze)
	out.ID, out.CreatedBy, out.CreatedAt, out.Version, out.UpdatedAt = base.ID, base.CreatedBy, base.CreatedAt, base.Version+1, now
	cal.Freezes[i] = *out
	if err := cal.Validate(); err != nil {
		return err
	}
	return record(base.Version, out, base, domain.ActionFreezeUpdated)
}

// checkFreeze fills a freeze's defaults and validates it at now (422 with
// pointers); a project freeze must name a project that exists.
func (s *Service) checkFreeze(ctx context.Context, f *domain.Freeze, now time.Time) error {
	if f.Scheduled == "" {
		f.Scheduled = domain.FreezeHold
	}
	if f.Environments == nil {
		f.Environments = []string{}
	}
	if f.From != nil {
		t := f.From.UTC()
		f.From = &t
	}
	if f.To != nil {
		t := f.To.UTC()
		f.To = &t
	}
	if err := f.Validate(now); err != nil {
		return err
	}
	if f.Project != "" {
		_, err := s.store.GetProject(ctx, f.Project)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			var v domain.Validation
			v.Add("/project", "no project has key %q", f.Project)
			return v.Err()
		}
		return err
	}
	return nil
}

func (s *Service) freezeEntry(p *Principal, action domain.AuditAction, f *domain.Freeze) domain.AuditEntry {
	e := s.audit(p.Actor(), action, p.channel())
	e.Project, e.Freeze, e.Reason = f.Project, f.ID, f.Reason
	return e
}

// describeFreeze says in a line what a freeze freezes, and when.
func describeFreeze(f *domain.Freeze) string {
	where := "every environment"
	if len(f.Environments) > 0 {
		where = strings.Join(f.Environments, ", ")
	}
	if f.Project == "" {
		where += " of every project"
	} else {
		where += " of " + f.Project
	}
	when := ""
	switch {
	case f.Recurring():
		when = fmt.Sprintf("from %q to %q (%s)", f.Start, f.End, f.TimeZone)
	case f.From != nil && f.To != nil:
		when = fmt.Sprintf("from %s to %s", f.From.UTC().Format(time.RFC3339), f.To.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s, %s, scheduled applies %s", where, when, f.Scheduled)
}

func cloneFreeze(f *domain.Freeze) *domain.Freeze {
	c := *f
	c.Environments = slices.Clone(f.Environments)
	return &c
}

func keepFreezeIdentity(next, cur *domain.Freeze) {
	next.ID, next.Version, next.CreatedBy, next.CreatedAt, next.UpdatedAt = cur.ID, cur.Version, cur.CreatedBy, cur.CreatedAt, cur.UpdatedAt
}

// ---- what a freeze holds ----

// freezeHit is a freeze in force over a change: the freeze, the first of
// the change's environments it covers, and until when the environments
// stay frozen (windows that touch chained).
type freezeHit struct {
	freeze domain.Freeze
	env    string
	until  time.Time
}

// What a frozen problem tells the caller to do.
const (
	frozenWriteAdvice = "write again after it, or bypass with a grant and a reason (bypass_reason)"
	frozenApplyAdvice = "it applies after the freeze, or bypass with a grant and a reason"
	frozenFailAdvice  = "the freeze fails scheduled applies, so the schedule is dropped; edit the request to schedule it again"
)

// failedByFreeze is de, a frozen refusal of an apply, as the reason a
// schedule failed.
func failedByFreeze(de *domain.Error) *domain.Error {
	out := *de
	out.Message = strings.TrimSuffix(de.Message, frozenApplyAdvice) + frozenFailAdvice
	return &out
}

// problem is the frozen refusal naming the freeze, ending with advice.
func (h *freezeHit) problem(advice string) *domain.Error {
	loc, err := h.freeze.Location()
	if err != nil {
		loc = time.UTC
	}
	until := h.until.In(loc)
	zone := ""
	if h.freeze.TimeZone != "" {
		zone = " (" + h.freeze.TimeZone + ")"
	}
	return &domain.Error{Code: domain.CodeFrozen,
		Message: fmt.Sprintf("%s is frozen by %q (%s) until %s%s; %s", h.env, h.freeze.Name, h.freeze.ID, until.Format(time.RFC3339), zone, advice),
		Freeze:  &domain.FreezeRef{ID: h.freeze.ID, Name: h.freeze.Name, Until: until}}
}

func hitOf(cal *domain.FreezeCalendar, project string, envs []string, at time.Time) *freezeHit {
	f, until, ok := cal.Active(project, envs, at)
	if !ok {
		return nil
	}
	h := &freezeHit{freeze: *f, until: until}
	for _, e := range envs {
		if f.Covers(project, e) {
			h.env = e
			break
		}
	}
	return h
}

// passFreeze decides a direct write now to the environments of gates (of
// project): "" when no freeze holds any of them; a frozen problem when
// one does and no reason is given; forbidden when p holds no bypass grant
// in one of the frozen environments; else the id of the freeze the bypass
// passes, for its audit entry (ActionBypass with Freeze). It answers too
// the version of the freeze calendar it decided on (nil when it read
// none: no environment to decide), which the write's guard names
// (SettingsGuard.Freezes), so that a freeze created since refuses the
// write and the decision is made again.
func (s *Service) passFreeze(ctx context.Context, p *Principal, project string, gates []gate, reason string) (string, *int64, error) {
	if len(gates) == 0 {
		return "", nil, nil
	}
	cal, err := s.store.GetFreezes(ctx)
	if err != nil {
		return "", nil, err
	}
	id, err := s.passFreezeOn(cal, p, project, gates, reason)
	return id, &cal.Version, err
}

// passFreezeOn is passFreeze on the calendar cal, as read.
func (s *Service) passFreezeOn(cal *domain.FreezeCalendar, p *Principal, project string, gates []gate, reason string) (string, error) {
	var envs []string
	for _, g := range gates {
		if !slices.Contains(envs, g.env) {
			envs = append(envs, g.env)
		}
	}
	if len(envs) == 0 {
		return "", nil
	}
	now := s.clock.Now()
	h := hitOf(cal, project, envs, now)
	if h == nil {
		return "", nil
	}
	if reason == "" {
		return "", h.problem(frozenWriteAdvice)
	}
	for _, g := range gates {
		if hitOf(cal, project, []string{g.env}, now) != nil && !g.settings.CanBypass(p.MemberID, p.TokenID) {
			return "", domain.Errorf(domain.CodeForbidden, "%s is frozen by %q (%s) and you hold no bypass grant there", g.env, h.freeze.Name, h.freeze.ID)
		}
	}
	return h.freeze.ID, nil
}

// frozenFlagGates are the gates of the environments of cur's project that
// a freeze of cal holds now and where the flag change from cur to next
// changes what users see (flagChangeShows), gated or not.
func (s *Service) frozenFlagGates(ctx context.Context, org *domain.OrgSettings, cal *domain.FreezeCalendar, cur, next *domain.Flag) ([]gate, error) {
	if len(cal.Freezes) == 0 {
		return nil, nil
	}
	now := s.clock.Now()
	var out []gate
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
		return s.store.ListEnvironments(ctx, cur.Project, pg)
	}, func(env domain.Environment) error {
		if hitOf(cal, cur.Project, []string{env.Key}, now) == nil {
			return nil
		}
		_, c, err := s.store.GetFlagConfig(ctx, cur.Project, cur.Key, env.Key)
		if err != nil {
			return err
		}
		if !flagChangeShows(cur, next, c) {
			return nil
		}
		g, err := s.gateFor(ctx, org, cur, cur.Project, env.Key)
		if err == nil {
			out = append(out, g)
		}
		return err
	})
	return out, err
}

// passFlagFreeze is passFreeze for a flag change: the environments it
// shows in that a freeze holds, decided on one read of the calendar.
// It also answers those gates (the review after a bypass draws on them),
// and the calendar's version (nil for a change no freeze can hold).
func (s *Service) passFlagFreeze(ctx context.Context, p *Principal, org *domain.OrgSettings, cur, next *domain.Flag, reason string) (string, []gate, *int64, error) {
	if !mayNeedApproval(cur, next) {
		return "", nil, nil, nil
	}
	cal, err := s.store.GetFreezes(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	gates, err := s.frozenFlagGates(ctx, org, cal, cur, next)
	if err != nil {
		return "", nil, nil, err
	}
	freeze, err := s.passFreezeOn(cal, p, cur.Project, gates, reason)
	return freeze, gates, &cal.Version, err
}

// frozenAudit marks e as the bypass of freeze (when one was passed).
func frozenAudit(e *domain.AuditEntry, freeze, reason string) {
	if freeze != "" {
		e.Action, e.Reason, e.Freeze = domain.ActionBypass, reason, freeze
	}
}

// requestEnvironments are the environments a request's changes show in:
// each targeting change's own and those of its policy (the critical
// environments of flag changes, the gated environments using a segment).
func requestEnvironments(cr *domain.ChangeRequest) []string {
	var out []string
	add := func(e string) {
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for i := range cr.Changes {
		add(cr.Changes[i].Environment)
	}
	for _, e := range cr.Policy.Environments {
		add(e)
	}
	return out
}

// frozenRequest refuses the apply of cr at at while a freeze holds any
// environment of its changes. Otherwise it answers the version of the
// calendar it read (nil when it read none), which the apply's write
// names (ApplyWrite.Freezes).
func (s *Service) frozenRequest(ctx context.Context, cr *domain.ChangeRequest, at time.Time) (*int64, error) {
	envs := requestEnvironments(cr)
	if len(envs) == 0 {
		return nil, nil
	}
	cal, err := s.store.GetFreezes(ctx)
	if err != nil {
		return nil, err
	}
	if h := hitOf(cal, cr.Project, envs, at); h != nil {
		return nil, h.problem(frozenApplyAdvice)
	}
	return &cal.Version, nil
}

// holdFrozen holds request id (approved, set to apply by itself) for the
// freeze of de until its end; true when it did. A request that is no
// longer approved is left alone.
func (s *Service) holdFrozen(ctx context.Context, id string, de *domain.Error) (bool, error) {
	held := false
	_, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if cr.Status != domain.StatusApproved {
			return errNoop
		}
		t, err := cr.Hold(de.Freeze.ID, de.Freeze.Until, s.clock.Now())
		if err != nil {
			return err
		}
		held = true
		e := s.entryOf(cr, t, ChannelSystem)
		e.Freeze, e.Requester, e.Reason = de.Freeze.ID, cr.Requester, de.Message
		w.Record(e)
		return nil
	})
	if err != nil && !errors.Is(err, errNoop) {
		return false, err
	}
	return held, nil
}

// holdsFor reports whether a timer's apply of request id that the freeze
// of de refused holds until the freeze's end: an apply on approval always
// does; a scheduled one (apply_at) as the freeze's Scheduled says (hold
// when the freeze is gone meanwhile), else its schedule fails.
func (s *Service) holdsFor(ctx context.Context, id string, de *domain.Error) bool {
	cr, err := s.store.GetChangeRequest(ctx, id)
	if err != nil || cr.ApplyAt == nil {
		return true
	}
	cal, err := s.store.GetFreezes(ctx)
	if err == nil {
		if f := cal.Freeze(de.Freeze.ID); f != nil && f.Scheduled == domain.FreezeFail {
			return false
		}
	}
	return true
}

// FreezeBypassReviewers are the members to tell of a bypass during a
// freeze (an ActionBypass entry naming Freeze): the reviewers of each
// environment the bypass passed the freeze in (its entry's environment,
// else the freeze's environments, else every environment of the project),
// that is the designated reviewers where reviewers are designated, and
// else the members who are editors or above in the project. The notifier
// mails them.
func (s *Service) FreezeBypassReviewers(ctx context.Context, e *domain.AuditEntry) ([]string, error) {
	if e.Action != domain.ActionBypass || e.Freeze == "" || e.Project == "" {
		return nil, nil
	}
	var envs []string
	switch {
	case e.Environment != "":
		envs = []string{e.Environment}
	default:
		cal, err := s.store.GetFreezes(ctx)
		if err != nil {
			return nil, err
		}
		if f := cal.Freeze(e.Freeze); f != nil && len(f.Environments) > 0 {
			envs = f.Environments
		} else if err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
			return s.store.ListEnvironments(ctx, e.Project, pg)
		}, func(env domain.Environment) error {
			envs = append(envs, env.Key)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	var members []domain.Member
	if err := forEach(ctx, s.store.ListMembers, func(m domain.Member) error {
		members = append(members, m)
		return nil
	}); err != nil {
		return nil, err
	}
	var out []string
	actor, _ := strings.CutPrefix(e.Actor, "member:")
	for _, env := range envs {
		a, err := s.store.GetApprovalSettings(ctx, e.Project, env)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			role := m.RoleIn(e.Project)
			ok := role.AtLeast(domain.RoleEditor)
			if a.Reviewers == domain.ReviewersDesignated {
				ok = slices.Contains(a.DesignatedReviewers, m.ID) || role == domain.RoleAdmin
			}
			if ok && m.ID != actor && !slices.Contains(out, m.ID) {
				out = append(out, m.ID)
			}
		}
	}
	return out, nil
}
