package dynamostore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record/recordtest"
)

// TestIdentityItemsGolden pins the items of sign-in links and sessions: the
// identity entities have DynamoDB records of their own (times in the
// fixed-width sort key format, ttl), apart from internal/store/record, whose
// goldens pin everything else the store writes.
func TestIdentityItemsGolden(t *testing.T) {
	at := func(s int64) time.Time { return time.Unix(1_000_000_000+s, 123_456_789).UTC() }
	atPtr := func(s int64) *time.Time { t := at(s); return &t }
	link := &domain.SignInLink{MemberID: "m_alice", Purpose: domain.LinkInvitation, Hash: "fcde2b2edba56bf4", CreatedAt: at(33), ExpiresAt: at(34), UsedAt: atPtr(35)}
	sess := &domain.Session{
		ID: "s_1", Hash: "ae4b3280e56e2faf", MemberID: "m_alice", Role: domain.RoleManager, Channel: domain.ChannelOIDC,
		CSRFToken: "csrf-1", CreatedAt: at(36), LastSeen: at(37), IdleUntil: at(38), ExpiresAt: at(39), RevokedAt: atPtr(40),
		UserAgent: "Mozilla/5.0 <test>",
	}
	unused := &domain.SignInLink{MemberID: "m_bob", Purpose: domain.LinkSignIn, Hash: "ab", CreatedAt: at(1), ExpiresAt: at(2)}
	live := &domain.Session{ID: "s_2", Hash: "cd", MemberID: "m_bob", Role: domain.RoleViewer, Channel: domain.ChannelEmail, CreatedAt: at(1), LastSeen: at(1), IdleUntil: at(2), ExpiresAt: at(3)}
	ref, err := encodeRecord(sessionIDKey(sess.ID), sessionRef{MemberID: sess.MemberID, ID: sess.ID, Hash: sess.Hash, TTL: ttlOf(sess.ExpiresAt)})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]func() (item, error){
		"sign_in_link":        func() (item, error) { return linkItem(link) },
		"sign_in_link.unused": func() (item, error) { return linkItem(unused) },
		"session":             func() (item, error) { return sessionItem(sess) },
		"session.live":        func() (item, error) { return sessionItem(live) },
		"session_ref":         func() (item, error) { return ref, nil },
	}
	for name, encode := range items {
		t.Run(name, func(t *testing.T) {
			it, err := encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := recordtest.ItemJSON(it)
			if err != nil {
				t.Fatal(err)
			}
			recordtest.Golden(t, filepath.Join("testdata", name+".dynamodb.json"), got)
		})
	}
}
