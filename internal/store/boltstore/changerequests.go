package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var (
	bSettings        = []byte("settings")          // "org" → OrgSettings
	bApproval        = []byte("approval_settings") // project/env → ApprovalSettings
	bChangeRequests  = []byte("change_requests")   // id → ChangeRequest
	bChangeReqByTime = []byte("change_requests_by_time")
	bLocks           = []byte("pending_locks") // project/flag/env → request id
	bAudit           = []byte("audit")         // time#id → AuditEntry
	bDue             = []byte("due")           // due time#id → id: the timer index
	changeReqBuckets = [][]byte{bSettings, bApproval, bChangeRequests, bChangeReqByTime, bLocks, bAudit, bDue}
	orgSettingsKey   = []byte("org")
)

var (
	_ domain.ApprovalRepository      = (*Store)(nil)
	_ domain.ChangeRequestRepository = (*Store)(nil)
)

func errLockedByOthers(id string) error {
	return domain.Errorf(domain.CodeConflict, "change request %s is pending for this flag and environment, and the environment allows one at a time; wait for it, or withdraw it", id)
}

func init() { allBuckets = append(allBuckets, changeReqBuckets...) }

// timeKey orders entries by time, newest last; ids break ties.
func timeKey(t interface{ UnixNano() int64 }, id string) []byte {
	return []byte(fmt.Sprintf("%020d#%s", t.UnixNano(), id))
}

// writeAudit appends audit entries and puts each in the outbox, in the
// caller's transaction. The log is append-only: an entry of the same time
// and id, or an outbox item of the same id, fails the write (as the
// conditions do on DynamoDB; ids are meant to be unique, so it is a bug).
func writeAudit(tx *bolt.Tx, entries []domain.AuditEntry) error {
	for i := range entries {
		e := &entries[i]
		k := timeKey(e.At, e.ID)
		switch {
		case tx.Bucket(bAudit).Get(k) != nil:
			return fmt.Errorf("bbolt: audit entry %q at %s exists already", e.ID, e.At.UTC().Format(time.RFC3339Nano))
		case tx.Bucket(bOutbox).Get(key(e.ID)) != nil:
			return fmt.Errorf("bbolt: outbox item %q exists already", e.ID)
		}
		if err := put(tx, bAudit, k, record.FromAuditEntry(*e)); err != nil {
			return err
		}
	}
	return enqueue(tx, entries)
}

// AppendAudit writes entries that go with no other write, each with its
// outbox item (writeAudit), in one transaction.
func (s *Store) AppendAudit(ctx context.Context, entries ...domain.AuditEntry) error {
	if err := domain.CheckAppendAudit(entries); err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	return s.update(ctx, func(tx *bolt.Tx) error { return writeAudit(tx, entries) })
}

func (s *Store) GetOrgSettings(ctx context.Context) (o *domain.OrgSettings, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		o, ok, err = get[record.OrgSettings](tx, bSettings, orgSettingsKey)
		if err == nil && !ok {
			o = &domain.OrgSettings{}
		}
		return err
	})
	return o, err
}

func (s *Store) UpdateOrgSettings(ctx context.Context, fn func(*domain.OrgSettings, *domain.Audit) error) (o *domain.OrgSettings, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		o, ok, err = get[record.OrgSettings](tx, bSettings, orgSettingsKey)
		if err != nil {
			return err
		}
		if !ok {
			o = &domain.OrgSettings{}
		}
		read := o.Version
		var audit domain.Audit
		if err := fn(o, &audit); err != nil {
			return err
		}
		o.Version = read + 1
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		return put(tx, bSettings, orgSettingsKey, record.FromOrgSettings(*o))
	})
	return o, err
}

func getApprovalSettings(tx *bolt.Tx, project, env string) (*domain.ApprovalSettings, error) {
	e, err := getEnvironment(tx, project, env)
	if err != nil {
		return nil, err
	}
	a, ok, err := get[record.ApprovalSettings](tx, bApproval, key(project, env))
	if err == nil && !ok {
		a = domain.DefaultApprovalSettings(e)
	}
	return a, err
}

func (s *Store) GetApprovalSettings(ctx context.Context, project, env string) (a *domain.ApprovalSettings, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		a, err = getApprovalSettings(tx, project, env)
		return err
	})
	return a, err
}

func (s *Store) UpdateApprovalSettings(ctx context.Context, project, env string, fn func(*domain.ApprovalSettings, *domain.Audit) error) (a *domain.ApprovalSettings, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		a, err = getApprovalSettings(tx, project, env)
		if err != nil {
			return err
		}
		read := a.Version
		var audit domain.Audit
		if err := fn(a, &audit); err != nil {
			return err
		}
		a.Version = read + 1
		if err := checkSettings(tx, project, audit.Guard); err != nil {
			return err
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		return put(tx, bApproval, key(project, env), record.FromApprovalSettings(*a))
	})
	return a, err
}

// checkSettings is a write's domain.SettingsGuard on bbolt: it reads the
// settings the guard names in the write's own transaction, which bbolt
// serialises with every settings write, and answers ErrContention (the
// transaction then rolls back, writing nothing) when one is not as the
// guard read it.
func checkSettings(tx *bolt.Tx, project string, g *domain.SettingsGuard) error {
	if g == nil {
		return nil
	}
	o, _, err := get[record.OrgSettings](tx, bSettings, orgSettingsKey)
	if err != nil {
		return err
	}
	var org int64
	if o != nil {
		org = o.Version
	}
	if org != g.Org {
		return domain.ErrContention
	}
	for _, want := range g.Environments {
		e, err := getEnvironment(tx, project, want.Environment)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return domain.ErrContention // as on DynamoDB: the next decision tells
		}
		if err != nil {
			return err
		}
		a, ok, err := get[record.ApprovalSettings](tx, bApproval, key(project, want.Environment))
		if err != nil {
			return err
		}
		var v int64
		if ok {
			v = a.Version
		}
		if v != want.Version || (v == 0 && e.Protected != want.Protected) {
			return domain.ErrContention
		}
	}
	if g.AllEnvironments {
		n, prefix := 0, key(project, "")
		c := tx.Bucket(bEnvironments).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		if n != len(g.Environments) {
			return domain.ErrContention
		}
	}
	if g.Freezes != nil {
		if moved, err := freezesMoved(tx, *g.Freezes); err != nil || moved {
			return cmp.Or(err, error(domain.ErrContention))
		}
	}
	return nil
}

// freezesMoved reports whether the freeze calendar is no longer at
// version v (read in tx).
func freezesMoved(tx *bolt.Tx, v int64) (bool, error) {
	c, err := getFreezes(tx)
	if err != nil {
		return false, err
	}
	return c.Version != v, nil
}

// putRequest writes a request and moves its entry in the due index from
// where the read version had it (before, nil for a new request).
// writeApplied writes the change request a write applies (domain.Audit's
// Applies) at its version + 1, when the stored one is still at its
// version.
func writeApplied(tx *bolt.Tx, cr *domain.ChangeRequest) error {
	if cr == nil {
		return nil
	}
	stored, ok, err := get[record.ChangeRequest](tx, bChangeRequests, key(cr.ID))
	if err != nil {
		return err
	}
	if !ok || stored.Version != cr.Version {
		return domain.ErrRequestMoved
	}
	next := *cr
	next.Version++
	return putRequest(tx, stored, &next)
}

func putRequest(tx *bolt.Tx, before, cr *domain.ChangeRequest) error {
	due := tx.Bucket(bDue)
	if before != nil {
		if t := before.NextDue(); t != nil {
			if err := due.Delete(timeKey(*t, cr.ID)); err != nil {
				return err
			}
		}
	}
	if t := cr.NextDue(); t != nil {
		if err := due.Put(timeKey(*t, cr.ID), []byte(cr.ID)); err != nil {
			return err
		}
	}
	return put(tx, bChangeRequests, key(cr.ID), record.FromChangeRequest(*cr))
}

func (s *Store) ListDue(ctx context.Context, before time.Time, limit int) (out []domain.DueRequest, err error) {
	end := timeKey(before, "~")
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bDue).Cursor()
		for k, v := c.First(); k != nil && bytes.Compare(k, end) <= 0 && len(out) < limit; k, v = c.Next() {
			ns, _, _ := strings.Cut(string(k), "#")
			n, err := strconv.ParseInt(ns, 10, 64)
			if err != nil {
				return fmt.Errorf("decode due key %q: %w", k, err)
			}
			out = append(out, domain.DueRequest{ID: string(v), Due: time.Unix(0, n).UTC()})
		}
		return nil
	})
	return out, err
}

func lockKey(project string, t domain.Target) []byte { return key(project, t.Flag, t.Environment) }

// takeLocks takes (take) or checks the pending locks of ts for request id:
// conflict when another request holds one.
func takeLocks(tx *bolt.Tx, project, id string, ts []domain.Target, take bool) error {
	locks := tx.Bucket(bLocks)
	for _, t := range ts {
		lk := lockKey(project, t)
		if holder := locks.Get(lk); holder != nil && string(holder) != id {
			return errLockedByOthers(string(holder))
		}
		if take {
			if err := locks.Put(lk, []byte(id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseLocks drops the pending locks of ts that request id holds (a lock
// held by another request, or by none, is left alone).
func releaseLocks(tx *bolt.Tx, project, id string, ts []domain.Target) error {
	locks := tx.Bucket(bLocks)
	for _, t := range ts {
		lk := lockKey(project, t)
		if holder := locks.Get(lk); holder != nil && string(holder) == id {
			if err := locks.Delete(lk); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeLocks does what w says of locks.
func writeLocks(tx *bolt.Tx, project, id string, w *domain.RequestWrite) error {
	if err := takeLocks(tx, project, id, w.CheckLocks, false); err != nil {
		return err
	}
	if err := takeLocks(tx, project, id, w.TakeLocks, true); err != nil {
		return err
	}
	return releaseLocks(tx, project, id, w.ReleaseLocks)
}

func (s *Store) CreateChangeRequest(ctx context.Context, cr *domain.ChangeRequest, lock bool, audit []domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bChangeRequests).Get(key(cr.ID)) != nil {
			return domain.Errorf(domain.CodeConflict, "change request %s already exists", cr.ID)
		}
		if err := takeLocks(tx, cr.Project, cr.ID, cr.LockTargets(), lock); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return insertRequest(tx, cr)
	})
}

// insertRequest writes a new request (version 1) in tx: refused when one
// of its id exists.
func insertRequest(tx *bolt.Tx, cr *domain.ChangeRequest) error {
	if tx.Bucket(bChangeRequests).Get(key(cr.ID)) != nil {
		return domain.Errorf(domain.CodeConflict, "change request %s already exists", cr.ID)
	}
	cr.Version = 1
	if err := tx.Bucket(bChangeReqByTime).Put(timeKey(cr.CreatedAt, cr.ID), []byte(cr.ID)); err != nil {
		return err
	}
	return putRequest(tx, nil, cr)
}

// opens writes the request a direct write opens (domain.ConfigWrite.Opens
// and the like), if any, in the write's transaction.
func opens(tx *bolt.Tx, cr *domain.ChangeRequest) error {
	if cr == nil {
		return nil
	}
	return insertRequest(tx, cr)
}

func (s *Store) GetChangeRequest(ctx context.Context, id string) (cr *domain.ChangeRequest, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		cr, ok, err = get[record.ChangeRequest](tx, bChangeRequests, key(id))
		if err == nil && !ok {
			err = domain.NotFound("change request", id)
		}
		return err
	})
	return cr, err
}

// listNewestFirst pages through an index bucket (time-ordered keys whose
// values are ids or entries) from the newest end.
func listNewestFirst[T any](tx *bolt.Tx, index []byte, page domain.Page, load func(k, v []byte) (*T, error), keep func(*T) bool) ([]T, string, error) {
	page = page.Normalize()
	c := tx.Bucket(index).Cursor()
	var k, v []byte
	if page.Cursor != "" {
		before, err := decodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		k, v = c.Seek(before)
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && bytes.Compare(k, before) >= 0 {
			k, v = c.Prev()
		}
	} else {
		k, v = c.Last()
	}
	out := []T{}
	var last []byte
	for ; k != nil; k, v = c.Prev() {
		item, err := load(k, v)
		if err != nil {
			return nil, "", err
		}
		if item == nil || !keep(item) {
			continue
		}
		if len(out) == page.Limit {
			return out, encodeCursor(last), nil
		}
		out = append(out, *item)
		last = append(last[:0], k...)
	}
	return out, "", nil
}

func (s *Store) ListChangeRequests(ctx context.Context, filter domain.CRFilter, page domain.Page) (out []domain.ChangeRequest, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		needles := crNeedles(filter)
		out, next, err = listNewestFirst(tx, bChangeReqByTime, page, func(_, id []byte) (*domain.ChangeRequest, error) {
			if raw := tx.Bucket(bChangeRequests).Get(id); raw != nil && !containsAll(raw, needles) {
				return nil, nil
			}
			cr, _, err := get[record.ChangeRequest](tx, bChangeRequests, id)
			return cr, err
		}, filter.Matches)
		return err
	})
	return out, next, err
}

func (s *Store) UpdateChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.RequestWrite) error) (cr *domain.ChangeRequest, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		cr, ok, err = get[record.ChangeRequest](tx, bChangeRequests, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("change request", id)
		}
		read := cr.Version
		before := *cr
		var w domain.RequestWrite
		if err := fn(cr, &w); err != nil {
			return err
		}
		cr.Version = read + 1
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		if err := writeLocks(tx, before.Project, id, &w); err != nil {
			return err
		}
		return putRequest(tx, &before, cr)
	})
	return cr, err
}

func (s *Store) ApplyChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.Live, *domain.ApplyWrite) error) (cr *domain.ChangeRequest, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		cr, ok, err = get[record.ChangeRequest](tx, bChangeRequests, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("change request", id)
		}
		// The request's changes, as read: fn may not move them.
		before := *cr
		before.Changes = slices.Clone(cr.Changes)
		live, err := readLive(tx, cr)
		if err != nil {
			return err
		}
		var w domain.ApplyWrite
		if err := fn(cr, live, &w); err != nil {
			return err
		}
		if !w.Applied {
			// nothing to write (a retried apply answers with the request as it is)
			return nil
		}
		if err := w.Check(&before); err != nil {
			return err
		}
		cr.Version = before.Version + 1
		for _, f := range w.Flags {
			if err := putLiveFlag(tx, f); err != nil {
				return err
			}
		}
		for _, c := range w.Configs {
			if err := putLiveConfig(tx, c); err != nil {
				return err
			}
		}
		for _, sg := range w.Segments {
			if err := putLiveSegment(tx, sg); err != nil {
				return err
			}
		}
		if err := segmentsExist(tx, before.Project, w.Requires); err != nil {
			return err
		}
		if err := approversUnmoved(tx, w.Approvers); err != nil {
			return err
		}
		if w.Freezes != nil {
			if moved, err := freezesMoved(tx, *w.Freezes); err != nil || moved {
				return cmp.Or(err, error(domain.ErrApplyMoved))
			}
		}
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		if err := writeLocks(tx, before.Project, id, &w.RequestWrite); err != nil {
			return err
		}
		return putRequest(tx, &before, cr)
	})
	return cr, err
}

// readLive reads the live state of cr's changes: each flag one names and
// each targeting change's config.
func readLive(tx *bolt.Tx, cr *domain.ChangeRequest) (*domain.Live, error) {
	l := &domain.Live{Flags: map[string]*domain.Flag{}, Configs: map[domain.Target]*domain.FlagConfig{}, Segments: map[string]*domain.Segment{}}
	for _, c := range cr.Changes {
		if c.Kind == domain.KindSegment {
			sg, err := getSegment(tx, cr.Project, c.Segment)
			if err != nil {
				return nil, err
			}
			l.Segments[c.Segment] = sg
			continue
		}
		if c.Flag != "" && l.Flags[c.Flag] == nil {
			f, err := getFlag(tx, cr.Project, c.Flag)
			if err != nil {
				return nil, err
			}
			l.Flags[c.Flag] = f
		}
		if c.Kind == domain.KindTargeting {
			_, cfg, err := getFlagConfig(tx, cr.Project, c.Flag, c.Environment)
			if err != nil {
				return nil, err
			}
			l.Configs[c.Target()] = cfg
		}
	}
	return l, nil
}

// putLiveFlag writes f, which an apply names at the version it read, with
// that version + 1; ErrContention when the stored flag is at another
// version. The ruleset version moves with it.
func putLiveFlag(tx *bolt.Tx, f *domain.Flag) error {
	cur, err := getFlag(tx, f.Project, f.Key)
	if err != nil {
		return err
	}
	if cur.Version != f.Version {
		return domain.ErrContention
	}
	f.Version++
	if err := bumpRuleset(tx, f.Project); err != nil {
		return err
	}
	return put(tx, bFlags, key(f.Project, f.Key), record.FromFlag(*f))
}

// putLiveSegment is putLiveFlag for a segment.
func putLiveSegment(tx *bolt.Tx, sg *domain.Segment) error {
	cur, err := getSegment(tx, sg.Project, sg.Key)
	if err != nil {
		return err
	}
	if cur.Version != sg.Version {
		return domain.ErrContention
	}
	sg.Version++
	if err := bumpRuleset(tx, sg.Project); err != nil {
		return err
	}
	return put(tx, bSegments, key(sg.Project, sg.Key), record.FromSegment(*sg))
}

// putLiveConfig is putLiveFlag for a config (version 0: never written).
func putLiveConfig(tx *bolt.Tx, c *domain.FlagConfig) error {
	_, cur, err := getFlagConfig(tx, c.Project, c.Flag, c.Environment)
	if err != nil {
		return err
	}
	if cur.Version != c.Version {
		return domain.ErrContention
	}
	c.Version++
	if err := bumpRuleset(tx, c.Project); err != nil {
		return err
	}
	return put(tx, bConfigs, key(c.Project, c.Flag, c.Environment), record.FromFlagConfig(*c))
}

func (s *Store) PendingLock(ctx context.Context, project, flag, env string) (id string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bLocks).Get(key(project, flag, env)))
		return nil
	})
	return id, err
}

func (s *Store) ListAudit(ctx context.Context, filter domain.AuditFilter, page domain.Page) (out []domain.AuditEntry, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = listNewestFirst(tx, bAudit, page, func(_, raw []byte) (*domain.AuditEntry, error) {
			e, err := decode[record.AuditEntry](raw)
			if err != nil {
				return nil, fmt.Errorf("decode audit entry: %w", err)
			}
			return e, nil
		}, filter.Matches)
		return err
	})
	return out, next, err
}

// crNeedles are what a stored request must contain to pass the filter:
// for each value the filter asks for, one of the ways the record can hold
// it (its JSON encoding, after the field's name where the field is
// known). A record lacking one cannot match, so it is skipped undecoded;
// one that has them all is decoded and filter.Matches decides as before.
// The console lists open requests, and a member's own, on every page.
func crNeedles(f domain.CRFilter) [][][]byte {
	var out [][][]byte
	field := func(value string, names ...string) {
		if value == "" {
			return
		}
		v, _ := json.Marshal(value)
		var alts [][]byte
		for _, n := range names {
			alts = append(alts, append([]byte(`"`+n+`":`), v...))
		}
		if len(names) == 0 {
			alts = append(alts, v)
		}
		out = append(out, alts)
	}
	field(string(f.Status), "status")
	if f.Overdue != nil && *f.Overdue {
		field(string(domain.StatusReviewAfter), "status") // only a review after is overdue
	}
	field(f.Project, "project")
	field(f.Flag, "flag")
	field(f.Environment, "environment")
	field(f.Requester, "requester", "requester_member")
	field(f.Reviewer) // in notify_reviewers or a review: anywhere
	return out
}

func containsAll(raw []byte, needles [][][]byte) bool {
	for _, alts := range needles {
		found := false
		for _, n := range alts {
			if bytes.Contains(raw, n) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// approversUnmoved is ApplyWrite's Approvers on bbolt: each member is
// read in the write's own transaction, which bbolt serialises with every
// member write.
func approversUnmoved(tx *bolt.Tx, approvers []domain.MemberVersion) error {
	for _, a := range approvers {
		m, ok, err := get[record.Member](tx, bMembers, key(a.ID))
		if err != nil {
			return err
		}
		if !ok || m.Version != a.Version {
			return domain.ErrApplyMoved
		}
	}
	return nil
}
