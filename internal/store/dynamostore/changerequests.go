package dynamostore

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
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
		from := s.addAudit(&b, audit.Entries)
		if err := outcome(s.transact(ctx, &b), audit.Entries, from, "put organisation settings"); err != nil {
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
		from := s.addAudit(&b, audit.Entries)
		if err := outcome(s.transact(ctx, &b), audit.Entries, from, "put approval settings "+project+"/"+env); err != nil {
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

func crLockKey(cr *domain.ChangeRequest) key { return lockKey(cr.Project, cr.Flag, cr.Environment) }

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
		lk := crLockKey(cr)
		var b txBuilder
		b.add(s.txPut(it, &itemMissing))
		if lock {
			b.add(withOld(s.txPut(item{attrPK: str(lk.pk), attrSK: str(lk.sk), attrLockedBy: str(cr.ID)}, &itemMissing)))
		} else {
			b.add(withOld(s.txCheck(lk, itemMissing)))
		}
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "change request %s already exists", cr.ID)
		case failedCondition(err, 1):
			return errLockedByOthers(stringAttr(cancelled(err)[1].Item, attrLockedBy))
		case tooLarge(err):
			return errTooLarge(cr.ID)
		}
		return outcome(err, audit, from, "create change request "+cr.ID)
	})
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
	for _, f := range []struct{ name, value string }{
		{"status", string(filter.Status)}, {"project", filter.Project}, {"flag", filter.Flag}, {"environment", filter.Environment},
	} {
		if f.value != "" {
			conds = append(conds, expression.Name(f.name).Equal(expression.Value(f.value)))
		}
	}
	if r := filter.Requester; r != "" {
		conds = append(conds, expression.Name("requester").Equal(expression.Value(r)).
			Or(expression.Name("requester_member").Equal(expression.Value(r))))
	}
	if m := filter.Reviewer; m != "" {
		conds = append(conds, expression.Name("notify_reviewers").Contains(m).Or(expression.Name(attrReviewed).Contains(m)))
	}
	var keep func(*domain.ChangeRequest) bool
	if filter != (domain.CRFilter{}) {
		keep = filter.Matches
	}
	return queryPage[record.ChangeRequest](ctx, s, query{
		index:       indexGSI1,
		key:         expression.Key(attrGSI1PK).Equal(expression.Value(gsiCR)),
		filter:      all(conds),
		newestFirst: true,
		what:        "change requests",
		cursorOf:    crCursor,
		startKey:    crStartKey,
	}, page, keep)
}

// addRelease adds to a transaction, when request id holds the lock lk, the
// lock's delete (conditioned on id still holding it). A lock held by
// another request, or by none, is left alone.
func (s *Store) addRelease(ctx context.Context, b *txBuilder, id string, lk key) error {
	it, err := s.get(ctx, lk)
	if err != nil {
		return err
	}
	if stringAttr(it, attrLockedBy) == id {
		cond := lockHeldBy(id)
		b.add(s.txDelete(lk, &cond))
	}
	return nil
}

func (s *Store) UpdateChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.RequestWrite) error) (*domain.ChangeRequest, error) {
	var out *domain.ChangeRequest
	err := retry(ctx, func() error {
		cr, err := s.readCR(ctx, id)
		if err != nil {
			return err
		}
		v, lk := cr.Version, crLockKey(cr)
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
		if w.ReleaseLock {
			if err := s.addRelease(ctx, &b, id, lk); err != nil {
				return err
			}
		}
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if tooLarge(err) {
			return errTooLarge(id)
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

// readPlace reads the live state of a request's place and its pending lock
// in one strongly consistent batch: the flag and, when the request names an
// environment, the environment and the config there (nil otherwise). It
// returns the flag item as read (for its config_seq) and the lock holder.
func (s *Store) readPlace(ctx context.Context, project, flag, env string) (item, *domain.Flag, *domain.FlagConfig, string, error) {
	if env != "" {
		return s.readFlagConfig(ctx, project, flag, env, true)
	}
	items, err := s.getMany(ctx, flagKey(project, flag), lockKey(project, flag, env))
	if err != nil {
		return nil, nil, nil, "", err
	}
	if items[0] == nil {
		return nil, nil, nil, "", s.notFoundIn(ctx, project, "flag", flag)
	}
	f, err := decode[record.Flag](items[0])
	if err != nil {
		return nil, nil, nil, "", err
	}
	return items[0], f, nil, stringAttr(items[1], attrLockedBy), nil
}

func (s *Store) ApplyChangeRequest(ctx context.Context, id string, fn func(*domain.ChangeRequest, *domain.Flag, *domain.FlagConfig, *domain.ApplyWrite) error) (*domain.ChangeRequest, error) {
	var out *domain.ChangeRequest
	err := retry(ctx, func() error {
		cr, err := s.readCR(ctx, id)
		if err != nil {
			return err
		}
		// The request's place, as read: fn may not move it.
		project, flag, env := cr.Project, cr.Flag, cr.Environment
		lk := crLockKey(cr)
		flagItem, f, c, holder, err := s.readPlace(ctx, project, flag, env)
		if err != nil {
			return err
		}
		crVersion, flagVersion := cr.Version, f.Version
		var configVersion int64
		if c != nil {
			configVersion = c.Version
		}
		var w domain.ApplyWrite
		err = fn(cr, f, c, &w)
		if err != nil || !w.Applied {
			// fn refused, or applies nothing. The request and the live
			// state were read one after the other, not together: if the
			// request changed meanwhile (another apply committed between the
			// two reads, say), fn judged a state that never was; read again.
			if same, verr := s.crVersionIs(ctx, id, crVersion); verr != nil {
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
		if err := w.Check(project, flag, env); err != nil {
			return err
		}
		if (w.Flag != nil && w.Flag.Version != flagVersion) || (w.Config != nil && w.Config.Version != configVersion) {
			// fn names live state at a version other than the stored one
			// (as read): the write's condition cannot hold.
			return domain.ErrContention
		}

		var b txBuilder
		cr.Version = crVersion + 1
		it, err := crItem(id, cr)
		if err != nil {
			return err
		}
		cond := versionIs(crVersion)
		b.add(s.txPut(it, &cond))
		if w.Config != nil {
			w.Config.Version = configVersion + 1
			s.addConfigWrite(&b, project, flag, env, w.Config, configVersion, flagVersion)
		}
		if w.Flag != nil {
			w.Flag.Version = flagVersion + 1
			fit, err := encode(flagKey(project, flag), record.FromFlag(*w.Flag), keep(flagItem, attrConfigSeq))
			if err != nil {
				return err
			}
			fcond := versionIs(flagVersion).And(unchanged(flagItem, attrConfigSeq))
			b.add(s.txPut(fit, &fcond))
			s.addRulesetBump(&b, project)
		}
		if w.ReleaseLock && holder == id {
			cond := lockHeldBy(id)
			b.add(s.txDelete(lk, &cond))
		}
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if tooLarge(err) {
			return errTooLarge(id)
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

func (s *Store) PendingLock(ctx context.Context, project, flag, env string) (string, error) {
	it, err := s.get(ctx, lockKey(project, flag, env))
	if err != nil {
		return "", err
	}
	return stringAttr(it, attrLockedBy), nil
}
