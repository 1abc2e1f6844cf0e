package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var _ domain.EvaluationRepository = (*Store)(nil)

// ---- the ruleset version ----

// A project's ruleset version is the item PROJECT#<p> / RULESET, whose
// ruleset_version (N) every write of a flag or a config of the project
// increments, in the write's own transaction (addRulesetBump). It is absent
// (version 0) until the first such write.

func rulesetKey(p string) key { return key{prefixProject + p, skRuleset} }

// addRulesetBump adds the increment of the project's ruleset version to a
// transaction. It has no condition: it never makes a write fail, and
// increments commute, so concurrent writers only ever move it forward.
func (s *Store) addRulesetBump(b *txBuilder, project string) {
	s.addRulesetIncrement(b, project, nil)
}

// addRulesetBumpAt is addRulesetBump conditioned on the version being v
// (absent when v is 0): a write that must not commit over another write of
// the project since it read v.
func (s *Store) addRulesetBumpAt(b *txBuilder, project string, v int64) {
	at := expression.Name(attrRuleset).Equal(expression.Value(v))
	if v == 0 {
		at = expression.AttributeNotExists(expression.Name(attrRuleset))
	}
	s.addRulesetIncrement(b, project, &at)
}

// addRulesetIncrement adds the ruleset version's increment, on condition
// cond when it is set.
func (s *Store) addRulesetIncrement(b *txBuilder, project string, cond *expression.ConditionBuilder) {
	eb := expression.NewBuilder().WithUpdate(expression.Add(expression.Name(attrRuleset), expression.Value(1)))
	if cond != nil {
		eb = eb.WithCondition(*cond)
	}
	e, err := eb.Build()
	if err != nil {
		b.add(types.TransactWriteItem{}, fmt.Errorf("dynamodb build update: %w", err))
		return
	}
	b.add(types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       rulesetKey(project).av(),
		UpdateExpression:          e.Update(),
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}}, nil)
}

// rulesetVersionOf reads the version from a ruleset item (nil: 0).
func rulesetVersionOf(it item) (int64, error) {
	av, ok := it[attrRuleset]
	if !ok {
		return 0, nil
	}
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("dynamodb %s/%s: %s is not a number", stringAttr(it, attrPK), stringAttr(it, attrSK), attrRuleset)
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("dynamodb %s/%s: %s: %w", stringAttr(it, attrPK), stringAttr(it, attrSK), attrRuleset, err)
	}
	return v, nil
}

func (s *Store) RulesetVersion(ctx context.Context, project string) (int64, error) {
	e, err := expression.NewBuilder().WithProjection(expression.NamesList(expression.Name(attrRuleset))).Build()
	if err != nil {
		return 0, fmt.Errorf("dynamodb build projection: %w", err)
	}
	k := rulesetKey(project)
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                &s.table,
		Key:                      k.av(),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     e.Projection(),
		ExpressionAttributeNames: e.Names(),
	})
	if err != nil {
		return 0, fmt.Errorf("dynamodb get %s: %w", k, err)
	}
	return rulesetVersionOf(out.Item)
}

// segmentsRead is what Ruleset's Query of the segments answered.
type segmentsRead struct {
	segments []domain.Segment
	err      error
}

// rulesetReads is how many times Ruleset reads the flags and configs while
// the version keeps moving under it.
const rulesetReads = 4

// Ruleset reads the version, then every flag of the project (Query FLAG#)
// with, beside it, every segment (Query SEGMENT#), and the environment's
// config of each flag (BatchGetItem), all strongly consistent, then the
// version again. DynamoDB has no consistent snapshot
// of several items, so when the version moved meanwhile (a write landed
// between the reads) it reads again, at most rulesetReads times. If it
// still moves, it answers the last content with the version read before
// it: every write in that content moved the version past it, so the
// version is never newer than the content, and an evaluator that compares
// it with RulesetVersion fetches again.
func (s *Store) Ruleset(ctx context.Context, project, env string) (*domain.Ruleset, error) {
	var r *domain.Ruleset
	for attempt := 0; attempt < rulesetReads; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, backoff(backoffBase, attempt-1)); err != nil {
				return nil, err
			}
		}
		// The environment and the version in one batch.
		items, err := s.getMany(ctx, envKey(project, env), rulesetKey(project))
		if err != nil {
			return nil, err
		}
		if items[0] == nil {
			return nil, s.notFoundIn(ctx, project, "environment", env)
		}
		before, err := rulesetVersionOf(items[1])
		if err != nil {
			return nil, err
		}
		// The segments' Query runs beside the flags' (one partition,
		// two sort key prefixes).
		segs := make(chan segmentsRead, 1)
		go func() {
			v, err := s.projectSegments(ctx, project)
			segs <- segmentsRead{v, err}
		}()
		flags, err := listAll[record.Flag](ctx, s, listing{pk: prefixProject + project, prefix: prefixFlag, what: "flags of " + project})
		sr := <-segs
		if err == nil {
			err = sr.err
		}
		if err != nil {
			return nil, err
		}
		keys := make([]key, len(flags))
		for i := range flags {
			keys[i] = configKey(project, flags[i].Key, env)
		}
		configItems, err := s.getMany(ctx, keys...)
		if err != nil {
			return nil, err
		}
		env, err := decode[record.Environment](items[0])
		if err != nil {
			return nil, err
		}
		r = &domain.Ruleset{Version: before, Flags: flags, Configs: []domain.FlagConfig{}, Segments: sr.segments, Environment: *env}
		if r.Flags == nil {
			r.Flags = []domain.Flag{}
		}
		for _, it := range configItems {
			if it == nil {
				continue
			}
			c, err := decode[record.FlagConfig](it)
			if err != nil {
				return nil, err
			}
			r.Configs = append(r.Configs, *c)
		}
		after, err := s.RulesetVersion(ctx, project)
		if err != nil {
			return nil, err
		}
		if after == before {
			return r, nil
		}
	}
	return r, nil
}

// ---- SDK keys ----

// An SDK key is the item PROJECT#<p> / SDKKEY#<env>#<id>; while it is live,
// the item ORG / SDKKEYHASH#<hash> names it (project, environment,
// sdk_key_id), so that a request's key is found by its hash. Both are
// written in one transaction, and revocation updates the one and deletes
// the other in one transaction. Creating a key also increments the project
// item's sdk_key_seq, so that deleting the project (which revokes every key
// it read) loses to a key created after it read them (see DeleteProject).

func sdkKeyKey(p, e, id string) key { return key{prefixProject + p, prefixSDKKey + e + "#" + id} }
func sdkKeyHashKey(h string) key    { return key{pkOrg, prefixSDKHash + h} }

// The items of CreateSDKKey's transaction, before its audit entries.
const (
	createKeyEnvCheck = iota // ConditionCheck: the environment exists
	createKeySeqBump         // Update project ADD sdk_key_seq, if the project exists
	createKeyPut             // the key, if its id is free
	createKeyHashPut         // the hash item, if the hash is free
)

func (s *Store) CreateSDKKey(ctx context.Context, k *domain.SDKKey, audit ...domain.AuditEntry) error {
	return retry(ctx, func() error {
		it, err := encode(sdkKeyKey(k.Project, k.Environment, k.ID), record.FromSDKKey(*k), nil)
		if err != nil {
			return err
		}
		hk := sdkKeyHashKey(k.Hash)
		var b txBuilder
		b.add(s.txCheck(envKey(k.Project, k.Environment), itemExists))
		// Conditioned on the project item existing, so it never creates one.
		b.add(s.txUpdate(projectKey(k.Project), expression.Add(expression.Name(attrSDKKeySeq), expression.Value(1)), itemExists))
		b.add(s.txPut(it, &itemMissing))
		b.add(s.txPut(item{
			attrPK:          str(hk.pk),
			attrSK:          str(hk.sk),
			attrProject:     str(k.Project),
			attrEnvironment: str(k.Environment),
			attrSDKKeyID:    str(k.ID),
		}, &itemMissing))
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, createKeyEnvCheck), failedCondition(err, createKeySeqBump):
			return s.notFoundIn(ctx, k.Project, "environment", k.Environment)
		case failedCondition(err, createKeyPut), failedCondition(err, createKeyHashPut):
			return domain.Errorf(domain.CodeConflict, "SDK key %q already exists", k.ID)
		}
		return outcome(err, audit, from, "create SDK key "+k.Project+"/"+k.Environment+"/"+k.ID)
	})
}

func errNoSDKKey() error { return domain.Errorf(domain.CodeNotFound, "SDK key not found") }

func (s *Store) GetSDKKeyByHash(ctx context.Context, hash string) (*domain.SDKKey, error) {
	h, err := s.get(ctx, sdkKeyHashKey(hash))
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errNoSDKKey()
	}
	it, err := s.get(ctx, sdkKeyKey(stringAttr(h, attrProject), stringAttr(h, attrEnvironment), stringAttr(h, attrSDKKeyID)))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, errNoSDKKey()
	}
	k, err := decode[record.SDKKey](it)
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, errNoSDKKey()
	}
	return k, nil
}

func (s *Store) ListSDKKeys(ctx context.Context, project, env string, page domain.Page) ([]domain.SDKKey, string, error) {
	ok, err := s.exists(ctx, envKey(project, env))
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", s.notFoundIn(ctx, project, "environment", env)
	}
	return list[record.SDKKey](ctx, s, listing{
		pk: prefixProject + project, prefix: prefixSDKKey + env + "#", what: "SDK keys of " + project + "/" + env,
	}, page)
}

func (s *Store) RevokeSDKKey(ctx context.Context, project, env, id string, at time.Time, audit ...domain.AuditEntry) (k *domain.SDKKey, err error) {
	kk := sdkKeyKey(project, env, id)
	err = retry(ctx, func() error {
		var err error
		if k, err = s.sdkKey(ctx, kk, id); err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return nil
		}
		at := at.UTC()
		av, err := encodeValue(at)
		if err != nil {
			return err
		}
		var b txBuilder
		b.add(s.txUpdate(kk, expression.Set(expression.Name(attrRevokedAt), expression.Value(av)),
			itemExists.And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))))
		b.add(s.txDelete(sdkKeyHashKey(k.Hash), nil))
		from := s.addAudit(&b, audit)
		if err = s.transact(ctx, &b); err == nil {
			k.RevokedAt = &at
			return nil
		}
		// Revoked meanwhile (a lost race): the next read answers it as it is.
		return outcome(err, audit, from, "revoke SDK key "+project+"/"+env+"/"+id)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// RotateSDKKey writes, in one transaction: the old key item, conditioned on
// being neither revoked nor rotated (so one rotation wins a race); the new
// key and its hash item, conditioned on not existing; and, when the old key
// is revoked at once, the delete of its hash item.
func (s *Store) RotateSDKKey(ctx context.Context, project, env, id string, next *domain.SDKKey, at, expires time.Time, audit ...domain.AuditEntry) (old *domain.SDKKey, err error) {
	kk := sdkKeyKey(project, env, id)
	err = retry(ctx, func() error {
		var err error
		if old, err = s.sdkKey(ctx, kk, id); err != nil {
			return err
		}
		n := *next
		if err := old.RotateTo(&n, at, expires); err != nil {
			return err
		}
		oldItem, err := encode(kk, record.FromSDKKey(*old), nil)
		if err != nil {
			return err
		}
		newItem, err := encode(sdkKeyKey(n.Project, n.Environment, n.ID), record.FromSDKKey(n), nil)
		if err != nil {
			return err
		}
		unrotated := itemExists.
			And(expression.AttributeNotExists(expression.Name(attrRevokedAt))).
			And(expression.AttributeNotExists(expression.Name(attrReplacedBy)))
		hk := sdkKeyHashKey(n.Hash)
		var b txBuilder
		b.add(s.txPut(oldItem, &unrotated))
		b.add(s.txPut(newItem, &itemMissing))
		b.add(s.txPut(item{
			attrPK:          str(hk.pk),
			attrSK:          str(hk.sk),
			attrProject:     str(n.Project),
			attrEnvironment: str(n.Environment),
			attrSDKKeyID:    str(n.ID),
		}, &itemMissing))
		if old.RevokedAt != nil {
			b.add(s.txDelete(sdkKeyHashKey(old.Hash), nil))
		}
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			*next = n
			return nil
		case failedCondition(err, 0):
			return errRetry // revoked or rotated meanwhile: the next read says which
		case failedCondition(err, 1), failedCondition(err, 2):
			return domain.Errorf(domain.CodeConflict, "SDK key %q already exists", n.ID)
		}
		return outcome(err, audit, from, "rotate SDK key "+project+"/"+env+"/"+id)
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// sdkKey reads the key item kk (strongly consistent): not_found "SDK key id"
// without it.
func (s *Store) sdkKey(ctx context.Context, kk key, id string) (*domain.SDKKey, error) {
	read, err := s.get(ctx, kk)
	if err != nil {
		return nil, err
	}
	if read == nil {
		return nil, domain.NotFound("SDK key", id)
	}
	return decode[record.SDKKey](read)
}

func (s *Store) GetSDKKey(ctx context.Context, project, env, id string) (*domain.SDKKey, error) {
	return s.sdkKey(ctx, sdkKeyKey(project, env, id), id)
}

// ---- the origin index ----

// Each origin that some environment allows for its client keys ("*"
// included) is the item ORG / ORIGIN#<origin>, whose string set
// environments names the environments allowing it ("project/env"). An
// environment write adds itself to the sets of the origins it now allows
// and takes itself out of those it no longer does (ADD and DELETE: they
// commute, so concurrent writes of different environments never conflict),
// in its own transaction; DynamoDB drops the set when it empties, leaving
// an item without environments, which allows nothing. Browsers' preflights
// are answered on one BatchGetItem of the origin and "*".

const attrEnvironments = "environments"

func originKey(origin string) key { return key{pkOrg, prefixOrigin + origin} }

func (s *Store) OriginAllowed(ctx context.Context, origin string) (bool, error) {
	if origin == "" {
		return false, nil
	}
	items, err := s.getMany(ctx, originKey(origin), originKey(domain.AnyOrigin))
	if err != nil {
		return false, err
	}
	for _, it := range items {
		if ss, ok := it[attrEnvironments].(*types.AttributeValueMemberSS); ok && len(ss.Value) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// addOriginIndex adds to a transaction what the origin index learns when
// environment env of project goes from allowing the origins before to
// allowing after. With bump, any change moves the project's ruleset
// version too, so that evaluators read the environment's origins again
// (an environment being created has no ruleset cached anywhere).
func (s *Store) addOriginIndex(b *txBuilder, project, env string, before, after []string, bump bool) {
	added, removed := domain.OriginChanges(before, after)
	entry := types.AttributeValueMemberSS{Value: []string{domain.OriginIndexEntry(project, env)}}
	for _, o := range added {
		b.add(s.txChange(originKey(o), expression.Add(expression.Name(attrEnvironments), expression.Value(entry))))
	}
	for _, o := range removed {
		b.add(s.txChange(originKey(o), expression.Delete(expression.Name(attrEnvironments), expression.Value(entry))))
	}
	if bump && len(added)+len(removed) > 0 {
		s.addRulesetBump(b, project)
	}
}

// txChange updates k without a condition (creating it when missing).
func (s *Store) txChange(k key, upd expression.UpdateBuilder) (types.TransactWriteItem, error) {
	e, err := expression.NewBuilder().WithUpdate(upd).Build()
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("dynamodb build update: %w", err)
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       k.av(),
		UpdateExpression:          e.Update(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}}, nil
}
