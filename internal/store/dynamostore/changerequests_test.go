package dynamostore_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

var at0 = clocktest.At(0, 12, 0, 0)

func targetingRequest(id, env string, at time.Time) *domain.ChangeRequest {
	cfg := &domain.FlagConfig{Project: "p", Flag: "f", Environment: env, Enabled: true, OffVariant: "off",
		Rules: []domain.Rule{}, DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}
	return &domain.ChangeRequest{
		ID: id, Project: "p", Flag: "f", Environment: env, Kind: domain.KindTargeting, Title: "t",
		Changes:   []domain.Change{{Kind: domain.KindTargeting, Flag: "f", Environment: env, ProposedConfig: cfg}},
		Requester: "member:m1", RequesterMember: "m1", NotifyReviewers: []string{}, Status: domain.StatusPending, Revision: 1,
		Policy:  domain.Policy{MinApprovals: 1, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual},
		Reviews: []domain.Review{}, Timeline: []domain.TimelineEvent{}, CreatedAt: at, UpdatedAt: at,
	}
}

func audited(id, project string, at time.Time) domain.AuditEntry {
	return domain.AuditEntry{ID: id, At: at, Actor: "member:m1", Action: "x", Channel: "api", Project: project}
}

func rawItem(t *testing.T, c *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}})
	must(t, err)
	return out.Item
}

func wantString(t *testing.T, it map[string]types.AttributeValue, name, want string) {
	t.Helper()
	if s, ok := it[name].(*types.AttributeValueMemberS); !ok || s.Value != want {
		t.Errorf("%s: want %q, got %#v", name, want, it[name])
	}
}

// The items of settings, requests, locks and audit entries are where
// docs/dynamodb.md says.
func TestChangeRequestItemLayout(t *testing.T) {
	s, c, table := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	_, err := s.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
		o.Approvals = true
		a.Record(audited("a0", "", at0))
		return nil
	})
	must(t, err)
	_, err = s.UpdateApprovalSettings(ctx, "p", "staging", func(a *domain.ApprovalSettings, _ *domain.Audit) error {
		a.MinApprovals = 2
		return nil
	})
	must(t, err)
	cr := targetingRequest("cr1", "production", at0.Add(time.Second))
	must(t, s.CreateChangeRequest(ctx, cr, true, []domain.AuditEntry{audited("a1", "p", at0.Add(time.Second))}))
	_, err = s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		_, err := cr.Review(domain.Actor{MemberID: "m7", Role: domain.RoleEditor}, domain.DecisionApprove, "ok", "api", at0)
		return err
	})
	must(t, err)

	wantN(t, rawItem(t, c, table, "ORG", "SETTINGS"), "version", "1")
	wantN(t, rawItem(t, c, table, "PROJECT#p", "APPROVAL#staging"), "min_approvals", "2")
	req := rawItem(t, c, table, "CR#cr1", "CR")
	wantString(t, req, "GSI1PK", "CR")
	wantString(t, req, "GSI1SK", clocktest.Stamp(at0.Add(time.Second))+"#cr1")
	wantString(t, req, "status", "approved")
	if l, ok := req["reviewed_by"].(*types.AttributeValueMemberL); !ok || len(l.Value) != 1 {
		t.Errorf("reviewed_by: %#v", req["reviewed_by"])
	}
	wantString(t, rawItem(t, c, table, "PROJECT#p", "LOCK#f#production"), "change_request", "cr1")
	entry := rawItem(t, c, table, "AUDIT#p", clocktest.Stamp(at0.Add(time.Second))+"#a1")
	wantString(t, entry, "GSI2PK", "AUDIT")
	wantString(t, entry, "GSI2SK", clocktest.Stamp(at0.Add(time.Second))+"#a1")
	wantString(t, rawItem(t, c, table, "AUDIT#-", clocktest.Stamp(at0)+"#a0"), "GSI2PK", "AUDIT")
}

func wantN(t *testing.T, it map[string]types.AttributeValue, name, want string) {
	t.Helper()
	if n, ok := it[name].(*types.AttributeValueMemberN); !ok || n.Value != want {
		t.Errorf("%s: want %s, got %#v", name, want, it[name])
	}
}

// A request that takes the lock while a config write is deciding makes the
// config transaction fail (the lock check) and retry; the retry learns the
// holder, and the writer refuses.
func TestLockTakenBetweenConfigReadAndWrite(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	var seen []string
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		seen = append(seen, w.LockedBy)
		if len(seen) == 1 {
			if err := s.CreateChangeRequest(ctx, targetingRequest("cr1", "production", at0), true, nil); err != nil {
				t.Errorf("taking the lock inside the race: %v", err)
			}
		}
		if w.LockedBy != "" {
			return domain.Errorf(domain.CodeConflict, "locked by %s", w.LockedBy)
		}
		c.Enabled = true
		return nil
	})
	if domain.ErrorCode(err) != domain.CodeConflict || fmt.Sprint(seen) != "[ cr1]" {
		t.Fatalf("want a retry that sees the lock and refuses: err %v, holders seen %q", err, seen)
	}
	_, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if c.Version != 0 {
		t.Fatalf("the config must not be written under the lock: %+v", c)
	}
}

// A lock released while a config write is deciding also makes it retry (the
// writer saw a holder that no longer holds).
func TestLockReleasedBetweenConfigReadAndWrite(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	must(t, s.CreateChangeRequest(ctx, targetingRequest("cr1", "production", at0), true, nil))
	var seen []string
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(_ *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		seen = append(seen, w.LockedBy)
		if len(seen) == 1 {
			_, err := s.UpdateChangeRequest(ctx, "cr1", func(cr *domain.ChangeRequest, w *domain.RequestWrite) error {
				w.ReleaseLocks = cr.LockTargets()
				return only(cr.Withdraw(domain.Actor{MemberID: "m1", Role: domain.RoleEditor}, at0))
			})
			if err != nil {
				t.Errorf("withdrawing inside the race: %v", err)
			}
		}
		c.Enabled = true
		return nil
	})
	must(t, err)
	if fmt.Sprint(seen) != "[cr1 ]" {
		t.Fatalf("want a retry that sees the lock gone, saw holders %q", seen)
	}
}

// An audit entry whose time and id exist already is a bug of the caller, not
// a lost race: the write fails at once, and writes nothing.
func TestAuditEntryCollision(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	must(t, s.CreateFlag(ctx, newFlag("f", "on"), []domain.AuditEntry{audited("a1", "p", at0)}))
	calls := 0
	_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, _ []domain.FlagConfig, a *domain.Audit) error {
		calls++
		f.Name = "changed"
		a.Record(audited("a1", "p", at0))
		return nil
	})
	if err == nil || domain.ErrorCode(err) != domain.CodeInternal || !strings.Contains(err.Error(), "exists already") || calls != 1 {
		t.Fatalf("want an internal error after one attempt, got %v after %d", err, calls)
	}
	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if f.Name != "f" || f.Version != 1 {
		t.Fatalf("nothing may be written: %+v", f)
	}
}

// A request that would outgrow DynamoDB's 400 KB item is refused with a
// conflict, not an internal error.
func TestChangeRequestTooLarge(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	big := targetingRequest("cr1", "production", at0)
	big.Description = strings.Repeat("x", 410*1024)
	err := s.CreateChangeRequest(ctx, big, false, nil)
	if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "400 KB") {
		t.Fatalf("create: want a conflict about the item size, got %v", err)
	}
	must(t, s.CreateChangeRequest(ctx, targetingRequest("cr2", "production", at0), false, nil))
	_, err = s.UpdateChangeRequest(ctx, "cr2", func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
		cr.Description = big.Description
		return nil
	})
	if domain.ErrorCode(err) != domain.CodeConflict || !strings.Contains(err.Error(), "400 KB") {
		t.Fatalf("update: want a conflict about the item size, got %v", err)
	}
}

// The reviewer filter finds requests a member reviewed without being asked
// (reviewed_by), and pages with a cursor are full.
func TestReviewerFilter(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	for i := range 5 {
		cr := targetingRequest(fmt.Sprintf("cr%d", i), "staging", at0.Add(time.Duration(i)*time.Minute))
		if i == 1 {
			cr.NotifyReviewers = []string{"m5"}
		}
		must(t, s.CreateChangeRequest(ctx, cr, false, nil))
	}
	for _, id := range []string{"cr3", "cr0"} {
		_, err := s.UpdateChangeRequest(ctx, id, func(cr *domain.ChangeRequest, _ *domain.RequestWrite) error {
			_, err := cr.Review(domain.Actor{MemberID: "m5", Role: domain.RoleEditor}, domain.DecisionReject, "no", "api", at0)
			return err
		})
		must(t, err)
	}
	var ids []string
	cursor := ""
	for range 10 {
		crs, next, err := s.ListChangeRequests(ctx, domain.CRFilter{Reviewer: "m5"}, domain.Page{Limit: 2, Cursor: cursor})
		must(t, err)
		if next != "" && len(crs) != 2 {
			t.Fatalf("a page with a next cursor must be full, got %d", len(crs))
		}
		for _, cr := range crs {
			ids = append(ids, cr.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[cr3 cr1 cr0]" {
		t.Fatalf("requests m5 reviewed or was asked to: %v", ids)
	}
	rejected, _, err := s.ListChangeRequests(ctx, domain.CRFilter{Reviewer: "m5", Status: domain.StatusRejected}, domain.Page{})
	must(t, err)
	if len(rejected) != 2 {
		t.Fatalf("rejected by m5: %d", len(rejected))
	}
}

// Cursors are checked: another list's cursor, or none of ours, is invalid.
func TestChangeRequestAndAuditCursors(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	for _, p := range []string{"p", "q"} {
		must(t, s.CreateProject(ctx, &domain.Project{Key: p, Name: p}, domain.DefaultEnvironments()))
		f := newFlag("f", "on")
		f.Project = p
		var entries []domain.AuditEntry
		for i := range 3 {
			entries = append(entries, audited(fmt.Sprintf("%s%d", p, i), p, at0.Add(time.Duration(i)*time.Second)))
		}
		must(t, s.CreateFlag(ctx, f, entries))
	}
	// Organisation-wide (GSI2): newest first across projects, one a page.
	var ids []string
	cursor := ""
	for range 10 {
		es, next, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{Limit: 1, Cursor: cursor})
		must(t, err)
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[q2 p2 q1 p1 q0 p0]" {
		t.Fatalf("organisation-wide audit log: %v", ids)
	}
	// A project's (the table), with a time range.
	from, to := at0.Add(time.Second), at0.Add(2*time.Second)
	es, next, err := s.ListAudit(ctx, domain.AuditFilter{Project: "q", From: &from, To: &to}, domain.Page{Limit: 1})
	must(t, err)
	if len(es) != 1 || es[0].ID != "q1" || next != "" {
		t.Fatalf("q from 1s to 2s: %+v, next %q", es, next)
	}
	es, next, err = s.ListAudit(ctx, domain.AuditFilter{Project: "q"}, domain.Page{Limit: 2})
	must(t, err)
	if len(es) != 2 || next == "" {
		t.Fatalf("first page of q: %d, next %q", len(es), next)
	}
	_, _, err = s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{Cursor: next})
	if domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("q's cursor on p's log: want invalid, got %v", err)
	}
	es, _, err = s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{Cursor: next})
	must(t, err) // a project's cursor is a place in time on the organisation's log too
	if len(es) != 3 || es[0].ID != "p1" {
		t.Fatalf("after q1 in the organisation's log: %+v", es)
	}
	empty, _, err := s.ListAudit(ctx, domain.AuditFilter{From: &to, To: &from}, domain.Page{})
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("an empty range: %+v", empty)
	}

	_, projectsCursor, err := s.ListProjects(ctx, domain.Page{Limit: 1})
	must(t, err)
	if projectsCursor == "" {
		t.Fatal("want a projects cursor")
	}
	garbage := base64.RawURLEncoding.EncodeToString([]byte(at0.Format(time.RFC3339) + "#x"))
	for _, c := range []string{"!!", projectsCursor, garbage, next} {
		if _, _, err := s.ListChangeRequests(ctx, domain.CRFilter{}, domain.Page{Cursor: c}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("change requests with cursor %q: want invalid, got %v", c, err)
		}
	}
	for _, c := range []string{"!!", projectsCursor, garbage} {
		if _, _, err := s.ListAudit(ctx, domain.AuditFilter{}, domain.Page{Cursor: c}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("audit with cursor %q: want invalid, got %v", c, err)
		}
	}
}

func flagRequest(id string, proposed *domain.Flag, base int64) *domain.ChangeRequest {
	return &domain.ChangeRequest{
		ID: id, Project: "p", Flag: proposed.Key, Kind: domain.KindFlag, Title: "t",
		Changes:   []domain.Change{{Kind: domain.KindFlag, Flag: proposed.Key, ProposedFlag: proposed, BaseVersion: base}},
		Requester: "member:m1", RequesterMember: "m1", NotifyReviewers: []string{}, Status: domain.StatusApproved, Revision: 1,
		Policy:  domain.Policy{MinApprovals: 1, Reviewers: domain.ReviewersPeer, Apply: domain.ApplyManual},
		Reviews: []domain.Review{}, Timeline: []domain.TimelineEvent{}, CreatedAt: at0, UpdatedAt: at0,
	}
}

func applyFlag(calls *int, during func()) func(*domain.ChangeRequest, *domain.Live, *domain.ApplyWrite) error {
	a := domain.Actor{MemberID: "m3", Role: domain.RoleEditor}
	return func(cr *domain.ChangeRequest, l *domain.Live, w *domain.ApplyWrite) error {
		*calls++
		if len(l.Configs) != 0 {
			return fmt.Errorf("a flag-level apply got a config")
		}
		f := l.Flags[cr.Changes[0].Flag]
		if *calls == 1 && during != nil {
			during()
		}
		if cr.Status == domain.StatusApplied {
			return nil
		}
		if err := cr.CheckApply(a, at0); err != nil {
			return err
		}
		if err := cr.Changes[0].CheckBase(f.Version); err != nil {
			return err
		}
		next := *cr.Changes[0].ProposedFlag
		next.Version = f.Version
		*f = next
		w.Record(domain.AuditEntry{ID: fmt.Sprintf("apply-%d", *calls), At: at0, Actor: a.String(), Action: "change_request.applied", Project: "p", Flag: f.Key})
		w.Applied, w.ReleaseLocks, w.Flags = true, cr.LockTargets(), []*domain.Flag{f}
		return only(cr.MarkApplied(a, f.Version+1, "api", at0))
	}
}

// A flag-level request applies to the flag item: version + 1, config_seq
// kept; a config write between the apply's
// read and write makes it retry.
func TestApplyFlagLevelRequest(t *testing.T) {
	s, c, table := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "staging", serve("on"))
	must(t, err)
	proposed := newFlag("f", "on", "control")
	proposed.Name = "renamed"
	must(t, s.CreateChangeRequest(ctx, flagRequest("cr1", proposed, 1), true, nil))
	if holder, _ := s.PendingLock(ctx, "p", "f", ""); holder != "" {
		t.Fatalf("a flag-level change takes no lock (locks are targeting's): %q", holder)
	}
	calls := 0
	cr, err := s.ApplyChangeRequest(ctx, "cr1", applyFlag(&calls, func() {
		if _, err := s.UpdateFlagConfig(ctx, "p", "f", "production", serve("control")); err != nil {
			t.Errorf("config write inside the race: %v", err)
		}
	}))
	must(t, err)
	if calls != 2 || cr.Status != domain.StatusApplied || cr.Version != 2 || cr.AppliedVersion != 2 {
		t.Fatalf("after %d calls: %+v", calls, cr)
	}
	f, err := s.GetFlag(ctx, "p", "f")
	must(t, err)
	if f.Name != "renamed" || f.Version != 2 || f.HasVariant("extra") {
		t.Fatalf("live flag: %+v", f)
	}
	wantN(t, rawItem(t, c, table, "PROJECT#p", "FLAG#f"), "config_seq", "2")
	if holder, _ := s.PendingLock(ctx, "p", "f", ""); holder != "" {
		t.Fatalf("the lock must be released, holder %q", holder)
	}
	entries, _, err := s.ListAudit(ctx, domain.AuditFilter{Project: "p"}, domain.Page{})
	must(t, err)
	if len(entries) != 1 || entries[0].ID != "apply-2" {
		t.Fatalf("audit: %+v", entries)
	}
	// A retry answers the same and writes nothing.
	calls = 0
	again, err := s.ApplyChangeRequest(ctx, "cr1", applyFlag(&calls, nil))
	must(t, err)
	f, _ = s.GetFlag(ctx, "p", "f")
	if again.Version != 2 || f.Version != 2 {
		t.Fatalf("a retried apply must change nothing: request v%d, flag v%d", again.Version, f.Version)
	}
}

// The store's counter adds what DynamoDB reports, and resets.
func TestConsumedCapacityCounter(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if got := s.ConsumedCapacity(); got != 0 {
		t.Fatalf("a new store has consumed %v", got)
	}
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m1", Email: "m1@example.com", Name: "m1", Role: domain.RoleViewer}))
	afterWrite := s.ConsumedCapacity()
	_, err := s.GetMember(ctx, "m1")
	must(t, err)
	if afterWrite <= 0 || s.ConsumedCapacity() <= afterWrite {
		t.Fatalf("capacity after a write %v, after a read %v", afterWrite, s.ConsumedCapacity())
	}
	s.ResetConsumedCapacity()
	if got := s.ConsumedCapacity(); got != 0 {
		t.Fatalf("after reset: %v", got)
	}
	var _ *dynamostore.Store = s
}
