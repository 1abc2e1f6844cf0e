package dynamostore

import (
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/countersign/countersign/internal/domain"
)

// A direct write decided on the approval settings carries their versions
// (domain.SettingsGuard); the store checks them in the write's own
// transaction (docs/dynamodb.md, "Writes decided on settings"):
//
//   - a ConditionCheck of ORG/SETTINGS: version = :v, or attribute_not_exists
//     for settings never written (version 0);
//   - per environment named, a ConditionCheck of PROJECT#p/APPROVAL#env the
//     same way; for settings never written also that the environment's
//     protection, which their defaults follow, is as read: a condition on
//     ENV#env (folded into a config write's check of that item, which it
//     has anyway);
//   - for a decision on every environment of the project, a ConditionCheck
//     that the project's env_count is their number (absent on a project
//     item older than the counter: then not checked);
//   - for a decision that read the freeze calendar, a ConditionCheck of
//     ORG/FREEZES at the version read (attribute_not_exists for 0).
//
// Transactions are serialisable, so a write whose checks pass commits before
// any settings write that would change them; one whose check fails writes
// nothing and answers ErrContention, and the application decides again.

// attrProtected is an environment's protection, named as in its JSON.
const attrProtected = "protected"

// protectedIs holds while an environment item's protection is p.
func protectedIs(p bool) expression.ConditionBuilder {
	if p {
		return expression.Name(attrProtected).Equal(expression.Value(true))
	}
	return expression.AttributeNotExists(expression.Name(attrProtected)).
		Or(expression.Name(attrProtected).Equal(expression.Value(false)))
}

// guardedEnv is the condition on an environment's item of a write that
// checks the item anyway (a config write): that it exists and, when g names
// its settings as never written, that its protection is as read. pinned says
// whether the protection is in it.
func guardedEnv(g *domain.SettingsGuard, env string) (cond expression.ConditionBuilder, pinned bool) {
	cond = itemExists
	if g == nil {
		return cond, false
	}
	for _, e := range g.Environments {
		if e.Environment == env && e.Version == 0 {
			return cond.And(protectedIs(e.Protected)), true
		}
	}
	return cond, false
}

// addSettingsGuard adds g's ConditionChecks to b and returns the range of
// their indexes, [from, to). The environment item of folded is checked by
// the caller (guardedEnv), so it gets no check here: a transaction may act on
// an item once.
func (s *Store) addSettingsGuard(b *txBuilder, project string, g *domain.SettingsGuard, folded string) (from, to int) {
	from = len(b.items)
	if g == nil {
		return from, from
	}
	b.add(s.txCheck(orgSettingsKey(), versionOrNew(g.Org)))
	for _, e := range g.Environments {
		b.add(s.txCheck(approvalKey(project, e.Environment), versionOrNew(e.Version)))
		if e.Version == 0 && e.Environment != folded {
			b.add(s.txCheck(envKey(project, e.Environment), itemExists.And(protectedIs(e.Protected))))
		}
	}
	if g.AllEnvironments {
		count := expression.Name(attrEnvCount)
		b.add(s.txCheck(projectKey(project),
			count.Equal(expression.Value(len(g.Environments))).Or(expression.AttributeNotExists(count))))
	}
	if g.Freezes != nil {
		b.add(s.txCheck(freezesKey(), versionOrNew(*g.Freezes)))
	}
	return from, len(b.items)
}

// guardFailed answers ErrContention when a transaction failed on one of
// the guard's checks, at [from, to): the settings a decision was made on
// changed since, and the application decides again (the store does not
// retry: its next attempt would carry the same guard).
func guardFailed(err error, from, to int) error {
	if _, stale := anyFailedCondition(err, from, to); stale {
		return domain.ErrContention
	}
	return nil
}
