package app

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// ---- creating requests ----

// RequestInput is the body of POST /v1/change-requests: its changes, or
// one change in the fields of a one-change request (Flag, Environment,
// ProposedConfig or ProposedFlag). A draft may start without changes.
type RequestInput struct {
	Project         string
	Flag            string
	Environment     string
	Title           string
	Description     string
	ProposedConfig  *domain.FlagConfig
	ProposedFlag    *domain.Flag
	Changes         []ChangeInput
	Draft           bool
	NotifyReviewers []string
	ApplyAt         *time.Time
}

// inputs are the request's changes, and where their fields are in the body.
func (in RequestInput) inputs() ([]ChangeInput, func(int) string, error) {
	one := in.Flag != "" || in.Environment != "" || in.ProposedConfig != nil || in.ProposedFlag != nil
	switch {
	case one && in.Changes != nil:
		var v domain.Validation
		v.Add("/changes", "give either changes or the fields of one change (flag, environment, proposed_config or proposed_flag), not both")
		return nil, nil, v.Err()
	case one || (!in.Draft && in.Changes == nil):
		return []ChangeInput{{Flag: in.Flag, Environment: in.Environment, ProposedConfig: in.ProposedConfig, ProposedFlag: in.ProposedFlag}}, legacyPointer, nil
	case !in.Draft && len(in.Changes) == 0:
		var v domain.Validation
		v.Add("/changes", "a request needs at least one change (or \"draft\": true to add them later)")
		return nil, nil, v.Err()
	}
	return in.Changes, changesPointer, nil
}

// CreateRequest opens a change request explicitly, or starts a draft. In
// an environment whose settings do not require approval it is a voluntary
// review under that environment's policy.
func (s *Service) CreateRequest(ctx context.Context, p *Principal, in RequestInput) (*RequestView, error) {
	if err := p.requireIn(in.Project, domain.RoleEditor, "proposing changes"); err != nil {
		return nil, err
	}
	ins, ptr, err := in.inputs()
	if err != nil {
		return nil, err
	}
	if _, err := s.store.GetProject(ctx, in.Project); err != nil {
		return nil, err
	}
	chs, err := changesOf(in.Project, ins, ptr)
	if err != nil {
		return nil, err
	}
	pr, err := s.prepareChanges(ctx, in.Project, chs, ptr, true)
	if err != nil {
		return nil, err
	}
	cr := &domain.ChangeRequest{Project: in.Project, Changes: pr.changes, Description: in.Description, ApplyAt: in.ApplyAt}
	opts := ChangeOptions{Title: in.Title, NotifyReviewers: in.NotifyReviewers}
	if in.Draft {
		return s.openDraft(ctx, p, cr, pr, opts)
	}
	return s.openRequest(ctx, p, cr, pr, opts)
}

// openRequest opens cr, with its prepared changes pr (and a description
// and a schedule if any), under their strictest policy, taking their locks
// where an environment says so.
func (s *Service) openRequest(ctx context.Context, p *Principal, cr *domain.ChangeRequest, pr prepared, opts ChangeOptions) (*RequestView, error) {
	if err := s.readRequirements(ctx, cr.Project, &pr); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	s.start(p, cr, opts, now)
	cr.Status, cr.Policy = domain.StatusPending, pr.policy()
	if err := scheduleRequest(cr, now); err != nil {
		return nil, err
	}
	if err := s.checkNotify(ctx, cr, opts.NotifyReviewers); err != nil {
		return nil, err
	}
	cr.NotifyReviewers = append(cr.NotifyReviewers, opts.NotifyReviewers...)
	opened, err := cr.Opened(p.actorIn(cr.Project), p.channel(), now)
	if err != nil {
		return nil, err
	}
	e := s.entryOf(cr, opened, p.channel())
	e.Requester, e.Diff = cr.Requester, pr.diffs[0]
	if err := s.store.CreateChangeRequest(ctx, cr, pr.locks(), []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "change request created", "id", cr.ID, "project", cr.Project, "flag", cr.Flag, "environment", cr.Environment, "changes", len(cr.Changes), "actor", p.Actor())
	return s.view(ctx, cr)
}

// start fills a new request's identity: its id, requester, subject, and
// first revision.
func (s *Service) start(p *Principal, cr *domain.ChangeRequest, opts ChangeOptions, now time.Time) {
	cr.ID, cr.Title = newID("cr"), opts.Title
	cr.Subject()
	cr.Requester, cr.RequesterMember, cr.RequesterBehind, cr.RevisionBy = p.Actor(), p.MemberID, p.Behind, p.actorIn(cr.Project).Person()
	cr.NotifyReviewers, cr.Revision = []string{}, 1
	cr.Reviews, cr.Timeline, cr.CreatedAt, cr.UpdatedAt = []domain.Review{}, []domain.TimelineEvent{}, now, now
}

// openDraft starts cr as a draft: invisible to reviewers and timers until
// its requester submits it (Submit).
func (s *Service) openDraft(ctx context.Context, p *Principal, cr *domain.ChangeRequest, pr prepared, opts ChangeOptions) (*RequestView, error) {
	now := s.clock.Now()
	s.start(p, cr, opts, now)
	cr.Policy = pr.policy() // as its changes stand; fixed when it is submitted
	if cr.Title == "" {
		cr.Title = defaultTitle(cr)
	}
	if err := s.checkNotify(ctx, cr, opts.NotifyReviewers); err != nil {
		return nil, err
	}
	cr.NotifyReviewers = append(cr.NotifyReviewers, opts.NotifyReviewers...)
	t, err := cr.Drafted(p.actorIn(cr.Project), p.channel(), now)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateChangeRequest(ctx, cr, false, []domain.AuditEntry{s.entryOf(cr, t, p.channel())}); err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// ---- editing ----

// EditInput is the body of PATCH /v1/change-requests/{id}. Changes, when
// set, replace the request's changes; ProposedConfig or ProposedFlag
// replace the proposal of a one-change request.
type EditInput struct {
	Title           *string
	Description     *string
	ProposedConfig  *domain.FlagConfig
	ProposedFlag    *domain.Flag
	Changes         []ChangeInput
	NotifyReviewers []string
	ApplyAt         *time.Time
}

// proposals are the changes an edit proposes (its own, or cur's), and where
// their fields are in the body.
func (in EditInput) proposals(cur *domain.ChangeRequest) ([]domain.Change, func(int) string, error) {
	var v domain.Validation
	switch {
	case in.Changes != nil && (in.ProposedConfig != nil || in.ProposedFlag != nil):
		v.Add("/changes", "give either changes or proposed_config / proposed_flag, not both")
	case in.Changes != nil:
		chs, err := changesOf(cur.Project, in.Changes, changesPointer)
		return chs, changesPointer, err
	case in.ProposedConfig == nil && in.ProposedFlag == nil:
		return slices.Clone(cur.Changes), changesPointer, nil
	case in.ProposedConfig != nil && len(cur.Changes) > 1:
		// the console edits one change's targeting of a request with several
		t := domain.Target{Kind: domain.KindTargeting, Flag: in.ProposedConfig.Flag, Environment: in.ProposedConfig.Environment}
		out := slices.Clone(cur.Changes)
		if ch, ok := (&domain.ChangeRequest{Changes: out}).Change(t); ok {
			next := *in.ProposedConfig
			ch.ProposedConfig = &next
			return out, changesPointer, nil
		}
		v.Add("/changes", "this request has %d changes: send them all in changes", len(cur.Changes))
	case len(cur.Changes) != 1:
		v.Add("/changes", "this request has %d changes: send them all in changes", len(cur.Changes))
	case in.ProposedFlag != nil && cur.Changes[0].Kind != domain.KindFlag:
		v.Add("/proposed_flag", "this request proposes targeting; send proposed_config")
	case in.ProposedConfig != nil && cur.Changes[0].Kind != domain.KindTargeting:
		v.Add("/proposed_config", "this request proposes a flag-level change; send proposed_flag")
	default:
		ch := cur.Changes[0]
		ch.ProposedConfig, ch.ProposedFlag = in.ProposedConfig, in.ProposedFlag
		if ch.ProposedConfig != nil {
			next := *ch.ProposedConfig
			ch.ProposedConfig = &next
		}
		return []domain.Change{ch}, legacyPointer, nil
	}
	return nil, nil, v.Err()
}

// EditRequest makes a new revision: approvals are cleared and every
// change's base moves to the current live state. The policy may only
// tighten; locks follow the changes.
func (s *Service) EditRequest(ctx context.Context, p *Principal, id string, expected *int64, in EditInput) (*RequestView, error) {
	cur, err := s.readRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := p.requireIn(cur.Project, domain.RoleEditor, "editing change requests"); err != nil {
		return nil, err
	}
	if err := cur.CheckEdit(p.actorIn(cur.Project), s.clock.Now()); err != nil {
		return nil, err
	}
	chs, ptr, err := in.proposals(cur)
	if err != nil {
		return nil, err
	}
	pr, err := s.prepareChanges(ctx, cur.Project, chs, ptr, false)
	if err != nil {
		return nil, err
	}
	if in.NotifyReviewers != nil {
		if err := s.checkNotify(ctx, cur, in.NotifyReviewers); err != nil {
			return nil, err
		}
	}
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if err := checkVersion("change request", expected, cr.Version); err != nil {
			return err
		}
		released := cr.LockTargets()
		t, err := cr.Edit(p.actorIn(cr.Project), in.Title, in.Description, pr.changes, s.clock.Now())
		if err != nil {
			return err
		}
		if cr.Status == domain.StatusDraft {
			cr.Policy = pr.policy()
		} else {
			cr.Policy = pr.tighten(cr.Policy)
			lockWrite(w, cr, released, pr.locks())
		}
		if err := editExtras(cr, in); err != nil {
			return err
		}
		w.Record(s.entryOf(cr, t, p.channel()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// lockWrite says in w what an edit (or the submission) of cr does to
// locks, before being the targets cr had: the locks of targets it no
// longer changes are released; a new target's lock is taken when the
// request locks (as its creation would have), checked otherwise; the
// others stay as they are.
func lockWrite(w *domain.RequestWrite, cr *domain.ChangeRequest, before []domain.Target, lock bool) {
	now := cr.LockTargets()
	for _, t := range before {
		if !slices.Contains(now, t) {
			w.ReleaseLocks = append(w.ReleaseLocks, t)
		}
	}
	for _, t := range now {
		switch {
		case slices.Contains(before, t):
		case lock:
			w.TakeLocks = append(w.TakeLocks, t)
		default:
			w.CheckLocks = append(w.CheckLocks, t)
		}
	}
}

// editExtras applies an edit's reviewers and schedule to cr.
func editExtras(cr *domain.ChangeRequest, in EditInput) error {
	if in.NotifyReviewers != nil {
		cr.NotifyReviewers = slices.Clone(in.NotifyReviewers)
	}
	if in.ApplyAt != nil {
		at, err := applyAtUTC(*in.ApplyAt)
		if err != nil {
			return err
		}
		cr.ApplyAt = &at
	}
	return nil
}

// ---- drafts ----

// Submit sends a draft to review: its policy (the strictest of its
// changes' environments) is fixed, its locks taken, its timers started,
// and its reviewers told.
func (s *Service) Submit(ctx context.Context, p *Principal, id string) (*RequestView, error) {
	cur, err := s.readRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := p.requireIn(cur.Project, domain.RoleEditor, "submitting change requests"); err != nil {
		return nil, err
	}
	pr, err := s.prepareChanges(ctx, cur.Project, cur.Changes, changesPointer, false)
	if err != nil {
		return nil, err
	}
	cr, err := s.store.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
		if cr.Version != cur.Version {
			return domain.ErrContention // changed while its policy was read: submit again
		}
		now := s.clock.Now()
		cr.Changes = pr.changes // rebased onto the live state of now
		t, err := cr.Submit(p.actorIn(cr.Project), pr.policy(), p.channel(), now)
		if err != nil {
			return err
		}
		if err := scheduleRequest(cr, now); err != nil {
			return err
		}
		lockWrite(w, cr, nil, pr.locks())
		e := s.entryOf(cr, t, p.channel())
		e.Requester, e.Diff = cr.Requester, pr.diffs[0]
		w.Record(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.view(ctx, cr)
}

// AddToDraft adds a change to draft id, or replaces its change of the same
// target: a write route carrying the draft's header proposes into the draft
// instead of writing or opening a request.
func (s *Service) AddToDraft(ctx context.Context, p *Principal, id string, in ChangeInput) (*RequestView, error) {
	return s.changeDraft(ctx, p, id, func(cur *domain.ChangeRequest) ([]domain.Change, error) {
		ch, err := in.change(cur.Project, "")
		if err != nil {
			return nil, err
		}
		out := slices.Clone(cur.Changes)
		if c, ok := (&domain.ChangeRequest{Changes: out}).Change(ch.Target()); ok {
			*c = ch
			return out, nil
		}
		if len(out) == domain.MaxChanges {
			return nil, domain.ErrTooManyChanges
		}
		return append(out, ch), nil
	})
}

// RemoveChange removes change n (from 0) of request id; after submission
// that is an edit (a new revision).
func (s *Service) RemoveChange(ctx context.Context, p *Principal, id string, n int) (*RequestView, error) {
	return s.changeDraft(ctx, p, id, func(cur *domain.ChangeRequest) ([]domain.Change, error) {
		if n < 0 || n >= len(cur.Changes) {
			return nil, domain.NotFound("change", strconv.Itoa(n))
		}
		if len(cur.Changes) == 1 && cur.Status != domain.StatusDraft {
			return nil, domain.Errorf(domain.CodeConflict, "this is the request's only change; withdraw the request instead")
		}
		return slices.Delete(slices.Clone(cur.Changes), n, n+1), nil
	})
}

// changeDraft edits request id's changes to what next makes of them.
func (s *Service) changeDraft(ctx context.Context, p *Principal, id string, next func(*domain.ChangeRequest) ([]domain.Change, error)) (*RequestView, error) {
	cur, err := s.readRequest(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := p.requireIn(cur.Project, domain.RoleEditor, "editing change requests"); err != nil {
		return nil, err
	}
	if err := cur.CheckEdit(p.actorIn(cur.Project), s.clock.Now()); err != nil {
		return nil, err
	}
	chs, err := next(cur)
	if err != nil {
		return nil, err
	}
	ins := make([]ChangeInput, len(chs))
	for i, ch := range chs {
		ins[i] = ChangeInput{Flag: ch.Flag, Environment: ch.Environment, Segment: ch.Segment,
			ProposedConfig: ch.ProposedConfig, ProposedFlag: ch.ProposedFlag, ProposedSegment: ch.ProposedSegment}
	}
	v := cur.Version
	return s.EditRequest(ctx, p, id, &v, EditInput{Changes: ins})
}

// draftConfig proposes change of the targeting of flag in env into draft
// id (a targeting write carrying the draft's header).
func (s *Service) draftConfig(ctx context.Context, p *Principal, project, flag, env string, expected *int64, id string, change func(*domain.FlagConfig) error) (*RequestView, error) {
	_, cur, err := s.store.GetFlagConfig(ctx, project, flag, env)
	if err != nil {
		return nil, err
	}
	if err := checkVersion("targeting", expected, cur.Version); err != nil {
		return nil, err
	}
	next := *cur
	if err := changeConfig(cur, &next, change); err != nil {
		return nil, err
	}
	return s.AddToDraft(ctx, p, id, ChangeInput{Flag: flag, Environment: env, ProposedConfig: &next})
}

// proposeOne opens the request of one change that a write route made
// (ch, on the live state l), under the policy of gates.
func (s *Service) proposeOne(ctx context.Context, p *Principal, ch domain.Change, l live, gates []gate, opts ChangeOptions) (*RequestView, error) {
	if l.flag.Archived && (ch.ProposedFlag == nil || ch.ProposedFlag.Archived) {
		return nil, domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before proposing changes", l.flag.Key)
	}
	d, err := proposalOf(&ch).diff(&ch, l)
	if err != nil {
		return nil, err
	}
	if d.Empty() {
		var v domain.Validation
		v.Add("/proposed_config", "the proposal changes nothing")
		return nil, v.Err()
	}
	cr := &domain.ChangeRequest{Project: l.flag.Project, Changes: []domain.Change{ch}}
	return s.openRequest(ctx, p, cr, prepared{changes: cr.Changes, diffs: []*domain.Diff{d}, gates: gates}, opts)
}
