package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A team is the item ORG / TEAM#<key>: its whole record, its members (ids)
// a list of strings inside. The organisation's teams are one Query,
// begins_with(SK, "TEAM#"). Beside them, ORG / TEAMS counts them
// (team_count), so that a create can refuse the (domain.MaxTeams+1)th in
// its own transaction. Every team write is one transaction with its audit
// entries and their outbox items (addAudit):
//
//   - create: an Update of ORG / TEAMS ADD team_count :one, conditioned on
//     the count being under domain.MaxTeams (ErrTooManyTeams otherwise),
//     and the team Put, attribute_not_exists (ErrTeamExists otherwise);
//   - update: the team Put, conditioned on the version read (a lost race
//     reads again and calls the update function again), with the checks
//     of the organisation settings its decision read (Audit.Guard:
//     ErrContention when they moved) and the request it applies
//     (Audit.Applies, conditioned on its version: ErrRequestMoved);
//   - delete: the team Delete, conditioned on the version read (a race
//     reads again and checks again), and ADD team_count :minus_one.

const (
	prefixTeam    = "TEAM#" // under ORG: TEAM#<key>
	skTeamCount   = "TEAMS" // under ORG: how many teams there are
	attrTeamCount = "team_count"
)

func teamKey(k string) key { return key{pkOrg, prefixTeam + k} }

func teamCountKey() key { return key{pkOrg, skTeamCount} }

var _ domain.TeamRepository = (*Store)(nil)

// The items of CreateTeam's transaction, before the audit entries.
const (
	createTeamCount = iota // Update ORG/TEAMS ADD team_count, while under the limit
	createTeamPut          // the team, if its key is free
)

func (s *Store) CreateTeam(ctx context.Context, t *domain.Team, audit []domain.AuditEntry) error {
	v := *t
	v.Version = 1
	err := retry(ctx, func() error {
		var b txBuilder
		roomLeft := expression.AttributeNotExists(expression.Name(attrTeamCount)).
			Or(expression.Name(attrTeamCount).LessThan(expression.Value(domain.MaxTeams)))
		b.add(s.txUpdate(teamCountKey(), expression.Add(expression.Name(attrTeamCount), expression.Value(1)), roomLeft))
		it, err := encode(teamKey(t.Key), record.FromTeam(v), nil)
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, createTeamPut):
			return domain.ErrTeamExists(t.Key)
		case failedCondition(err, createTeamCount):
			return domain.ErrTooManyTeams
		}
		return outcome(err, audit, from, "create team "+t.Key)
	})
	if err == nil {
		t.Version = 1
	}
	return err
}

// readTeam reads a team, strongly consistent; not_found without it.
func (s *Store) readTeam(ctx context.Context, k string) (*domain.Team, error) {
	it, err := s.get(ctx, teamKey(k))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.NotFound("team", k)
	}
	return decode[record.Team](it)
}

func (s *Store) GetTeam(ctx context.Context, k string) (*domain.Team, error) {
	return s.readTeam(ctx, k)
}

func (s *Store) ListTeams(ctx context.Context, page domain.Page) ([]domain.Team, string, error) {
	return list[record.Team](ctx, s, listing{pk: pkOrg, prefix: prefixTeam, what: "teams"}, page)
}

func (s *Store) UpdateTeam(ctx context.Context, k string, fn func(*domain.Team, *domain.Audit) error) (*domain.Team, error) {
	var out *domain.Team
	err := retry(ctx, func() error {
		t, err := s.readTeam(ctx, k)
		if err != nil {
			return err
		}
		v := t.Version
		var audit domain.Audit
		if err := fn(t, &audit); err != nil {
			return err
		}
		t.Version = v + 1
		it, err := encode(teamKey(k), record.FromTeam(*t), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
		guardFrom, guardTo := s.addSettingsGuard(&b, "", audit.Guard, "")
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		// A failed condition of the team: written or deleted meanwhile; the
		// next read tells which.
		if err := outcome(err, audit.Entries, from, "put team "+k); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) DeleteTeam(ctx context.Context, k string, check func(*domain.Team, *domain.Audit) error) error {
	return retry(ctx, func() error {
		t, err := s.readTeam(ctx, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(t, &audit); err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(t.Version)
		b.add(s.txDelete(teamKey(k), &cond))
		b.add(s.txDecrementTeams())
		from := s.addAudit(&b, audit.Entries)
		return outcome(s.transact(ctx, &b), audit.Entries, from, "delete team "+k)
	})
}

// txDecrementTeams counts one team less (unconditionally: the count only
// moves in the transactions that create and delete teams).
func (s *Store) txDecrementTeams() (types.TransactWriteItem, error) {
	e, err := expression.NewBuilder().WithUpdate(expression.Add(expression.Name(attrTeamCount), expression.Value(-1))).Build()
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("dynamodb build update: %w", err)
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       teamCountKey().av(),
		UpdateExpression:          e.Update(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}}, nil
}
