package app

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/countersign/countersign/internal/domain"
)

// FlagInput is what a client sends to create a flag. Key, bucketing unit,
// salt and evaluation mode have defaults.
type FlagInput struct {
	Key            string                `json:"key"`
	Name           string                `json:"name"`
	Description    string                `json:"description"`
	Tags           []string              `json:"tags"`
	Maintainer     string                `json:"maintainer"`
	MaintainerTeam string                `json:"maintainer_team"`
	BucketingUnit  string                `json:"bucketing_unit"`
	BucketingSalt  string                `json:"bucketing_salt"`
	EvaluationMode domain.EvaluationMode `json:"evaluation_mode"`
	Variants       []domain.Variant      `json:"variants"`
	// ClientExposed: client keys may evaluate the flag. A new flag serves
	// nothing until its targeting is written (gated where approval is
	// required), so creating it exposed needs no approval.
	ClientExposed bool `json:"client_exposed"`
}

// CreateFlag creates a flag. Its key is made from its name when not given.
func (s *Service) CreateFlag(ctx context.Context, p *Principal, project string, in FlagInput) (*domain.Flag, error) {
	if err := p.requireIn(project, domain.RoleEditor, "creating a flag"); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	f := &domain.Flag{
		Project: project, Key: in.Key, Name: in.Name, Description: in.Description, Tags: in.Tags,
		Maintainer: in.Maintainer, MaintainerTeam: in.MaintainerTeam, BucketingUnit: in.BucketingUnit, BucketingSalt: in.BucketingSalt,
		EvaluationMode: in.EvaluationMode, Variants: in.Variants, CreatedAt: now, UpdatedAt: now, ClientExposed: in.ClientExposed,
	}
	if f.Key == "" {
		f.Key = domain.Slugify(in.Name)
		if f.Key == "" && in.Name != "" {
			var v domain.Validation
			v.Add("/key", "cannot make a key from the name %q; give a key", in.Name)
			return nil, v.Err()
		}
	}
	if f.Tags == nil {
		f.Tags = []string{}
	}
	if f.Maintainer == "" {
		f.Maintainer = p.MemberID
	}
	if f.BucketingUnit == "" {
		f.BucketingUnit = domain.DefaultBucketingUnit
	}
	if f.BucketingSalt == "" {
		f.BucketingSalt = randomString(5)
	}
	if f.EvaluationMode == "" {
		f.EvaluationMode = domain.EvaluationRemote
	}
	for i := range f.Variants {
		if len(f.Variants[i].Value) == 0 {
			f.Variants[i].Value, _ = json.Marshal(f.Variants[i].Key)
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkMaintainer(ctx, f.Maintainer); err != nil {
		return nil, err
	}
	if err := s.checkMaintainerTeam(ctx, f.MaintainerTeam); err != nil {
		return nil, err
	}
	e := s.audit(p.Actor(), domain.ActionFlagCreated, p.channel())
	e.Project, e.Flag, e.Version = project, f.Key, 1
	if err := s.store.CreateFlag(ctx, f, []domain.AuditEntry{e}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag created", "project", project, "flag", f.Key, "actor", p.Actor())
	return f, nil
}

func (s *Service) checkMaintainer(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	_, err := s.store.GetMember(ctx, id)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		var v domain.Validation
		v.Add("/maintainer", "no member has id %q", id)
		return v.Err()
	}
	return err
}

// checkMaintainerTeam checks that the maintainer team exists.
func (s *Service) checkMaintainerTeam(ctx context.Context, team string) error {
	if team == "" {
		return nil
	}
	_, err := s.store.GetTeam(ctx, team)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		var v domain.Validation
		v.Add("/maintainer_team", "no team has key %q", team)
		return v.Err()
	}
	return err
}

// GetFlag reads a flag.
func (s *Service) GetFlag(ctx context.Context, p *Principal, project, key string) (*domain.Flag, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading flags"); err != nil {
		return nil, err
	}
	return s.store.GetFlag(ctx, project, key)
}

// ListFlags lists a project's flags.
func (s *Service) ListFlags(ctx context.Context, p *Principal, project string, filter domain.FlagFilter, page domain.Page) ([]domain.Flag, string, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading flags"); err != nil {
		return nil, "", err
	}
	return s.store.ListFlags(ctx, project, filter, page)
}

// ChangeFlag applies change to a flag, or, when the change touches what
// users see in an environment that requires approval (a served variant's
// value, the bucketing salt or unit, tags that would take the flag out of an
// approval scope), opens a flag-level change request under the strictest
// policy of those environments; so does a change of the maintainer or
// maintainer team where an environment that gates the flag requires its
// maintainers (maintainerChangeIsGated). Renaming, describing and
// archiving apply directly, audited. The key is immutable, and a variant that
// any environment serves cannot be removed or renamed.
//
// Whether a change needs approval is decided on reads of the settings; the
// write is told the settings' versions (domain.SettingsGuard) and commits
// only if they are still those. When approval was switched on meanwhile the
// store refuses the write, and the change is decided again (decideAgain).
func (s *Service) ChangeFlag(ctx context.Context, p *Principal, project, key string, expected *int64, opts ChangeOptions, change func(*domain.Flag) error) (Outcome[domain.Flag], error) {
	if err := p.requireIn(project, domain.RoleEditor, "changing a flag"); err != nil {
		return Outcome[domain.Flag]{}, err
	}
	return decideAgain(func() (Outcome[domain.Flag], error) {
		return s.changeFlag(ctx, p, project, key, expected, opts, change)
	})
}

// maxDecisions bounds how often decideAgain decides one write.
const maxDecisions = 3

// decideAgain runs decide, one gating decision and its write, again when
// the write answers ErrContention: the store refused it because what the
// decision read (the settings it names, the flag's tags) changed before it
// committed. Each decision reads afresh; after maxDecisions the contention
// is the answer (409, retry).
func decideAgain[T any](decide func() (T, error)) (T, error) {
	for i := 1; ; i++ {
		out, err := decide()
		if i < maxDecisions && errors.Is(err, domain.ErrContention) {
			continue
		}
		return out, err
	}
}

// settingsGuard names the settings a decision was made on: the organisation
// settings and, with approvals on, the settings of the environments it
// looked at (with approvals off nothing else decides: every environment is
// ungated whatever its settings say, and switching approvals on moves the
// organisation settings' version).
func settingsGuard(org *domain.OrgSettings, gates ...gate) *domain.SettingsGuard {
	g := &domain.SettingsGuard{Org: org.Version}
	if !org.Approvals {
		return g
	}
	for _, e := range gates {
		eg := domain.GuardOf(e.settings)
		eg.Environment = e.env
		g.Environments = append(g.Environments, eg)
	}
	return g
}

func (s *Service) changeFlag(ctx context.Context, p *Principal, project, key string, expected *int64, opts ChangeOptions, change func(*domain.Flag) error) (Outcome[domain.Flag], error) {
	var out Outcome[domain.Flag]
	cur, err := s.store.GetFlag(ctx, project, key)
	if err != nil {
		return out, err
	}
	probe := cloneFlag(cur)
	if err := checkVersion("flag", expected, cur.Version); err != nil {
		return out, err
	}
	if err := change(probe); err != nil {
		return out, err
	}
	if probe.Maintainer != cur.Maintainer {
		if err := s.checkMaintainer(ctx, probe.Maintainer); err != nil {
			return out, err
		}
	}
	if probe.MaintainerTeam != cur.MaintainerTeam {
		if err := s.checkMaintainerTeam(ctx, probe.MaintainerTeam); err != nil {
			return out, err
		}
	}
	if opts.Draft != "" {
		out.Request, err = s.AddToDraft(ctx, p, opts.Draft, ChangeInput{Flag: key, ProposedFlag: probe})
		return out, err
	}
	d, err := s.decideFlag(ctx, p, cur, probe, opts)
	if err != nil {
		return out, err
	}
	if len(d.critical) > 0 && d.how == "" {
		out.Request, err = s.proposeFlag(ctx, p, cur, probe, d, opts)
		return out, err
	}
	var calendar *int64
	if d.freeze, d.frozen, calendar, err = s.passFlagFreeze(ctx, p, d.org, cur, probe, opts.BypassReason); err != nil {
		return out, err
	}
	if d.guard != nil {
		d.guard.Freezes = calendar
	}
	out.Applied, err = s.writeFlag(ctx, p, project, key, expected, opts, change, d)
	return out, err
}

// flagDecision is how a flag change goes: the gates of every environment
// (read once: the decision is made on them all, and the write is guarded by
// them all), the gated environments where it needs approval (critical), and
// the bypass that skips them all (how), if any.
type flagDecision struct {
	org      *domain.OrgSettings
	critical []gate
	gated    map[string]gate // environment → its gate, gated ones
	decided  map[string]bool // the critical environments
	guard    *domain.SettingsGuard
	how      domain.AuditAction
	freeze   string // the freeze a bypass passes (passFreeze)
	frozen   []gate // the environments a freeze holds (passFlagFreeze)
}

func (s *Service) decideFlag(ctx context.Context, p *Principal, cur, probe *domain.Flag, opts ChangeOptions) (flagDecision, error) {
	d := flagDecision{gated: map[string]gate{}, decided: map[string]bool{}}
	var err error
	if d.org, err = s.store.GetOrgSettings(ctx); err != nil {
		return d, err
	}
	gates, err := s.environmentGates(ctx, d.org, cur)
	if err != nil {
		return d, err
	}
	if d.critical, err = s.criticalAmong(ctx, d.org, gates, cur, probe); err != nil {
		return d, err
	}
	for _, g := range gates {
		if g.gated {
			d.gated[g.env] = g
		}
	}
	d.guard = settingsGuard(d.org, gates...)
	d.guard.AllEnvironments = d.org.Approvals
	for i, g := range d.critical {
		h, err := bypass(p, g, opts.BypassReason)
		if err != nil {
			return d, err
		}
		if h == "" || (i > 0 && h != d.how) {
			d.how = "" // one bypass must skip every critical environment
			break
		}
		d.how = h
	}
	for _, g := range d.critical {
		d.decided[g.settings.Environment] = true
	}
	return d, nil
}

// proposeFlag opens the request of a flag change that needs approval in
// d.critical.
func (s *Service) proposeFlag(ctx context.Context, p *Principal, cur, probe *domain.Flag, d flagDecision, opts ChangeOptions) (*RequestView, error) {
	if err := s.checkFlagChange(cur, probe, nil); err != nil {
		return nil, err
	}
	keepFlagIdentity(probe, cur)
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkServedVariants(ctx, cur, probe); err != nil {
		return nil, err
	}
	return s.proposeOne(ctx, p, flagChange(cur, probe), live{flag: cur}, d.critical, opts)
}

// writeFlag applies a flag change directly: no gated environment needs
// approval for it, or d.how skips them all.
func (s *Service) writeFlag(ctx context.Context, p *Principal, project, key string, expected *int64, opts ChangeOptions, change func(*domain.Flag) error, d flagDecision) (*domain.Flag, error) {
	org, guard, gated, decided, how := d.org, d.guard, d.gated, d.decided, d.how
	f, err := s.store.WriteFlag(ctx, project, key, func(f *domain.Flag, configs []domain.FlagConfig, w *domain.FlagWrite) error {
		if err := checkVersion("flag", expected, f.Version); err != nil {
			return err
		}
		before := cloneFlag(f)
		if err := change(f); err != nil {
			return err
		}
		if mayNeedApproval(before, f) {
			// decided on these settings: the store writes only while they
			// hold (a change no setting can gate needs no guard)
			w.Settings = guard
		}
		if err := s.checkFlagChange(before, f, configs); err != nil {
			return err
		}
		// The gating decision was made on a read; if, in an environment that
		// requires approval, a config now serves a variant whose value this
		// changes, the decision is stale: give up rather than apply directly.
		if how == "" {
			for i := range configs {
				g, ok := gated[configs[i].Environment]
				if ok && !decided[configs[i].Environment] && flagChangeIsCritical(before, f, &configs[i], g.settings, org) {
					return domain.Errorf(domain.CodeConflict, "targeting in %s changed while this change was decided; retry", configs[i].Environment)
				}
			}
			for env, g := range gated {
				if !decided[env] && maintainerChangeIsGated(before, f, g.settings) {
					return domain.Errorf(domain.CodeConflict, "the flag's maintainers changed while this change was decided; retry")
				}
			}
		}
		f.UpdatedAt = s.clock.Now()
		e := s.audit(p.Actor(), domain.ActionFlagUpdated, p.channel())
		if how != "" {
			e.Action, e.Reason = how, opts.BypassReason
		}
		frozenAudit(&e, d.freeze, opts.BypassReason)
		e.Project, e.Flag = project, key
		if d, err := domain.FlagDiff(before, f); err == nil {
			e.Diff = d
		}
		e.Version = f.Version + 1
		w.Record(e)
		if opensReview(&e) {
			written := cloneFlag(f)
			written.Version = e.Version
			ch := domain.Change{Kind: domain.KindFlag, Flag: key, ProposedFlag: written, BaseFlag: before, BaseVersion: before.Version}
			cr, opened, err := s.reviewAfter(p, project, ch, bypassGates(how, d.critical, d.freeze, d.frozen), opts.BypassReason, d.freeze, e.Version, e.Diff)
			if err != nil {
				return err
			}
			w.Opens = cr
			w.Record(opened)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "flag updated", "project", project, "flag", key, "version", f.Version, "actor", p.Actor())
	return f, nil
}

// checkFlagChange enforces what no flag change may do.
func (s *Service) checkFlagChange(before, after *domain.Flag, configs []domain.FlagConfig) error {
	if after.Key != before.Key || after.Project != before.Project {
		return immutable("/key", "a flag's key")
	}
	if after.Tags == nil {
		after.Tags = []string{}
	}
	if err := after.Validate(); err != nil {
		return err
	}
	for _, c := range configs {
		for _, v := range before.Variants {
			if !after.HasVariant(v.Key) && c.UsesVariant(v.Key) {
				return domain.Errorf(domain.CodeConflict,
					"variant %q is served in environment %q; change that environment's targeting before removing or renaming it", v.Key, c.Environment)
			}
		}
	}
	return nil
}

// criticalEnvironments are the environments that require approval for the
// change from cur to next.
func (s *Service) criticalEnvironments(ctx context.Context, org *domain.OrgSettings, cur, next *domain.Flag) ([]gate, error) {
	gates, err := s.environmentGates(ctx, org, cur)
	if err != nil {
		return nil, err
	}
	return s.criticalAmong(ctx, org, gates, cur, next)
}

// environmentGates is the gate of f in every environment of its project,
// with approvals on organisation-wide; none with approvals off (nothing is
// gated then).
func (s *Service) environmentGates(ctx context.Context, org *domain.OrgSettings, f *domain.Flag) ([]gate, error) {
	if !org.Approvals {
		return nil, nil
	}
	var out []gate
	err := forEach(ctx, func(ctx context.Context, pg domain.Page) ([]domain.Environment, string, error) {
		return s.store.ListEnvironments(ctx, f.Project, pg)
	}, func(env domain.Environment) error {
		g, err := s.gateFor(ctx, org, f, f.Project, env.Key)
		if err == nil {
			out = append(out, g)
		}
		return err
	})
	return out, err
}

// criticalAmong are the gated environments among gates that require
// approval for the change from cur to next: where it changes what users
// see (flagChangeIsCritical), and where the settings require the flag's
// maintainers and it changes who they are (maintainerChangeIsGated).
func (s *Service) criticalAmong(ctx context.Context, org *domain.OrgSettings, gates []gate, cur, next *domain.Flag) ([]gate, error) {
	var out []gate
	for _, g := range gates {
		if !g.gated {
			continue
		}
		if maintainerChangeIsGated(cur, next, g.settings) {
			out = append(out, g)
			continue
		}
		_, c, err := s.store.GetFlagConfig(ctx, cur.Project, cur.Key, g.env)
		if err != nil {
			return nil, err
		}
		if flagChangeIsCritical(cur, next, c, g.settings, org) {
			out = append(out, g)
		}
	}
	return out, nil
}

// mayNeedApproval reports whether flagChangeIsCritical or
// maintainerChangeIsGated could hold for the change from cur to next in
// some environment under some settings: whether it changes anything they
// look at. A change that does not (a name, a description) applies directly
// whatever the settings are.
func mayNeedApproval(cur, next *domain.Flag) bool {
	return maintainersChange(cur, next) || cur.BucketingSalt != next.BucketingSalt || cur.BucketingUnit != next.BucketingUnit ||
		cur.Archived != next.Archived || cur.ClientExposed != next.ClientExposed || !slices.Equal(cur.Tags, next.Tags) ||
		!slices.EqualFunc(cur.Variants, next.Variants, func(a, b domain.Variant) bool {
			return a.Key == b.Key && domain.JSONEqual(a.Value, b.Value)
		})
}

// maintainersChange reports whether the change from cur to next changes
// who maintains the flag: its maintainer or its maintainer team.
func maintainersChange(cur, next *domain.Flag) bool {
	return cur.Maintainer != next.Maintainer || cur.MaintainerTeam != next.MaintainerTeam
}

// maintainerChangeIsGated reports whether the change from cur to next
// needs approval, for changing the flag's maintainers, in an environment
// whose settings a gate the flag. Where require_maintainer holds, the
// maintainers approve the flag's changes, so choosing them is itself such
// a change (else anyone could make themselves the maintainer and meet the
// requirement alone). It is an ordinary flag change request under that
// environment's policy, whose maintainer requirement names the
// maintainers as they are (code owners approve a change of the code
// owners), not a governance request of admins.
func maintainerChangeIsGated(cur, next *domain.Flag, a *domain.ApprovalSettings) bool {
	return a.RequireMaintainer && maintainersChange(cur, next)
}

func flagChangeIsCritical(cur, next *domain.Flag, c *domain.FlagConfig, a *domain.ApprovalSettings, org *domain.OrgSettings) bool {
	if !a.Gates(org, next) {
		return true // re-tagging must not be a way around approval
	}
	return flagChangeShows(cur, next, c)
}

// flagChangeShows reports whether the flag change from cur to next changes
// what users see where c is the targeting (what a freeze holds).
func flagChangeShows(cur, next *domain.Flag, c *domain.FlagConfig) bool {
	if cur.BucketingSalt != next.BucketingSalt || cur.BucketingUnit != next.BucketingUnit {
		return true
	}
	// An archived flag is not served (SDKs get FLAG_NOT_FOUND and fall back
	// to their defaults): archiving a flag this environment serves, or
	// restoring one it would serve, changes what users see.
	if cur.Archived != next.Archived && served(c) {
		return true
	}
	// Exposing a flag to client keys makes its answers public (browsers,
	// mobile apps): it needs approval wherever approval is required;
	// hiding it does where it serves something (clients fall back).
	if cur.ExposureChangeShows(next, c) {
		return true
	}
	for _, v := range cur.Variants {
		if !c.UsesVariant(v.Key) {
			continue
		}
		i := slices.IndexFunc(next.Variants, func(n domain.Variant) bool { return n.Key == v.Key })
		if i < 0 || !domain.JSONEqual(v.Value, next.Variants[i].Value) {
			return true
		}
	}
	return false
}

// served reports whether a config serves users anything but the
// fallback: it is enabled, or serves a variant while off.
func served(c *domain.FlagConfig) bool {
	return c.Enabled || (c.OffVariant != "" && c.OffVariant != domain.OffVariantKey)
}

// ArchiveFlag archives a flag (DELETE without hard). A flag that an
// environment requiring approval serves is switched off there by
// archiving, so that is a change request under the strictest of those
// environments' policies (Outcome.Request), like any flag change that
// matters there; a flag nothing gated serves is archived at once.
func (s *Service) ArchiveFlag(ctx context.Context, p *Principal, project, key string) (Outcome[domain.Flag], error) {
	return s.ChangeFlag(ctx, p, project, key, nil, ChangeOptions{Title: "Archive " + key}, func(f *domain.Flag) error {
		f.Archived = true
		return nil
	})
}

// DeleteFlag deletes an archived flag and its configs for good.
func (s *Service) DeleteFlag(ctx context.Context, p *Principal, project, key string) error {
	if err := p.requireIn(project, domain.RoleManager, "deleting a flag for good"); err != nil {
		return err
	}
	err := s.store.DeleteFlag(ctx, project, key, func(f *domain.Flag, audit *domain.Audit) error {
		if !f.Archived {
			return domain.Errorf(domain.CodeConflict, "flag %q is not archived; archive it first (DELETE without hard=true)", key)
		}
		e := s.audit(p.Actor(), domain.ActionFlagDeleted, p.channel())
		e.Project, e.Flag = project, key
		audit.Record(e)
		return nil
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "flag deleted", "project", project, "flag", key, "actor", p.Actor())
	return nil
}

// GetFlagConfig reads a flag's targeting in one environment.
func (s *Service) GetFlagConfig(ctx context.Context, p *Principal, project, flag, env string) (*domain.FlagConfig, error) {
	if err := p.requireIn(project, domain.RoleViewer, "reading targeting"); err != nil {
		return nil, err
	}
	_, c, err := s.store.GetFlagConfig(ctx, project, flag, env)
	return c, err
}

// prepareConfig fills a config's defaults and validates it against its flag;
// pointers of errors go under prefix.
func prepareConfig(c *domain.FlagConfig, f *domain.Flag, prefix string) error {
	if c.OffVariant == "" {
		c.OffVariant = domain.OffVariantKey
	}
	if c.Rules == nil {
		c.Rules = []domain.Rule{}
	}
	for i := range c.Rules {
		if c.Rules[i].Conditions == nil {
			c.Rules[i].Conditions = []domain.Condition{}
		}
		for j := range c.Rules[i].Conditions {
			if c.Rules[i].Conditions[j].Values == nil {
				c.Rules[i].Conditions[j].Values = []string{}
			}
		}
		if c.Rules[i].Weights == nil {
			c.Rules[i].Weights = []domain.Weight{}
		}
	}
	if c.DefaultRule.Weights == nil {
		c.DefaultRule.Weights = []domain.Weight{}
	}
	if err := c.Validate(f); err != nil {
		return prefixed(err, prefix)
	}
	return nil
}

// ChangeFlagConfig applies change to a flag's targeting in one environment
// or, where the environment requires approval, opens a change request with
// the proposal (the caller answers 202). A member holding a bypass grant who
// gives a reason, or a service token where api_token_bypass is on, applies
// directly; the audit entry says so.
//
// The decision is made on reads of the settings; the write is told their
// versions (domain.SettingsGuard) and commits only if they are still those,
// else the change is decided again (decideAgain): a write decided before
// approval was switched on never commits after the switch.
func (s *Service) ChangeFlagConfig(ctx context.Context, p *Principal, project, flag, env string, expected *int64, opts ChangeOptions, change func(*domain.FlagConfig) error) (Outcome[domain.FlagConfig], error) {
	if err := p.requireIn(project, domain.RoleEditor, "changing targeting"); err != nil {
		return Outcome[domain.FlagConfig]{}, err
	}
	return decideAgain(func() (Outcome[domain.FlagConfig], error) {
		return s.changeFlagConfig(ctx, p, project, flag, env, expected, opts, change)
	})
}

func (s *Service) changeFlagConfig(ctx context.Context, p *Principal, project, flag, env string, expected *int64, opts ChangeOptions, change func(*domain.FlagConfig) error) (Outcome[domain.FlagConfig], error) {
	var out Outcome[domain.FlagConfig]
	if opts.Draft != "" {
		var err error
		out.Request, err = s.draftConfig(ctx, p, project, flag, env, expected, opts.Draft, change)
		return out, err
	}
	org, err := s.store.GetOrgSettings(ctx)
	if err != nil {
		return out, err
	}
	f, cur, err := s.store.GetFlagConfig(ctx, project, flag, env)
	if err != nil {
		return out, err
	}
	g, err := s.gateFor(ctx, org, f, project, env)
	if err != nil {
		return out, err
	}
	var how domain.AuditAction
	if g.gated {
		if how, err = bypass(p, g, opts.BypassReason); err != nil {
			return out, err
		}
	}
	if g.gated && how == "" {
		out.Request, err = s.proposeConfig(ctx, p, f, cur, g, expected, opts, change)
		return out, err
	}
	freeze, calendar, err := s.passFreeze(ctx, p, project, []gate{g}, opts.BypassReason)
	if err != nil {
		return out, err
	}
	out.Applied, err = s.writeConfig(ctx, p, org, g, how, freeze, calendar, expected, opts, change)
	return out, err
}

// proposeConfig opens the request of a targeting change that needs
// approval in g's environment.
func (s *Service) proposeConfig(ctx context.Context, p *Principal, f *domain.Flag, cur *domain.FlagConfig, g gate, expected *int64, opts ChangeOptions, change func(*domain.FlagConfig) error) (*RequestView, error) {
	if err := checkVersion("targeting", expected, cur.Version); err != nil {
		return nil, err
	}
	next := *cur
	if err := changeConfig(cur, &next, change); err != nil {
		return nil, err
	}
	keepIdentity(&next, cur)
	if err := readyConfig(f, &next); err != nil {
		return nil, err
	}
	if err := s.checkSegmentsExist(ctx, f.Project, &next, ""); err != nil {
		return nil, err
	}
	return s.proposeOne(ctx, p, targetingChange(live{flag: f, config: cur}, &next), live{flag: f, config: cur}, []gate{g}, opts)
}

// writeConfig applies a targeting change directly: the environment needs no
// approval, or how (a bypass) skips it. The write holds only while the
// settings it was decided on do (decideAgain).
func (s *Service) writeConfig(ctx context.Context, p *Principal, org *domain.OrgSettings, g gate, how domain.AuditAction, freeze string, calendar *int64, expected *int64, opts ChangeOptions, change func(*domain.FlagConfig) error) (*domain.FlagConfig, error) {
	if err := s.checkWrittenSegments(ctx, g, change); err != nil {
		return nil, err
	}
	guard := settingsGuard(org, g)
	guard.Freezes = calendar // decided on this calendar: a freeze created since refuses the write
	c, err := s.store.UpdateFlagConfig(ctx, g.project, g.flag, g.env, func(f *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		// decided on these settings: the store writes only while they hold
		w.Settings = guard
		if err := checkVersion("targeting", expected, c.Version); err != nil {
			return err
		}
		// a pending request's lock holds while its environment requires
		// approval; with approval off (here, or organisation-wide) writes
		// apply directly and nothing waits on the request
		if w.LockedBy != "" && how != domain.ActionBypass && g.gated {
			return domain.Errorf(domain.CodeConflict, "change request %s is pending for this flag in %s and locks it; wait for it or withdraw it", w.LockedBy, g.env)
		}
		if g.gated != g.settings.Gates(org, f) {
			return domain.ErrContention // the flag's tags changed since the decision
		}
		before := *c
		if err := changeConfig(&before, c, change); err != nil {
			return err
		}
		c.UpdatedAt = s.clock.Now()
		if err := readyConfig(f, c); err != nil {
			return err
		}
		w.Segments = c.SegmentsUsed()
		e := s.audit(p.Actor(), domain.ActionTargetingUpdated, p.channel())
		if how != "" {
			e.Action, e.Reason = how, opts.BypassReason
		}
		frozenAudit(&e, freeze, opts.BypassReason)
		e.Project, e.Flag, e.Environment, e.Version = f.Project, f.Key, g.env, before.Version+1
		if d, err := domain.ConfigDiff(&before, c); err == nil {
			e.Diff = d
		}
		w.Record(e)
		if opensReview(&e) {
			base, written := before, *c
			written.Version = e.Version
			ch := domain.Change{Kind: domain.KindTargeting, Flag: f.Key, Environment: g.env, ProposedConfig: &written, BaseConfig: &base, BaseVersion: before.Version}
			cr, opened, err := s.reviewAfter(p, f.Project, ch, []gate{g}, opts.BypassReason, freeze, e.Version, e.Diff)
			if err != nil {
				return err
			}
			w.Opens = cr
			w.Record(opened)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "targeting updated", "project", c.Project, "flag", c.Flag, "environment", c.Environment, "version", c.Version, "actor", p.Actor())
	return c, nil
}

// checkWrittenSegments refuses (422) a targeting write whose rules would
// name a segment the project does not have: change is tried on a read of
// the config first (the segments are read outside the store's write).
func (s *Service) checkWrittenSegments(ctx context.Context, g gate, change func(*domain.FlagConfig) error) error {
	_, cur, err := s.store.GetFlagConfig(ctx, g.project, g.flag, g.env)
	if err != nil {
		return err
	}
	probe := *cur
	if err := change(&probe); err != nil {
		return nil // the write itself says why
	}
	return s.checkSegmentsExist(ctx, g.project, &probe, "")
}

// changeConfig applies change to next, a copy of cur, which must keep
// cur's identity.
func changeConfig(cur, next *domain.FlagConfig, change func(*domain.FlagConfig) error) error {
	if err := change(next); err != nil {
		return err
	}
	return checkConfigIdentity(cur, next)
}

// readyConfig fills c's defaults and checks it against its flag f, which
// must not be archived.
func readyConfig(f *domain.Flag, c *domain.FlagConfig) error {
	if err := prepareConfig(c, f, ""); err != nil {
		return err
	}
	if f.Archived {
		return domain.Errorf(domain.CodeConflict, "flag %q is archived; restore it (PATCH archived=false) before changing its targeting", f.Key)
	}
	return nil
}

func checkConfigIdentity(before, after *domain.FlagConfig) error {
	if after.Project != before.Project || after.Flag != before.Flag || after.Environment != before.Environment {
		return immutable("/environment", "the project, flag and environment of targeting")
	}
	return nil
}

func cloneFlag(f *domain.Flag) *domain.Flag {
	c := *f
	c.Tags = slices.Clone(f.Tags)
	c.Variants = make([]domain.Variant, len(f.Variants))
	for i, v := range f.Variants {
		v.Value = slices.Clone(v.Value)
		c.Variants[i] = v
	}
	return &c
}
