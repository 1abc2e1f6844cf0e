package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// Identity: sign-in links, sessions and rate-limit windows. Keys join their
// parts with NUL, which no member id, purpose or session id holds (rate
// limit keys are the application's and are not parsed back).
var (
	bSignInLinks    = []byte("sign_in_links")   // member \0 purpose → linkRecord
	bSessions       = []byte("sessions")        // id → sessionRecord
	bSessionHashes  = []byte("session_hashes")  // hash → id
	bMemberSessions = []byte("member_sessions") // member \0 id → id (a JSON string, as list reads values)
	bRateLimits     = []byte("rate_limits")     // key \0 window ns \0 start ns → count (uint64)
	bRateLimitEnds  = []byte("rate_limit_ends") // end ns \0 rate_limits key → nothing: the clean-up index
	identityBuckets = [][]byte{bSignInLinks, bSessions, bSessionHashes, bMemberSessions, bRateLimits, bRateLimitEnds}
)

var _ domain.IdentityRepository = (*Store)(nil)

func init() { allBuckets = append(allBuckets, identityBuckets...) }

func nulKey(parts ...string) []byte {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// memberSessions values are session ids, as JSON strings.
func decodeID(raw []byte) (*string, error) {
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// ---- sign-in links ----

func errNoLink() error { return domain.Errorf(domain.CodeNotFound, "sign-in link not found") }

func memberExists(tx *bolt.Tx, id string) error {
	if tx.Bucket(bMembers).Get(key(id)) == nil {
		return domain.NotFound("member", id)
	}
	return nil
}

func (s *Store) PutSignInLink(ctx context.Context, l *domain.SignInLink, audit ...domain.AuditEntry) error {
	if !l.Purpose.Valid() {
		return domain.Errorf(domain.CodeInvalid, "unknown sign-in link purpose %q", l.Purpose)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := memberExists(tx, l.MemberID); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bSignInLinks, nulKey(l.MemberID, string(l.Purpose)), record.FromSignInLink(*l))
	})
}

func (s *Store) UseSignInLink(ctx context.Context, memberID string, purpose domain.LinkPurpose, fn func(*domain.SignInLink, *domain.Audit) (*domain.Session, error)) (sess *domain.Session, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		lk := nulKey(memberID, string(purpose))
		l, ok, err := get[record.SignInLink](tx, bSignInLinks, lk)
		if err != nil {
			return err
		}
		if !ok {
			return errNoLink()
		}
		if err := memberExists(tx, memberID); err != nil {
			return err
		}
		var audit domain.Audit
		if sess, err = fn(l, &audit); err != nil {
			return err
		}
		// The key is the one read, whatever fn did to the link.
		l.MemberID, l.Purpose = memberID, purpose
		if err := put(tx, bSignInLinks, lk, record.FromSignInLink(*l)); err != nil {
			return err
		}
		if sess != nil {
			if sess.MemberID != memberID {
				return fmt.Errorf("sign-in link of member %s: the session to create is of member %q", memberID, sess.MemberID)
			}
			if err := createSession(tx, sess); err != nil {
				return err
			}
		}
		return writeAudit(tx, audit.Entries)
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

func (s *Store) DeleteSignInLinks(ctx context.Context, memberID string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return deletePrefix(tx.Bucket(bSignInLinks), nulKey(memberID, ""))
	})
}

// deletePrefix deletes every key under prefix (collected first: a cursor
// must not see its bucket change).
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		doomed = append(doomed, bytes.Clone(k))
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ---- sessions ----

func (s *Store) CreateSession(ctx context.Context, sess *domain.Session, audit ...domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := memberExists(tx, sess.MemberID); err != nil {
			return err
		}
		if err := createSession(tx, sess); err != nil {
			return err
		}
		return writeAudit(tx, audit)
	})
}

// createSession writes a new session and its hash and member entries, in
// the caller's transaction (whose caller checked the member). It first
// deletes the member's sessions whose absolute lifetime ended before the
// new one's creation, so that a member's sessions do not pile up: the
// clean-up is bounded by the member's own sessions.
func createSession(tx *bolt.Tx, sess *domain.Session) error {
	sessions, hashes := tx.Bucket(bSessions), tx.Bucket(bSessionHashes)
	if sessions.Get(key(sess.ID)) != nil || hashes.Get([]byte(sess.Hash)) != nil {
		return domain.Errorf(domain.CodeConflict, "session %q already exists", sess.ID)
	}
	if err := dropEndedSessions(tx, sess.MemberID, sess.CreatedAt); err != nil {
		return err
	}
	if err := put(tx, bSessions, key(sess.ID), record.FromSession(*sess)); err != nil {
		return err
	}
	if err := hashes.Put([]byte(sess.Hash), []byte(sess.ID)); err != nil {
		return err
	}
	id, err := json.Marshal(sess.ID)
	if err != nil {
		return err
	}
	return tx.Bucket(bMemberSessions).Put(nulKey(sess.MemberID, sess.ID), id)
}

// memberSessions calls visit with every session of the member (nil for an
// entry whose session is gone) and its member_sessions key.
func memberSessions(tx *bolt.Tx, memberID string, visit func(k []byte, sess *domain.Session)) error {
	prefix := nulKey(memberID, "")
	c := tx.Bucket(bMemberSessions).Cursor()
	for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
		id, err := decodeID(raw)
		if err != nil {
			return fmt.Errorf("decode %s/%q: %w", bMemberSessions, k, err)
		}
		sess, _, err := get[record.Session](tx, bSessions, key(*id))
		if err != nil {
			return err
		}
		visit(bytes.Clone(k), sess)
	}
	return nil
}

func dropEndedSessions(tx *bolt.Tx, memberID string, now time.Time) error {
	sessions, hashes, members := tx.Bucket(bSessions), tx.Bucket(bSessionHashes), tx.Bucket(bMemberSessions)
	var ended []*domain.Session
	var entries [][]byte
	err := memberSessions(tx, memberID, func(k []byte, sess *domain.Session) {
		if sess == nil || !now.Before(sess.ExpiresAt) {
			ended, entries = append(ended, sess), append(entries, k)
		}
	})
	if err != nil {
		return err
	}
	for i, sess := range ended {
		if err := members.Delete(entries[i]); err != nil {
			return err
		}
		if sess == nil {
			continue
		}
		if err := sessions.Delete(key(sess.ID)); err != nil {
			return err
		}
		if err := hashes.Delete([]byte(sess.Hash)); err != nil {
			return err
		}
	}
	return nil
}

func errNoSession() error { return domain.Errorf(domain.CodeNotFound, "session not found") }

func (s *Store) GetSessionByHash(ctx context.Context, hash string) (sess *domain.Session, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bSessionHashes).Get([]byte(hash))
		if id == nil {
			return errNoSession()
		}
		var ok bool
		sess, ok, err = get[record.Session](tx, bSessions, key(string(id)))
		if err == nil && !ok {
			err = errNoSession()
		}
		return err
	})
	return sess, err
}

func (s *Store) ListSessions(ctx context.Context, memberID string, page domain.Page) (out []domain.Session, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ids []string
		ids, next, err = listRaw(tx, bMemberSessions, nulKey(memberID, ""), page, nil, decodeID, nil)
		if err != nil {
			return err
		}
		out = make([]domain.Session, 0, len(ids))
		for _, id := range ids {
			sess, ok, err := get[record.Session](tx, bSessions, key(id))
			if err != nil {
				return err
			}
			if ok {
				out = append(out, *sess)
			}
		}
		return nil
	})
	return out, next, err
}

func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleUntil time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		sess, ok, err := get[record.Session](tx, bSessions, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("session", id)
		}
		if sess.RevokedAt != nil {
			return nil
		}
		changed := false
		if lastSeen.After(sess.LastSeen) {
			sess.LastSeen, changed = lastSeen.UTC(), true
		}
		if idleUntil.After(sess.IdleUntil) {
			sess.IdleUntil, changed = idleUntil.UTC(), true
		}
		if !changed {
			return nil
		}
		return put(tx, bSessions, key(id), record.FromSession(*sess))
	})
}

func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time, audit ...domain.AuditEntry) (sess *domain.Session, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		cur, ok, err := get[record.Session](tx, bSessions, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("session", id)
		}
		if cur.RevokedAt == nil {
			at := at.UTC()
			cur.RevokedAt = &at
			if err := put(tx, bSessions, key(id), record.FromSession(*cur)); err != nil {
				return err
			}
			if err := writeAudit(tx, audit); err != nil {
				return err
			}
		}
		sess = cur
		return nil
	})
	return sess, err
}

func (s *Store) RevokeMemberSessions(ctx context.Context, memberID string, at time.Time) (n int, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		at := at.UTC()
		var revoked []*domain.Session
		err := memberSessions(tx, memberID, func(_ []byte, sess *domain.Session) {
			if sess == nil || sess.RevokedAt != nil {
				return
			}
			if sess.Live(at) {
				n++
			}
			sess.RevokedAt = &at
			revoked = append(revoked, sess)
		})
		if err != nil {
			return err
		}
		for _, sess := range revoked {
			if err := put(tx, bSessions, key(sess.ID), record.FromSession(*sess)); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// ---- rate limits ----

// rateCleanups is how many ended windows (of any key) one Hit deletes at
// most: every hit cleans a little, so ended windows do not pile up and no
// hit does much work.
const rateCleanups = 16

func nsKey(t time.Time) string { return fmt.Sprintf("%020d", t.UnixNano()) }

func (s *Store) Hit(ctx context.Context, k string, window time.Duration, at time.Time) (count int, resets time.Time, err error) {
	if window <= 0 {
		return 0, time.Time{}, domain.Errorf(domain.CodeInvalid, "a rate limit window must be positive")
	}
	start, end := domain.RateWindow(at, window)
	err = s.update(ctx, func(tx *bolt.Tx) error {
		counts, ends := tx.Bucket(bRateLimits), tx.Bucket(bRateLimitEnds)
		if err := dropEndedWindows(counts, ends, at); err != nil {
			return err
		}
		ck := nulKey(k, fmt.Sprintf("%020d", int64(window)), nsKey(start))
		var n uint64
		if raw := counts.Get(ck); len(raw) == 8 {
			n = binary.BigEndian.Uint64(raw)
		} else if err := ends.Put(append([]byte(nsKey(end)+"\x00"), ck...), nil); err != nil {
			return err
		}
		n++
		count = int(n)
		return counts.Put(ck, binary.BigEndian.AppendUint64(nil, n))
	})
	return count, end, err
}

// dropEndedWindows deletes at most rateCleanups windows that ended at or
// before at, oldest first.
func dropEndedWindows(counts, ends *bolt.Bucket, at time.Time) error {
	limit := []byte(nsKey(at) + "\x01") // every end ≤ at, whatever follows its NUL
	var doomed [][]byte
	c := ends.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, limit) < 0 && len(doomed) < rateCleanups; k, _ = c.Next() {
		doomed = append(doomed, bytes.Clone(k))
	}
	for _, k := range doomed {
		_, ck, found := bytes.Cut(k, []byte{0})
		if !found {
			return fmt.Errorf("decode %s key %q", bRateLimitEnds, k)
		}
		if err := counts.Delete(ck); err != nil {
			return err
		}
		if err := ends.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
