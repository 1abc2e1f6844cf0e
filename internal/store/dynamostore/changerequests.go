package dynamostore

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var (
	_ domain.ApprovalRepository      = (*Store)(nil)
	_ domain.ChangeRequestRepository = (*Store)(nil)
)

func errLockedByOthers(id string) error {
	if id == "" {
		id = "(another)"
	}
	return domain.Errorf(domain.CodeConflict, "change request %s is pending for this flag and environment, and the environment allows one at a time; wait for it, or withdraw it", id)
}

func errTooLarge(id string) error {
	return domain.Errorf(domain.CodeConflict, "change request %s, with what is written together with it, would exceed the 400 KB DynamoDB holds in one item; open a new request", id)
}

// versionOrNew holds while the item has version v, or, for v = 0 (an item
// never written), while it does not exist.
func versionOrNew(v int64) expression.ConditionBuilder {
	if v == 0 {
		return itemMissing
	}
	return versionIs(v)
}

// ---- settings ----

func (s *Store) GetOrgSettings(ctx context.Context) (*domain.OrgSettings, error) {
	it, err := s.get(ctx, orgSettingsKey())
	if err != nil {
		return nil, err
	}
	if it == nil {
		return &domain.OrgSettings{}, nil
	}
	return decode[record.OrgSettings](it)
}

func (s *Store) UpdateOrgSettings(ctx context.Context, fn func(*domain.OrgSettings, *domain.Audit) error) (*domain.OrgSettings, error) {
	var out *domain.OrgSettings
	err := retry(ctx, func() error {
		o, err := s.GetOrgSettings(ctx)
		if err != nil {
			return err
		}
		v := o.Version
		var audit domain.Audit
		if err := fn(o, &audit); err != nil {
			return err
		}
		o.Version = v + 1
		it, err := encode(orgSettingsKey(), record.FromOrgSettings(*o), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionOrNew(v)
		b.add(s.txPut(it, &cond))
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if err := outcome(err, audit.Entries, from, "put organisation settings"); err != nil {
			return err
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readApprovalSettings reads the environment and its settings in one batch;
// settings never written are the environment's defaults, version 0.
func (s *Store) readApprovalSettings(ctx context.Context, project, env string) (*domain.ApprovalSettings, error) {
	items, err := s.getMany(ctx, envKey(project, env), approvalKey(project, env))
	if err != nil {
		return nil, err
	}
	if items[0] == nil {
		// Settings may outlive their environment (a deleted project leaves
		// them), so the environment decides.
		return nil, s.notFoundIn(ctx, project, "environment", env)
	}
	if items[1] == nil {
		e, err := decode[record.Environment](items[0])
		if err != nil {
			return nil, err
		}
		return domain.DefaultApprovalSettings(e), nil
	}
	return decode[record.ApprovalSettings](items[1])
}

func (s *Store) GetApprovalSettings(ctx context.Context, project, env string) (*domain.ApprovalSettings, error) {
	return s.readApprovalSettings(ctx, project, env)
}

func (s *Store) UpdateApprovalSettings(ctx context.Context, project, env string, fn func(*domain.ApprovalSettings, *domain.Audit) error) (*domain.ApprovalSettings, error) {
	var out *domain.ApprovalSettings
	err := retry(ctx, func() error {
		a, err := s.readApprovalSettings(ctx, project, env)
		if err != nil {
			return err
		}
		v := a.Version
		var audit domain.Audit
		if err := fn(a, &audit); err != nil {
			return err
		}
		a.Version = v + 1
		it, err := encode(approvalKey(project, env), record.FromApprovalSettings(*a), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionOrNew(v)
		b.add(s.txPut(it, &cond))
		// The environment still exists; if not, the next read says so.
		b.add(s.txCheck(envKey(project, env), itemExists))
		guardFrom, guardTo := s.addSettingsGuard(&b, project, audit.Guard, "")
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if err := outcome(err, audit.Entries, from, "put approval settings "+project+"/"+env); err != nil {
			return err
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- change requests ----

// A change request is one item, PK CR#<id>, SK CR, in GSI1 under CR by
// "<created>#<id>", and, while a timer concerns it, in GSI3 under
// DUE#<shard> by "<next due>#<id>" (due.go). Beside its JSON it carries
// reviewed_by, the members who reviewed it, so that the reviewer filter is a
// filter expression.
//
// The pending lock of a flag in an environment is the item PROJECT#<p> /
// LOCK#<flag>#<env>, whose change_request names the open request holding
// it. Requests take it when they are created and release it (in the same
// transaction) when they reach a final state.

// crItem encodes request id (the id it was read under: the key is the
// store's, whatever an update function did to cr).
// addApplied adds to b the put of the change request a write applies
// (domain.Audit's Applies), at its version + 1, conditioned on the stored
// one being at its version. It answers the put's index, -1 without one;
// appliedMoved reads a transaction's error with it.
func (s *Store) addApplied(b *txBuilder, cr *domain.ChangeRequest) int {
	if cr == nil {
		return -1
	}
	next := *cr
	next.Version++
	it, err := crItem(cr.ID, &next)
	if err != nil {
		b.add(types.TransactWriteItem{}, err)
		return -1
	}
	cond := versionIs(cr.Version)
	b.add(s.txPut(it, &cond))
	return len(b.items) - 1
}

// appliedMoved answers ErrRequestMoved when the transaction failed on the
// applied request's condition (at index i).
func appliedMoved(err error, i int) error {
	if i >= 0 && failedCondition(err, i) {
		return domain.ErrRequestMoved
	}
	return nil
}

func crItem(id string, cr *domain.ChangeRequest) (item, error) {
	reviewed := []types.AttributeValue{}
	var seen []string
	for _, r := range cr.Reviews {
		if !slices.Contains(seen, r.Reviewer) {
			seen = append(seen, r.Reviewer)
			reviewed = append(reviewed, str(r.Reviewer))
		}
	}
	extra := item{
		attrGSI1PK:   str(gsiCR),
		attrGSI1SK:   str(timeID(cr.CreatedAt, id)),
		attrReviewed: &types.AttributeValueMemberL{Value: reviewed},
	}
	// The timer index (GSI3, see due.go). Every write of a request puts the
	// whole item, so a request no timer concerns is written without GSI3PK
	// and GSI3SK: the put removes them, and the request leaves the index.
	if due := cr.NextDue(); due != nil {
		extra[attrGSI3PK] = str(dueShardKey(id))
		extra[attrGSI3SK] = str(timeID(*due, id))
	}
	return encode(crKey(id), record.FromChangeRequest(*cr), extra)
}

func targetLock(project string, t domain.Target) key { return lockKey(project, t.Flag, t.Environment) }

// addLocks adds to b, for request id, the take (a put) or the check of the
// pending lock of each of ts, on condition that it is free or id's; it
// returns the range of b they take.
func (s *Store) addLocks(b *txBuilder, project, id string, ts []domain.Target, take bool) (from, to int) {
	from = len(b.items)
	free := lockHeldBy("").Or(lockHeldBy(id))
	for _, t := range ts {
		lk := targetLock(project, t)
		if take {
			b.add(withOld(s.txPut(item{attrPK: str(lk.pk), attrSK: str(lk.sk), attrLockedBy: str(id)}, &free)))
		} else {
			b.add(withOld(s.txCheck(lk, free)))
		}
	}
	return from, len(b.items)
}

// lockedByOthers says, of a failed transaction, whether a lock in [from,
// to) was held by another request: that request's conflict.
func lockedByOthers(err error, from, to int) error {
	if i, ok := anyFailedCondition(err, from, to); ok {
		return errLockedByOthers(stringAttr(cancelled(err)[i].Item, attrLockedBy))
	}
	return nil
}

// lockHeldBy holds while the lock is held by holder, or, for holder "",
// while nobody holds it.
func lockHeldBy(holder string) expression.ConditionBuilder {
	if holder == "" {
		return itemMissing
	}
	return expression.Name(attrLockedBy).Equal(expression.Value(holder))
}

func (s *Store) CreateChangeRequest(ctx context.Context, cr *domain.ChangeRequest, lock bool, audit []domain.AuditEntry) error {
	cr.Version = 1
	return retry(ctx, func() error {
		it, err := crItem(cr.ID, cr)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txPut(it, &itemMissing))
		lockFrom, lockTo := s.addLocks(&b, cr.Project, cr.ID, cr.LockTargets(), lock)
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "change request %s already exists", cr.ID)
		case lockedByOthers(err, lockFrom, lockTo) != nil:
			return lockedByOthers(err, lockFrom, lockTo)
		case tooLarge(err):
			return errTooLarge(cr.ID)
		}
		return outcome(err, audit, from, "create change request "+cr.ID)
	})
}

// addOpens adds to b the put of the request a direct write opens
// (domain.ConfigWrite.Opens and the like), if any: a new item, version 1,
// on condition that none of its id exists, in the write's transaction, so
// both commit or neither (its audit entries are the write's). It returns
// the put's index in b (-1: none).
func (s *Store) addOpens(b *txBuilder, cr *domain.ChangeRequest) int {
	if cr == nil {
		return -1
	}
	cr.Version = 1
	it, err := crItem(cr.ID, cr)
	if err != nil {
		b.add(types.TransactWriteItem{}, err)
		return -1
	}
	b.add(s.txPut(it, &itemMissing))
	return len(b.items) - 1
}

// openedExists is the error of a write whose opened request (at index at,
// addOpens) failed its condition: one of its id exists. That is a bug, not
// a race (ids are unique), so it is not retried.
func openedExists(err error, at int, cr *domain.ChangeRequest) error {
	if at >= 0 && failedCondition(err, at) {
		return domain.Errorf(domain.CodeConflict, "change request %s already exists", cr.ID)
	}
	return nil
}

// readCR reads a request, strongly consistent.
func (s *Store) readCR(ctx context.Context, id string) (*domain.ChangeRequest, error) {
	it, err := s.get(ctx, crKey(id))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.NotFound("change request", id)
	}
	return decode[record.ChangeRequest](it)
}

// crVersionIs reports whether request id still has version v.
func (s *Store) crVersionIs(ctx context.Context, id string, v int64) (bool, error) {
	e, err := expression.NewBuilder().WithProjection(expression.NamesList(expression.Name(attrVersion))).Build()
	if err != nil {
		return false, fmt.Errorf("dynamodb build projection: %w", err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                &s.table,
		Key:                      crKey(id).av(),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     e.Projection(),
		ExpressionAttributeNames: e.Names(),
	})
	if err != nil {
		return false, fmt.Errorf("dynamodb get %s: %w", crKey(id), err)
	}
	n, ok := out.Item[attrVersion].(*types.AttributeValueMemberN)
	return ok && n.Value == strconv.FormatInt(v, 10), nil
}

func (s *Store) GetChangeRequest(ctx context.Context, id string) (*domain.ChangeRequest, error) {
	return s.readCR(ctx, id)
}

// Change request cursors are the base64url of the last returned request's
// GSI1 sort key, "<created>#<id>"; the id gives back its table key.
func crCursor(it item) string {
	return base64.RawURLEncoding.EncodeToString([]byte(stringAttr(it, attrGSI1SK)))
}

func crStartKey(c string) (item, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !utf8.Valid(raw) {
		return nil, domain.Errorf(domain.CodeInvalid, "the cursor is not one this service gave out")
	}
	id, ok := parseTimeID(string(raw))
	if !ok {
		return nil, domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
	}
	k := crKey(id).av()
	k[attrGSI1PK], k[attrGSI1SK] = str(gsiCR), str(string(raw))
	return k, nil
}

// ListChangeRequests reads GSI1 (eventually consistent) newest first. Every
// filter is also a filter expression, so DynamoDB returns only matching
// requests; the domain filter decides last, so the result is exactly what
// CRFilter.Matches says.
func (s *Store) ListChangeRequests(ctx context.Context, filter domain.CRFilter, page domain.Page) ([]domain.ChangeRequest, string, error) {
	var conds []expression.ConditionBuilder
	for _, f := range []struct{ name, value string }{{"status", string(filter.Status)}, {"project", filter.Project}} {
		if f.value != "" {
			conds = append(conds, expression.Name(f.name).Equal(expression.Value(f.value)))
		}
	}
	// a request matches by any of its changes (flags, environments: every
	// one its changes name); one stored before requests held several has
	// only its flag and environment
	for _, f := range []struct{ one, all, value string }{{"flag", "flags", filter.Flag}, {"environment", "environments", filter.Environment}} {
		if f.value != "" {
			conds = append(conds, expression.Name(f.all).Contains(f.value).Or(expression.Name(f.one).Equal(expression.Value(f.value))))
		}
	}
	if r := filter.Requester; r != "" {
		conds = append(conds, expression.Name("requester").Equal(expression.Value(r)).
			Or(expression.Name("requester_member").Equal(expression.Value(r))))
	}
	if m := filter.Reviewer; m != "" {
		conds = append(conds, expression.Name("notify_reviewers").Contains(m).Or(expression.Name(attrReviewed).Contains(m)))
	}
	if c, none := projectSetCondition(filter.Projects); none {
		return []domain.ChangeRequest{}, "", nil
	} else if c != nil {
		conds = append(conds, *c)
	}
	if filter.Overdue != nil && *filter.Overdue {
		conds = append(conds, overdueCondition(filter.Now))
	}
	return queryPage[record.ChangeRequest](ctx, s, query{
		index:       indexGSI1,
		key:         expression.Key(attrGSI1PK).Equal(expression.Value(gsiCR)),
		filter:      all(conds),
		newestFirst: true,
		what:        "change requests",
		cursorOf:    crCursor,
		startKey:    crStartKey,
	}, page, filter.Matches)
}

// overdueCondition passes the reviews after a bypass due at or before
// now, and a few due within the second after it: review_due_at is stored
// as an RFC 3339 string in UTC (domain.OpenReviewAfter writes it so), whose
// order is the time's down to the second but not within one ("…:05.5Z"
// sorts before "…:05Z"). So the bound is the next whole second, which
// every time at or before now sorts before; CRFilter.Matches drops the
// few within that second that are not yet due.
func overdueCondition(now time.Time) expression.ConditionBuilder {
	bound := now.UTC().Truncate(time.Second).Add(time.Second).Format(time.RFC3339)
	return expression.Name("status").Equal(expression.Value(string(domain.StatusReviewAfter))).
		And(expression.Name("bypass.review_due_at").LessThan(expression.Value(bound)))
}

// addLockWrites adds to b what w says of locks: the checks and takes (in
// the range it returns), then the release of each lock id holds. holders
// are the lock holders as read, by target, when the caller read them; the
// others are read here.
func (s *Store) addLockWrites(ctx context.Context, b *txBuilder, project, id string, w *domain.RequestWrite, holders map[domain.Target]string) (from, to int, err error) {
	from, _ = s.addLocks(b, project, id, w.CheckLocks, false)
	_, to = s.addLocks(b, project, id, w.TakeLocks, true)
	for _, t := range w.ReleaseLocks {
		holder, ok := holders[t]
		if !ok {
			it, err := s.get(ctx, targetLock(project, t))
			if err != nil {
				return 0, 0, err
			}
			holder = stringAttr(it, attrLockedBy)
		}
		if holder == id {
			cond := lockHeldBy(id)
			b.add(s.txDelete(targetLock(project, t), &cond))
		}
	}
	return from, to, nil
}

func (s *Store) UpdateChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.RequestWrite) error) (*domain.ChangeRequest, error) {
	var out *domain.ChangeRequest
	err := retry(ctx, func() error {
		cr, err := s.readCR(ctx, id)
		if err != nil {
			return err
		}
		v, project := cr.Version, cr.Project
		var w domain.RequestWrite
		if err := fn(cr, &w); err != nil {
			return err
		}
		cr.Version = v + 1
		it, err := crItem(id, cr)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
		lockFrom, lockTo, err := s.addLockWrites(ctx, &b, project, id, &w, nil)
		if err != nil {
			return err
		}
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if tooLarge(err) {
			return errTooLarge(id)
		}
		if err := lockedByOthers(err, lockFrom, lockTo); err != nil {
			return err
		}
		if err := outcome(err, w.Entries, from, "put change request "+id); err != nil {
			return err
		}
		out = cr
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) ApplyChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.Live, *domain.ApplyWrite) error) (*domain.ChangeRequest, error) {
	var out *domain.ChangeRequest
	err := retry(ctx, func() error {
		cr, err := s.readCR(ctx, id)
		if err != nil {
			return err
		}
		// The request's changes, as read: fn may not move them.
		before := *cr
		before.Changes = slices.Clone(cr.Changes)
		r, err := s.readLive(ctx, cr)
		if err != nil {
			return err
		}
		read := versionsOf(r.live)
		var w domain.ApplyWrite
		err = fn(cr, r.live, &w)
		if err != nil || !w.Applied {
			// fn refused, or applies nothing. The request and the live
			// state were read one after the other, not together: if the
			// request changed meanwhile (another apply committed between the
			// two reads, say), fn judged a state that never was; read again.
			if same, verr := s.crVersionIs(ctx, id, before.Version); verr != nil {
				return verr
			} else if !same {
				return errRetry
			}
			if err != nil {
				return err
			}
			// Nothing to apply: a retried apply answers with the request
			// as it is, and writes nothing.
			out = cr
			return nil
		}
		if err := w.Check(&before); err != nil {
			return err
		}
		if err := s.segmentsExist(ctx, before.Project, w.Requires); err != nil {
			return err
		}
		var b txBuilder
		cr.Version = before.Version + 1
		it, err := crItem(id, cr)
		if err != nil {
			return err
		}
		cond := versionIs(before.Version)
		b.add(s.txPut(it, &cond))
		if err := s.addLiveWrites(&b, before.Project, r, read, &w); err != nil {
			return err
		}
		if _, _, err := s.addLockWrites(ctx, &b, before.Project, id, &w.RequestWrite, r.holders); err != nil {
			return err
		}
		approversFrom := len(b.items)
		if w.Freezes != nil {
			b.add(s.txCheck(freezesKey(), versionOrNew(*w.Freezes)))
		}
		// the approvers' checks take the room the transaction has left: all
		// of them but for a request of nearly domain.MaxChanges large changes
		// (each approver was checked just before, in any case)
		room := maxTxItems - len(b.items) - itemsPerAuditEntry*len(w.Entries)
		for _, a := range w.Approvers[:max(0, min(len(w.Approvers), room))] {
			b.add(s.txCheck(memberKey(a.ID), versionIs(a.Version)))
		}
		approversTo := len(b.items)
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if tooLarge(err) {
			return errTooLarge(id)
		}
		if _, moved := anyFailedCondition(err, approversFrom, approversTo); moved {
			return domain.ErrApplyMoved // a member or freeze write came between: the application checks again
		}
		if len(w.Requires) > 0 && failedCondition(err, r.rulesetAt) {
			return errRetry // a write of the project came between: a segment the configs name may be gone
		}
		if err := outcome(err, w.Entries, from, "apply change request "+id); err != nil {
			return err
		}
		out = cr
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// liveRead is the live state of a request's changes as one strongly
// consistent batch read it: the items of the flags (for their config_seq),
// the decoded flags and configs, and the holders of the targets' locks.
type liveRead struct {
	live      *domain.Live
	flagItems map[string]item
	holders   map[domain.Target]string
	ruleset   int64 // the project's ruleset version, as read
	rulesetAt int   // where addLiveWrites put its increment in the transaction
}

// readLive reads the live state of cr's changes: each flag one names, each
// targeting change's environment, config and pending lock.
func (s *Store) readLive(ctx context.Context, cr *domain.ChangeRequest) (*liveRead, error) {
	keys := []key{rulesetKey(cr.Project)}
	index := map[key]int{rulesetKey(cr.Project): 0}
	want := func(k key) {
		if _, ok := index[k]; !ok {
			index[k] = len(keys)
			keys = append(keys, k)
		}
	}
	for _, c := range cr.Changes {
		if c.Kind == domain.KindSegment {
			want(segmentKey(cr.Project, c.Segment))
		}
		if c.Flag != "" {
			want(flagKey(cr.Project, c.Flag))
		}
		if c.Kind == domain.KindTargeting {
			want(envKey(cr.Project, c.Environment))
			want(configKey(cr.Project, c.Flag, c.Environment))
			want(targetLock(cr.Project, c.Target()))
		}
	}
	items, err := s.getMany(ctx, keys...)
	if err != nil {
		return nil, err
	}
	r := &liveRead{
		live:      &domain.Live{Flags: map[string]*domain.Flag{}, Configs: map[domain.Target]*domain.FlagConfig{}, Segments: map[string]*domain.Segment{}},
		flagItems: map[string]item{}, holders: map[domain.Target]string{},
	}
	if r.ruleset, err = rulesetVersionOf(items[0]); err != nil {
		return nil, err
	}
	for _, c := range cr.Changes {
		if c.Kind == domain.KindSegment {
			it := items[index[segmentKey(cr.Project, c.Segment)]]
			if it == nil {
				return nil, s.notFoundIn(ctx, cr.Project, "segment", c.Segment)
			}
			sg, err := decode[record.Segment](it)
			if err != nil {
				return nil, err
			}
			r.live.Segments[c.Segment] = sg
			continue
		}
		if c.Flag != "" && r.live.Flags[c.Flag] == nil {
			it := items[index[flagKey(cr.Project, c.Flag)]]
			if it == nil {
				return nil, s.notFoundIn(ctx, cr.Project, "flag", c.Flag)
			}
			f, err := decode[record.Flag](it)
			if err != nil {
				return nil, err
			}
			r.live.Flags[c.Flag], r.flagItems[c.Flag] = f, it
		}
		if c.Kind != domain.KindTargeting {
			continue
		}
		if items[index[envKey(cr.Project, c.Environment)]] == nil {
			return nil, s.notFoundIn(ctx, cr.Project, "environment", c.Environment)
		}
		t := c.Target()
		r.holders[t] = stringAttr(items[index[targetLock(cr.Project, t)]], attrLockedBy)
		cfg := domain.DefaultFlagConfig(r.live.Flags[c.Flag], c.Environment)
		if it := items[index[configKey(cr.Project, c.Flag, c.Environment)]]; it != nil {
			if cfg, err = decode[record.FlagConfig](it); err != nil {
				return nil, err
			}
		}
		r.live.Configs[t] = cfg
	}
	return r, nil
}

// versions are the versions of the live state as read, by flag and by
// targeting target, before fn could change them.
type versions struct {
	flags, segments map[string]int64
	configs         map[domain.Target]int64
}

func versionsOf(l *domain.Live) versions {
	v := versions{flags: map[string]int64{}, segments: map[string]int64{}, configs: map[domain.Target]int64{}}
	for k, sg := range l.Segments {
		v.segments[k] = sg.Version
	}
	for k, f := range l.Flags {
		v.flags[k] = f.Version
	}
	for t, c := range l.Configs {
		v.configs[t] = c.Version
	}
	return v
}

// addLiveWrites adds to b the live state an apply writes: each config at its
// read version, each flag that is written or whose configs are (one item
// per flag: its config_seq moves by the number of its configs written),
// each environment a config is written in (it must still exist), and the
// ruleset version once: conditioned on the version read when the configs
// name segments (w.Requires), so that a segment deleted since the read
// (its delete moves the version) makes the apply read again. It refuses
// (ErrContention) live state named at another version than the one read.
func (s *Store) addLiveWrites(b *txBuilder, project string, r *liveRead, read versions, w *domain.ApplyWrite) error {
	configsOf := map[string]int64{}
	var envs []string
	for _, c := range w.Configs {
		t := domain.Target{Kind: domain.KindTargeting, Flag: c.Flag, Environment: c.Environment}
		v := read.configs[t]
		if c.Version != v {
			return domain.ErrContention
		}
		c.Version = v + 1
		s.addConfigPut(b, project, c.Flag, c.Environment, c, v)
		configsOf[c.Flag]++
		if !slices.Contains(envs, c.Environment) {
			envs = append(envs, c.Environment)
		}
	}
	written := map[string]bool{}
	for _, f := range w.Flags {
		v, it := read.flags[f.Key], r.flagItems[f.Key]
		if f.Version != v {
			return domain.ErrContention
		}
		f.Version = v + 1
		seq := keep(it, attrConfigSeq)
		if n := configsOf[f.Key]; n > 0 {
			var cur int64
			if v, ok := it[attrConfigSeq].(*types.AttributeValueMemberN); ok {
				cur, _ = strconv.ParseInt(v.Value, 10, 64)
			}
			seq[attrConfigSeq] = num(cur + n)
		}
		fit, err := encode(flagKey(project, f.Key), record.FromFlag(*f), seq)
		if err != nil {
			return err
		}
		cond := versionIs(v).And(unchanged(it, attrConfigSeq))
		b.add(s.txPut(fit, &cond))
		written[f.Key] = true
	}
	for _, flag := range slices.Sorted(maps.Keys(configsOf)) {
		if !written[flag] {
			b.add(s.txUpdate(flagKey(project, flag), expression.Add(expression.Name(attrConfigSeq), expression.Value(configsOf[flag])), versionIs(read.flags[flag])))
		}
	}
	for _, env := range envs {
		b.add(s.txCheck(envKey(project, env), itemExists))
	}
	for _, sg := range w.Segments {
		v := read.segments[sg.Key]
		if sg.Version != v {
			return domain.ErrContention
		}
		sg.Version = v + 1
		it, err := encode(segmentKey(project, sg.Key), record.FromSegment(*sg), nil)
		if err != nil {
			return err
		}
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
	}
	r.rulesetAt = len(b.items)
	if len(w.Requires) > 0 {
		s.addRulesetBumpAt(b, project, r.ruleset)
	} else {
		s.addRulesetBump(b, project)
	}
	return nil
}

func (s *Store) PendingLock(ctx context.Context, project, flag, env string) (string, error) {
	it, err := s.get(ctx, lockKey(project, flag, env))
	if err != nil {
		return "", err
	}
	return stringAttr(it, attrLockedBy), nil
}
