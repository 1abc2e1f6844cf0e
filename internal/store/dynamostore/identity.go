package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

var _ domain.IdentityRepository = (*Store)(nil)

// Identity items (docs/dynamodb.md, "Items of identity"):
//
//	AUTH#<member>     LINK#<purpose>   a sign-in link (one per member and purpose)
//	AUTH#<member>     SESSION#<id>     the member's entry of a session: its hash
//	SESSION#<hash>    SESSION          the session itself (found by hash in one GetItem)
//	SESSIONID#<id>    SESSIONID        the session's id entry: member and hash
//	RATE#<key>        <window>#<start> a rate-limit window: hits (N)
//
// Every one carries ttl (N, Unix seconds): the table's time-to-live
// attribute, so DynamoDB deletes them some time after they can no longer be
// used. No read depends on that deletion (it may come days late): the
// application checks a link's and a session's times itself, and a window
// is keyed by its start, so an old window is never counted into a new one.
const (
	prefixAuth       = "AUTH#"
	prefixLink       = "LINK#"
	prefixSessionRef = "SESSION#" // under AUTH#<member>
	prefixSession    = "SESSION#" // partition of a session, by hash
	skSession        = "SESSION"
	prefixSessionID  = "SESSIONID#"
	skSessionID      = "SESSIONID"
	prefixRate       = "RATE#"

	attrTTL       = "ttl" // the table's time-to-live attribute (template.yaml)
	attrUsedAt    = "used_at"
	attrLastSeen  = "last_seen"
	attrIdleUntil = "idle_until"
	attrHits      = "hits"

	// maxRateKeyInKey: a longer rate-limit key is keyed by its SHA-256
	// (the partition key limit is 2048 bytes).
	maxRateKeyInKey = 1024
	// sessionRefPage is how many session entries RevokeMemberSessions reads
	// per Query.
	sessionRefPage = 25
)

func linkKey(member string, p domain.LinkPurpose) key {
	return key{prefixAuth + member, prefixLink + string(p)}
}
func sessionRefKey(member, id string) key { return key{prefixAuth + member, prefixSessionRef + id} }
func sessionKey(hash string) key          { return key{prefixSession + hash, skSession} }
func sessionIDKey(id string) key          { return key{prefixSessionID + id, skSessionID} }

func rateKey(k string, window time.Duration, start time.Time) key {
	if len(k) > maxRateKeyInKey {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return key{prefixRate + k, fmt.Sprintf("%020d#%s", int64(window), sortableTime(start))}
}

// ttlOf is the time-to-live value of an item that is useless from t on:
// Unix seconds, rounded up.
func ttlOf(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// ---- records: the stored form of the identity entities ----

// Times are stored in the fixed-width format of sort keys (timeFormat), so
// that conditions compare them as strings.

func storedTime(t time.Time) string { return sortableTime(t) }

func storedTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return sortableTime(*t)
}

func parseStored(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("dynamodb decode time %q: %w", s, err)
	}
	return t, nil
}

func parseStoredPtr(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseStored(s)
	return &t, err
}

type linkRecord struct {
	MemberID  string `dynamodbav:"member_id"`
	Purpose   string `dynamodbav:"purpose"`
	Hash      string `dynamodbav:"hash"`
	CreatedAt string `dynamodbav:"created_at"`
	ExpiresAt string `dynamodbav:"expires_at"`
	UsedAt    string `dynamodbav:"used_at,omitempty"`
	TTL       int64  `dynamodbav:"ttl"`
}

func linkItem(l *domain.SignInLink) (item, error) {
	return encodeRecord(linkKey(l.MemberID, l.Purpose), linkRecord{
		MemberID: l.MemberID, Purpose: string(l.Purpose), Hash: l.Hash,
		CreatedAt: storedTime(l.CreatedAt), ExpiresAt: storedTime(l.ExpiresAt), UsedAt: storedTimePtr(l.UsedAt),
		TTL: ttlOf(l.ExpiresAt),
	})
}

func decodeLink(it item) (*domain.SignInLink, error) {
	r, err := decodeRecord[linkRecord](it)
	if err != nil {
		return nil, err
	}
	l := &domain.SignInLink{MemberID: r.MemberID, Purpose: domain.LinkPurpose(r.Purpose), Hash: r.Hash}
	if l.CreatedAt, err = parseStored(r.CreatedAt); err != nil {
		return nil, err
	}
	if l.ExpiresAt, err = parseStored(r.ExpiresAt); err != nil {
		return nil, err
	}
	if l.UsedAt, err = parseStoredPtr(r.UsedAt); err != nil {
		return nil, err
	}
	return l, nil
}

type sessionRecord struct {
	ID        string `dynamodbav:"id"`
	Hash      string `dynamodbav:"hash"`
	MemberID  string `dynamodbav:"member_id"`
	Role      string `dynamodbav:"role"`
	Channel   string `dynamodbav:"channel"`
	CSRFToken string `dynamodbav:"csrf_token"`
	CreatedAt string `dynamodbav:"created_at"`
	LastSeen  string `dynamodbav:"last_seen"`
	IdleUntil string `dynamodbav:"idle_until"`
	ExpiresAt string `dynamodbav:"expires_at"`
	RevokedAt string `dynamodbav:"revoked_at,omitempty"`
	UserAgent string `dynamodbav:"user_agent,omitempty"`
	TTL       int64  `dynamodbav:"ttl"`
}

func sessionItem(s *domain.Session) (item, error) {
	return encodeRecord(sessionKey(s.Hash), sessionRecord{
		ID: s.ID, Hash: s.Hash, MemberID: s.MemberID, Role: string(s.Role), Channel: string(s.Channel), CSRFToken: s.CSRFToken,
		CreatedAt: storedTime(s.CreatedAt), LastSeen: storedTime(s.LastSeen), IdleUntil: storedTime(s.IdleUntil),
		ExpiresAt: storedTime(s.ExpiresAt), RevokedAt: storedTimePtr(s.RevokedAt), UserAgent: s.UserAgent,
		TTL: ttlOf(s.ExpiresAt),
	})
}

func decodeSession(it item) (*domain.Session, error) {
	r, err := decodeRecord[sessionRecord](it)
	if err != nil {
		return nil, err
	}
	s := &domain.Session{
		ID: r.ID, Hash: r.Hash, MemberID: r.MemberID, Role: domain.Role(r.Role), Channel: domain.SignInChannel(r.Channel),
		CSRFToken: r.CSRFToken, UserAgent: r.UserAgent,
	}
	for _, f := range []struct {
		to   *time.Time
		from string
	}{{&s.CreatedAt, r.CreatedAt}, {&s.LastSeen, r.LastSeen}, {&s.IdleUntil, r.IdleUntil}, {&s.ExpiresAt, r.ExpiresAt}} {
		if *f.to, err = parseStored(f.from); err != nil {
			return nil, err
		}
	}
	if s.RevokedAt, err = parseStoredPtr(r.RevokedAt); err != nil {
		return nil, err
	}
	return s, nil
}

// sessionRef is what the member's entry and the id entry of a session hold.
type sessionRef struct {
	MemberID string `dynamodbav:"member_id"`
	ID       string `dynamodbav:"id"`
	Hash     string `dynamodbav:"hash"`
	TTL      int64  `dynamodbav:"ttl"`
}

func encodeRecord(k key, v any) (item, error) {
	it, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("dynamodb encode %s: %w", k, err)
	}
	it[attrPK], it[attrSK] = str(k.pk), str(k.sk)
	return it, nil
}

func decodeRecord[T any](it item) (*T, error) {
	var v T
	if err := attributevalue.UnmarshalMap(it, &v); err != nil {
		return nil, fmt.Errorf("dynamodb decode %s/%s: %w", stringAttr(it, attrPK), stringAttr(it, attrSK), err)
	}
	return &v, nil
}

// ---- sign-in links ----

func errNoLink() error    { return domain.Errorf(domain.CodeNotFound, "sign-in link not found") }
func errNoSession() error { return domain.Errorf(domain.CodeNotFound, "session not found") }

// PutSignInLink is one transaction: a ConditionCheck that the member exists,
// the link's Put (unconditional: it replaces the member's link of that
// purpose), and the audit entries.
func (s *Store) PutSignInLink(ctx context.Context, l *domain.SignInLink, audit ...domain.AuditEntry) error {
	if !l.Purpose.Valid() {
		return domain.Errorf(domain.CodeInvalid, "unknown sign-in link purpose %q", l.Purpose)
	}
	return retry(ctx, func() error {
		it, err := linkItem(l)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txCheck(memberKey(l.MemberID), itemExists))
		b.add(s.txPut(it, nil))
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		if failedCondition(err, 0) {
			return domain.NotFound("member", l.MemberID)
		}
		return outcome(err, audit, from, "put sign-in link of "+l.MemberID)
	})
}

// The items of UseSignInLink's transaction, before the session's and the
// audit entries'.
const (
	useLinkPut   = iota // the link as fn left it, if its hash and used_at are as read
	useLinkCheck        // ConditionCheck: the member exists
	useLinkSession
)

// UseSignInLink reads the link and the member in one BatchGetItem (strongly
// consistent), calls fn, and writes one transaction: the link's Put
// conditioned on its hash and used_at being as read, a ConditionCheck that
// the member exists, the session's three items (addSession) and the audit
// entries. A failed link condition (used or replaced meanwhile) reads again,
// so fn sees the link as it is now and refuses.
func (s *Store) UseSignInLink(ctx context.Context, memberID string, purpose domain.LinkPurpose, fn func(*domain.SignInLink, *domain.Audit) (*domain.Session, error)) (sess *domain.Session, err error) {
	lk := linkKey(memberID, purpose)
	err = retry(ctx, func() error {
		read, err := s.getMany(ctx, lk, memberKey(memberID))
		if err != nil {
			return err
		}
		if read[0] == nil {
			return errNoLink()
		}
		if read[1] == nil {
			return domain.NotFound("member", memberID)
		}
		l, err := decodeLink(read[0])
		if err != nil {
			return err
		}
		var audit domain.Audit
		if sess, err = fn(l, &audit); err != nil {
			return err
		}
		// The key is the one read, whatever fn did to the link.
		l.MemberID, l.Purpose = memberID, purpose
		it, err := linkItem(l)
		if err != nil {
			return err
		}
		asRead := unchanged(read[0], attrHash, attrUsedAt)
		var b txBuilder
		b.add(s.txPut(it, &asRead))
		b.add(s.txCheck(memberKey(memberID), itemExists))
		if sess != nil {
			if sess.MemberID != memberID {
				return fmt.Errorf("sign-in link of member %s: the session to create is of member %q", memberID, sess.MemberID)
			}
			s.addSession(&b, sess)
		}
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, useLinkPut):
			return errRetry
		case failedCondition(err, useLinkCheck):
			return domain.NotFound("member", memberID)
		}
		if _, ok := anyFailedCondition(err, useLinkSession, from); ok {
			return errSessionExists(sess)
		}
		return outcome(err, audit.Entries, from, "use sign-in link of "+memberID)
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// DeleteSignInLinks queries the member's links (strongly consistent,
// projecting SK) and deletes them in one transaction.
func (s *Store) DeleteSignInLinks(ctx context.Context, memberID string) error {
	pk := prefixAuth + memberID
	return retry(ctx, func() error {
		sks, err := s.sortKeys(ctx, pk, prefixLink, maxTxItems)
		if err != nil {
			return err
		}
		if len(sks) == 0 {
			return nil
		}
		var b txBuilder
		for _, sk := range sks[:min(len(sks), maxTxItems)] { // a link per purpose: far fewer
			b.add(s.txDelete(key{pk, sk}, nil))
		}
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb delete sign-in links of %s: %w", memberID, err)
	})
}

// ---- sessions ----

func errSessionExists(sess *domain.Session) error {
	return domain.Errorf(domain.CodeConflict, "session %q already exists", sess.ID)
}

// addSession adds a new session's three items to a transaction, each
// conditioned on not existing: the session (by hash), its id entry and its
// member's entry.
func (s *Store) addSession(b *txBuilder, sess *domain.Session) {
	it, err := sessionItem(sess)
	if err != nil {
		b.add(types.TransactWriteItem{}, err)
		return
	}
	b.add(s.txPut(it, &itemMissing))
	ref := sessionRef{MemberID: sess.MemberID, ID: sess.ID, Hash: sess.Hash, TTL: ttlOf(sess.ExpiresAt)}
	for _, k := range []key{sessionIDKey(sess.ID), sessionRefKey(sess.MemberID, sess.ID)} {
		it, err := encodeRecord(k, ref)
		if err != nil {
			b.add(types.TransactWriteItem{}, err)
			continue
		}
		b.add(s.txPut(it, &itemMissing))
	}
}

// CreateSession is one transaction: a ConditionCheck that the member
// exists, the session's three items, the audit entries.
func (s *Store) CreateSession(ctx context.Context, sess *domain.Session, audit ...domain.AuditEntry) error {
	return retry(ctx, func() error {
		var b txBuilder
		b.add(s.txCheck(memberKey(sess.MemberID), itemExists))
		s.addSession(&b, sess)
		from := s.addAudit(&b, audit)
		err := s.transact(ctx, &b)
		if failedCondition(err, 0) {
			return domain.NotFound("member", sess.MemberID)
		}
		if _, ok := anyFailedCondition(err, 1, from); ok {
			return errSessionExists(sess)
		}
		return outcome(err, audit, from, "create session "+sess.ID)
	})
}

// GetSessionByHash is one strongly consistent GetItem of SESSION#<hash>.
func (s *Store) GetSessionByHash(ctx context.Context, hash string) (*domain.Session, error) {
	it, err := s.get(ctx, sessionKey(hash))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, errNoSession()
	}
	return decodeSession(it)
}

// sessionByID reads the id entry, then the session (both strongly
// consistent); nil when either is missing.
func (s *Store) sessionByID(ctx context.Context, id string) (item, error) {
	ref, err := s.get(ctx, sessionIDKey(id))
	if err != nil || ref == nil {
		return nil, err
	}
	return s.get(ctx, sessionKey(stringAttr(ref, attrHash)))
}

// ListSessions queries the member's entries (strongly consistent, in id
// order) and reads their sessions in one BatchGetItem per query; an entry
// whose session is gone (deleted by TTL first) is skipped, and it keeps
// reading until the page is full, one session past it, or the entries end.
func (s *Store) ListSessions(ctx context.Context, memberID string, page domain.Page) ([]domain.Session, string, error) {
	page = page.Normalize()
	pk := prefixAuth + memberID
	e, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefixSessionRef))).
		Build()
	if err != nil {
		return nil, "", fmt.Errorf("dynamodb build query of sessions: %w", err)
	}
	var start item
	if page.Cursor != "" {
		sk, err := decodeCursor(page.Cursor, prefixSessionRef)
		if err != nil {
			return nil, "", err
		}
		start = key{pk, sk}.av()
	}
	out := []domain.Session{}
	last := ""
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    e.KeyCondition(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(page.Limit + 1 - len(out))),
		})
		if err != nil {
			return nil, "", fmt.Errorf("dynamodb query sessions of %s: %w", memberID, err)
		}
		keys := make([]key, len(res.Items))
		for i, it := range res.Items {
			keys[i] = sessionKey(stringAttr(it, attrHash))
		}
		sessions, err := s.getMany(ctx, keys...)
		if err != nil {
			return nil, "", err
		}
		for i, it := range sessions {
			if it == nil {
				continue
			}
			if len(out) == page.Limit {
				return out, encodeCursor(last), nil
			}
			sess, err := decodeSession(it)
			if err != nil {
				return nil, "", err
			}
			out = append(out, *sess)
			last = stringAttr(res.Items[i], attrSK)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		start = res.LastEvaluatedKey
	}
}

// TouchSession reads the id entry, then updates the session: SET last_seen,
// idle_until conditioned on the session existing, not revoked, with both
// earlier than the new values (one UpdateItem: the usual case). When that
// condition fails it reads the session and sets only what moves forward,
// conditioned on what it read.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleUntil time.Time) error {
	ref, err := s.get(ctx, sessionIDKey(id))
	if err != nil {
		return err
	}
	if ref == nil {
		return domain.NotFound("session", id)
	}
	sk := sessionKey(stringAttr(ref, attrHash))
	ls, iu := storedTime(lastSeen), storedTime(idleUntil)
	notRevoked := expression.AttributeNotExists(expression.Name(attrRevokedAt))
	fast := true
	return retry(ctx, func() error {
		upd := expression.Set(expression.Name(attrLastSeen), expression.Value(ls)).Set(expression.Name(attrIdleUntil), expression.Value(iu))
		cond := itemExists.And(notRevoked).
			And(expression.Name(attrLastSeen).LessThan(expression.Value(ls))).
			And(expression.Name(attrIdleUntil).LessThan(expression.Value(iu)))
		if !fast {
			read, err := s.get(ctx, sk)
			if err != nil {
				return err
			}
			if read == nil {
				return domain.NotFound("session", id)
			}
			cur, err := decodeSession(read)
			if err != nil {
				return err
			}
			if cur.RevokedAt != nil {
				return nil
			}
			moveSeen, moveIdle := lastSeen.After(cur.LastSeen), idleUntil.After(cur.IdleUntil)
			switch {
			case !moveSeen && !moveIdle:
				return nil
			case !moveSeen:
				upd = expression.Set(expression.Name(attrIdleUntil), expression.Value(iu))
			case !moveIdle:
				upd = expression.Set(expression.Name(attrLastSeen), expression.Value(ls))
			}
			cond = itemExists.And(unchanged(read, attrLastSeen, attrIdleUntil, attrRevokedAt))
		}
		e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
		if err != nil {
			return fmt.Errorf("dynamodb build update: %w", err)
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       sk.av(),
			UpdateExpression:          e.Update(),
			ConditionExpression:       e.Condition(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ccf):
			fast = false
			return errRetry
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb touch session %s: %w", id, err)
	})
}

// RevokeSession reads the id entry and the session; a revoked one is
// answered as it is. Otherwise one transaction: an Update setting
// revoked_at, conditioned on the session existing without one, and the
// audit entries.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time, audit ...domain.AuditEntry) (sess *domain.Session, err error) {
	err = retry(ctx, func() error {
		read, err := s.sessionByID(ctx, id)
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("session", id)
		}
		if sess, err = decodeSession(read); err != nil {
			return err
		}
		if sess.RevokedAt != nil {
			return nil
		}
		at := at.UTC()
		var b txBuilder
		b.add(s.txUpdate(sessionKey(sess.Hash), expression.Set(expression.Name(attrRevokedAt), expression.Value(storedTime(at))),
			itemExists.And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))))
		from := s.addAudit(&b, audit)
		if err = s.transact(ctx, &b); err == nil {
			sess.RevokedAt = &at
			return nil
		}
		// Revoked meanwhile (a lost race): the next read answers it as it is.
		return outcome(err, audit, from, "revoke session "+id)
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// RevokeMemberSessions queries the member's session entries
// (sessionRefPage a page, strongly consistent) and revokes each session
// with its own UpdateItem: SET revoked_at, conditioned on the session
// existing without revoked_at (a session revoked meanwhile keeps its time;
// one deleted is not made again), returning the old item to count the
// sessions that were live.
func (s *Store) RevokeMemberSessions(ctx context.Context, memberID string, at time.Time) (int, error) {
	at = at.UTC()
	pk := prefixAuth + memberID
	q, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefixSessionRef))).
		WithProjection(expression.NamesList(expression.Name(attrSK), expression.Name(attrHash))).
		Build()
	if err != nil {
		return 0, fmt.Errorf("dynamodb build query of sessions: %w", err)
	}
	u, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrRevokedAt), expression.Value(storedTime(at)))).
		WithCondition(itemExists.And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))).
		Build()
	if err != nil {
		return 0, fmt.Errorf("dynamodb build update: %w", err)
	}
	n := 0
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    q.KeyCondition(),
			ProjectionExpression:      q.Projection(),
			ExpressionAttributeNames:  q.Names(),
			ExpressionAttributeValues: q.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(sessionRefPage),
		})
		if err != nil {
			return n, fmt.Errorf("dynamodb query sessions of %s: %w", memberID, err)
		}
		for _, ref := range res.Items {
			out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 &s.table,
				Key:                       sessionKey(stringAttr(ref, attrHash)).av(),
				UpdateExpression:          u.Update(),
				ConditionExpression:       u.Condition(),
				ExpressionAttributeNames:  u.Names(),
				ExpressionAttributeValues: u.Values(),
				ReturnValues:              types.ReturnValueAllOld,
			})
			var ccf *types.ConditionalCheckFailedException
			switch {
			case errors.As(err, &ccf):
				continue // revoked already, or gone
			case err != nil:
				return n, fmt.Errorf("dynamodb revoke sessions of %s: %w", memberID, err)
			}
			old, err := decodeSession(out.Attributes)
			if err != nil {
				return n, err
			}
			if old.Live(at) {
				n++
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return n, nil
		}
		start = res.LastEvaluatedKey
	}
}

// ---- rate limits ----

// Hit is one UpdateItem of RATE#<key> / <window>#<start>: ADD hits :one,
// SET ttl (the window's end), ReturnValues UPDATED_NEW. ADD is atomic, so
// concurrent hits count exactly, and it creates the item on the window's
// first hit. A call that failed with an internal error (after the SDK's own
// retries: DynamoDB Local answers one when it waits too long for an item's
// lock) is tried again, with the store's backoff; since such a failure may
// hide an ADD that happened, a hit may then count twice, which errs on the
// side of limiting.
func (s *Store) Hit(ctx context.Context, k string, window time.Duration, at time.Time) (int, time.Time, error) {
	if window <= 0 {
		return 0, time.Time{}, domain.Errorf(domain.CodeInvalid, "a rate limit window must be positive")
	}
	start, end := domain.RateWindow(at, window)
	e, err := expression.NewBuilder().
		WithUpdate(expression.Add(expression.Name(attrHits), expression.Value(1)).Set(expression.Name(attrTTL), expression.Value(ttlOf(end)))).
		Build()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("dynamodb build update: %w", err)
	}
	rk := rateKey(k, window, start)
	var out *dynamodb.UpdateItemOutput
	err = retry(ctx, func() error {
		var err error
		out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       rk.av(),
			UpdateExpression:          e.Update(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ReturnValues:              types.ReturnValueUpdatedNew,
		})
		var internal *types.InternalServerError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &internal), lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb hit %s: %w", rk, err)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	hits, ok := out.Attributes[attrHits].(*types.AttributeValueMemberN)
	if !ok {
		return 0, time.Time{}, fmt.Errorf("dynamodb hit %s: no %s in the answer", rk, attrHits)
	}
	n, err := strconv.Atoi(hits.Value)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("dynamodb hit %s: %s %q: %w", rk, attrHits, hits.Value, err)
	}
	return n, end, nil
}
