package dynamostore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

// The identity items are laid out as docs/dynamodb.md ("Items of
// identity") says, each with its time-to-live; a session is found by its
// hash in one read of one item; and each operation's capacity is logged
// (the figures of the doc's cost table).
func TestIdentityItems(t *testing.T) {
	s, c, table := newStore(t)
	ctx := context.Background()
	at := clocktest.At(0, 12, 0, 0)
	raw := func(pk, sk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(table),
			Key:            map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}},
			ConsistentRead: aws.Bool(true),
		})
		must(t, err)
		if len(out.Item) == 0 {
			t.Fatalf("no item %s / %s", pk, sk)
		}
		return out.Item
	}
	wantTTL := func(it map[string]types.AttributeValue, want time.Time) {
		t.Helper()
		n, ok := it["ttl"].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("item %v has no numeric ttl", it["PK"])
		}
		if got, err := strconv.ParseInt(n.Value, 10, 64); err != nil || got != want.Unix() {
			t.Fatalf("item %v: ttl %s, want %d (%s)", it["PK"], n.Value, want.Unix(), want)
		}
	}
	cost := func(what string, fn func()) {
		t.Helper()
		s.ResetConsumedCapacity()
		s.ResetItemsRead()
		fn()
		t.Logf("%-34s %5.1f units, %d items read", what, s.ConsumedCapacity(), s.ItemsRead())
	}

	must(t, s.CreateMember(ctx, &domain.Member{ID: "m_ada", Email: "ada@example.com", Name: "Ada", Role: domain.RoleEditor, CreatedAt: at}))
	entry := func(id string) domain.AuditEntry {
		return domain.AuditEntry{ID: id, At: at, Actor: "member:m_ada", Action: "session.test", Channel: "web"}
	}

	link := &domain.SignInLink{MemberID: "m_ada", Purpose: domain.LinkSignIn, Hash: "linkhash", CreatedAt: at, ExpiresAt: at.Add(domain.SignInLinkLifetime)}
	cost("PutSignInLink (1 audit entry)", func() { must(t, s.PutSignInLink(ctx, link, entry("a1"))) })
	wantTTL(raw("AUTH#m_ada", "LINK#sign_in"), link.ExpiresAt)

	sess := &domain.Session{
		ID: "s_1", Hash: "sessionhash", MemberID: "m_ada", Role: domain.RoleEditor, Channel: domain.ChannelEmail, CSRFToken: "csrf",
		CreatedAt: at, LastSeen: at, IdleUntil: at.Add(domain.DefaultSessionIdleTimeout), ExpiresAt: at.Add(domain.DefaultSessionLifetime),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
	cost("UseSignInLink (session, 1 entry)", func() {
		_, err := s.UseSignInLink(ctx, "m_ada", domain.LinkSignIn, func(l *domain.SignInLink, a *domain.Audit) (*domain.Session, error) {
			if err := l.Use(at); err != nil {
				return nil, err
			}
			a.Record(entry("a2"))
			return sess, nil
		})
		must(t, err)
	})
	if it := raw("AUTH#m_ada", "LINK#sign_in"); it["used_at"] == nil {
		t.Fatal("the used link has no used_at")
	}
	for _, k := range [][2]string{{"SESSION#sessionhash", "SESSION"}, {"SESSIONID#s_1", "SESSIONID"}, {"AUTH#m_ada", "SESSION#s_1"}} {
		wantTTL(raw(k[0], k[1]), sess.ExpiresAt)
	}

	cost("GetSessionByHash", func() {
		got, err := s.GetSessionByHash(ctx, "sessionhash")
		must(t, err)
		if got.ID != "s_1" || got.UserAgent != sess.UserAgent {
			t.Fatalf("by hash: %+v", got)
		}
	})
	if n := s.ItemsRead(); n != 1 {
		t.Fatalf("GetSessionByHash read %d items, want 1", n)
	}
	if u := s.ConsumedCapacity(); u > 1 {
		t.Fatalf("GetSessionByHash consumed %.1f units, want at most 1 (one strongly consistent read under 4 KB)", u)
	}
	later := at.Add(time.Minute)
	cost("TouchSession", func() { must(t, s.TouchSession(ctx, "s_1", later, later.Add(domain.DefaultSessionIdleTimeout))) })
	cost("CreateSession (1 audit entry)", func() {
		s2 := *sess
		s2.ID, s2.Hash = "s_2", "sessionhash2"
		must(t, s.CreateSession(ctx, &s2, entry("a3")))
	})
	cost("ListSessions (2 sessions)", func() {
		got, _, err := s.ListSessions(ctx, "m_ada", domain.Page{})
		must(t, err)
		if len(got) != 2 {
			t.Fatalf("listed %d sessions", len(got))
		}
	})
	cost("RevokeSession (1 audit entry)", func() {
		_, err := s.RevokeSession(ctx, "s_1", later, entry("a4"))
		must(t, err)
	})
	cost("RevokeMemberSessions (1 live)", func() {
		n, err := s.RevokeMemberSessions(ctx, "m_ada", later)
		must(t, err)
		if n != 1 {
			t.Fatalf("revoked %d", n)
		}
	})
	cost("DeleteSignInLinks (1 link)", func() { must(t, s.DeleteSignInLinks(ctx, "m_ada")) })

	cost("Hit", func() {
		n, resets, err := s.Hit(ctx, "sign-in:ada@example.com", time.Minute, at.Add(30*time.Second))
		must(t, err)
		if n != 1 || !resets.Equal(at.Add(time.Minute)) {
			t.Fatalf("hit: %d, resets %s", n, resets)
		}
	})
	start, end := domain.RateWindow(at.Add(30*time.Second), time.Minute)
	window := raw("RATE#sign-in:ada@example.com", fmt.Sprintf("%020d#%s", time.Minute, clocktest.Stamp(start)))
	wantTTL(window, end)
	if n, _ := window["hits"].(*types.AttributeValueMemberN); n == nil || n.Value != "1" {
		t.Fatalf("the window's hits: %v", window["hits"])
	}
}
