package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A project item carries env_count (its environments, bounded by
// domain.MaxEnvironmentsPerProject), flag_seq (bumped by every flag and
// every segment creation) and sdk_key_seq (bumped by every SDK key creation, see
// CreateSDKKey), so that deleting a project can be conditioned on none
// having changed since the store saw it had no flags and read the SDK keys
// it revokes.

// attrSDKKeySeq is the project item's count of SDK keys ever created in it.
const attrSDKKeySeq = "sdk_key_seq"

func (s *Store) CreateProject(ctx context.Context, p *domain.Project, envs []domain.Environment) error {
	if len(envs) > domain.MaxEnvironmentsPerProject {
		return domain.Errorf(domain.CodeConflict, "a project may have at most %d environments", domain.MaxEnvironmentsPerProject)
	}
	p.Version = 1
	for i := range envs {
		envs[i].Project = p.Key
		envs[i].Version = 1
	}
	return retry(ctx, func() error {
		var b txBuilder
		it, err := encode(projectKey(p.Key), record.FromProject(*p), item{attrEnvCount: num(int64(len(envs))), attrFlagSeq: num(0)})
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		for i := range envs {
			it, err := encode(envKey(p.Key, envs[i].Key), record.FromEnvironment(envs[i]), nil)
			if err != nil {
				return err
			}
			b.add(s.txPut(it, nil))
		}
		for i := range envs {
			s.addOriginIndex(&b, p.Key, envs[i].Key, nil, envs[i].AllowedOrigins, false)
		}
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "project %q already exists", p.Key)
		case onlyConflicts(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb create project %s: %w", p.Key, err)
	})
}

func (s *Store) GetProject(ctx context.Context, k string) (*domain.Project, error) {
	it, err := s.get(ctx, projectKey(k))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, domain.NotFound("project", k)
	}
	return decode[record.Project](it)
}

func (s *Store) ListProjects(ctx context.Context, page domain.Page) ([]domain.Project, string, error) {
	return list[record.Project](ctx, s, listing{pk: pkOrg, prefix: prefixProject, what: "projects"}, page)
}

func (s *Store) UpdateProject(ctx context.Context, k string, fn func(*domain.Project) error) (p *domain.Project, err error) {
	err = retry(ctx, func() error {
		read, err := s.get(ctx, projectKey(k))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("project", k)
		}
		if p, err = decode[record.Project](read); err != nil {
			return err
		}
		v := p.Version
		if err := fn(p); err != nil {
			return err
		}
		p.Version = v + 1
		it, err := encode(projectKey(k), record.FromProject(*p), keep(read, attrEnvCount, attrFlagSeq, attrSDKKeySeq))
		if err != nil {
			return err
		}
		// The counters are conditioned too: a put that kept old counters
		// must not undo an environment, flag or SDK key created meanwhile
		// (an sdk_key_seq put back to an older value would let a delete
		// that read the keys before that creation commit without it).
		err = s.putIf(ctx, it, versionIs(v).And(unchanged(read, attrEnvCount, attrFlagSeq, attrSDKKeySeq)))
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb put project %s: %w", k, err)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeleteProject deletes the project item and its environments and revokes
// every SDK key of the project not revoked yet (rotated keys in their grace
// period included: revoked_at set, hash item deleted), all in one
// transaction. The project delete is conditioned on flag_seq, env_count and
// sdk_key_seq being what the store read: no flag, environment or key was
// created since. Each key's revocation is conditioned on the key being as
// read (no revoked_at, the same replaced_by), so a key revoked or rotated
// meanwhile (a rotation creates a key without moving sdk_key_seq) makes the
// delete read again. When the revocations do not fit in the transaction's
// 100 items, it refuses with a conflict and writes nothing.
func (s *Store) DeleteProject(ctx context.Context, k string, when time.Time, audit func(revoked []string) []domain.AuditEntry) error {
	return retry(ctx, func() error {
		read, err := s.get(ctx, projectKey(k))
		if err != nil {
			return err
		}
		if read == nil {
			return domain.NotFound("project", k)
		}
		flags, err := s.sortKeys(ctx, prefixProject+k, prefixFlag, 0)
		if err != nil {
			return err
		}
		if len(flags) > 0 {
			return domain.Errorf(domain.CodeConflict, "project %q still has flags; delete them first (archive, then delete with ?hard=true)", k)
		}
		// A segment created after this read moves flag_seq too (CreateSegment).
		segments, err := s.sortKeys(ctx, prefixProject+k, prefixSegment, 0)
		if err != nil {
			return err
		}
		if len(segments) > 0 {
			return domain.Errorf(domain.CodeConflict, "project %q still has segments; delete them first", k)
		}
		envs, err := s.sortKeys(ctx, prefixProject+k, prefixEnv, 98)
		if err != nil {
			return err
		}
		if len(envs) > 98 {
			return fmt.Errorf("dynamodb delete project %s: %d environments are more than one transaction can delete", k, len(envs))
		}
		// the origins its environments allow leave the origin index in the
		// same write; each environment is deleted as read, so one that
		// changed its origins meanwhile makes the delete read again
		origins, envVersions, err := s.projectOrigins(ctx, k)
		if err != nil {
			return err
		}
		if len(origins) > maxTxItems/2 {
			return domain.Errorf(domain.CodeConflict,
				"the environments of project %q allow %d origins, more than deleting it can take out of the origin index in one write; clear some environments' allowed_origins first", k, len(origins))
		}
		keys, err := s.unrevokedSDKKeys(ctx, k)
		if err != nil {
			return err
		}
		var entries []domain.AuditEntry
		if audit != nil {
			ids := make([]string, len(keys))
			for i, it := range keys {
				sk := stringAttr(it, attrSK) // SDKKEY#<env>#<id>
				ids[i] = sk[strings.LastIndexByte(sk, '#')+1:]
			}
			entries = audit(ids)
		}
		if room := (maxTxItems - 1 - len(envs) - len(origins) - itemsPerAuditEntry*len(entries)) / 2; len(keys) > room {
			return domain.Errorf(domain.CodeConflict,
				"project %q has %d SDK keys that are not revoked, more than deleting it can revoke in one write (at most %d); revoke SDK keys first",
				k, len(keys), room)
		}
		at, err := encodeValue(when.UTC())
		if err != nil {
			return err
		}
		var b txBuilder
		// flag_seq unchanged: no flag was created since the store saw none;
		// env_count unchanged: no environment was created that it would miss;
		// sdk_key_seq unchanged: no SDK key was created that it would miss.
		cond := itemExists.And(unchanged(read, attrFlagSeq, attrEnvCount, attrSDKKeySeq))
		b.add(s.txDelete(projectKey(k), &cond))
		for _, sk := range envs {
			var asRead *expression.ConditionBuilder
			if v, ok := envVersions[sk]; ok {
				c := versionIs(v)
				asRead = &c
			}
			b.add(s.txDelete(key{prefixProject + k, sk}, asRead))
		}
		for _, o := range slices.Sorted(maps.Keys(origins)) {
			set := types.AttributeValueMemberSS{Value: origins[o]}
			b.add(s.txChange(originKey(o), expression.Delete(expression.Name(attrEnvironments), expression.Value(set))))
		}
		for _, it := range keys {
			asRead := itemExists.
				And(expression.AttributeNotExists(expression.Name(attrRevokedAt))).
				And(unchanged(it, attrReplacedBy))
			b.add(s.txUpdate(key{prefixProject + k, stringAttr(it, attrSK)},
				expression.Set(expression.Name(attrRevokedAt), expression.Value(at)), asRead))
			b.add(s.txDelete(sdkKeyHashKey(stringAttr(it, attrHash)), nil))
		}
		from := s.addAudit(&b, entries)
		return outcome(s.transact(ctx, &b), entries, from, "delete project "+k)
	})
}

// attrHash is an SDK key's hash, named as in its JSON.
const attrHash = "hash"

// unrevokedSDKKeys reads the SDK keys of the project without revoked_at
// (strongly consistent), projected on SK, hash and replaced_by.
func (s *Store) unrevokedSDKKeys(ctx context.Context, project string) ([]item, error) {
	filter := expression.AttributeNotExists(expression.Name(attrRevokedAt))
	e, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(prefixProject + project)).
			And(expression.Key(attrSK).BeginsWith(prefixSDKKey))).
		WithFilter(filter).
		WithProjection(expression.NamesList(expression.Name(attrSK), expression.Name(attrHash), expression.Name(attrReplacedBy))).
		Build()
	if err != nil {
		return nil, fmt.Errorf("dynamodb build query of SDK keys of %s: %w", project, err)
	}
	var out []item
	var start item
	for {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    e.KeyCondition(),
			FilterExpression:          e.Filter(),
			ProjectionExpression:      e.Projection(),
			ExpressionAttributeNames:  e.Names(),
			ExpressionAttributeValues: e.Values(),
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("dynamodb query SDK keys of %s: %w", project, err)
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = res.LastEvaluatedKey
	}
}

func (s *Store) CreateEnvironment(ctx context.Context, e *domain.Environment) error {
	e.Version = 1
	return retry(ctx, func() error {
		var b txBuilder
		roomLeft := expression.AttributeNotExists(expression.Name(attrEnvCount)).
			Or(expression.Name(attrEnvCount).LessThan(expression.Value(domain.MaxEnvironmentsPerProject)))
		b.add(s.txUpdate(projectKey(e.Project),
			expression.Add(expression.Name(attrEnvCount), expression.Value(1)),
			itemExists.And(roomLeft)))
		it, err := encode(envKey(e.Project, e.Key), record.FromEnvironment(*e), nil)
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		s.addOriginIndex(&b, e.Project, e.Key, nil, e.AllowedOrigins, false)
		err = s.transact(ctx, &b)
		if err == nil {
			return nil
		}
		reasons := cancelled(err)
		switch {
		case failedCondition(err, 0) && len(reasons[0].Item) == 0:
			return domain.NotFound("project", e.Project)
		case failedCondition(err, 1):
			return domain.Errorf(domain.CodeConflict, "environment %q already exists in project %q", e.Key, e.Project)
		case failedCondition(err, 0):
			return domain.Errorf(domain.CodeConflict, "project %q has %s environments, the most a project may have",
				e.Project, numberAttr(reasons[0].Item, attrEnvCount))
		case onlyConflicts(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb create environment %s/%s: %w", e.Project, e.Key, err)
	})
}

func numberAttr(it item, name string) string {
	if n, ok := it[name].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return strconv.Itoa(domain.MaxEnvironmentsPerProject)
}

// notFoundIn tells which of a missing item's parents is missing: the project
// (when it is) or else the item itself.
func (s *Store) notFoundIn(ctx context.Context, project, kind, k string) error {
	ok, err := s.exists(ctx, projectKey(project))
	if err != nil {
		return err
	}
	if !ok {
		return domain.NotFound("project", project)
	}
	return domain.NotFound(kind, k)
}

func (s *Store) GetEnvironment(ctx context.Context, project, k string) (*domain.Environment, error) {
	it, err := s.get(ctx, envKey(project, k))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, s.notFoundIn(ctx, project, "environment", k)
	}
	return decode[record.Environment](it)
}

func (s *Store) ListEnvironments(ctx context.Context, project string, page domain.Page) ([]domain.Environment, string, error) {
	ok, err := s.exists(ctx, projectKey(project))
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", domain.NotFound("project", project)
	}
	return list[record.Environment](ctx, s, listing{pk: prefixProject + project, prefix: prefixEnv, what: "environments of " + project}, page)
}

func (s *Store) UpdateEnvironment(ctx context.Context, project, k string, fn func(*domain.Environment, *domain.Audit) error) (e *domain.Environment, err error) {
	err = retry(ctx, func() error {
		read, err := s.get(ctx, envKey(project, k))
		if err != nil {
			return err
		}
		if read == nil {
			return s.notFoundIn(ctx, project, "environment", k)
		}
		if e, err = decode[record.Environment](read); err != nil {
			return err
		}
		v := e.Version
		origins := slices.Clone(e.AllowedOrigins)
		var audit domain.Audit
		if err := fn(e, &audit); err != nil {
			return err
		}
		e.Version = v + 1
		it, err := encode(envKey(project, k), record.FromEnvironment(*e), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
		s.addOriginIndex(&b, project, k, origins, e.AllowedOrigins, true)
		guardFrom, guardTo := s.addSettingsGuard(&b, project, audit.Guard, k)
		applied := s.addApplied(&b, audit.Applies)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err
		}
		if err := appliedMoved(err, applied); err != nil {
			return err
		}
		return outcome(err, audit.Entries, from, "put environment "+project+"/"+k)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// projectOrigins reads the project's environments (strongly consistent):
// the origins they allow, each with the environments allowing it as the
// origin index names them, and every environment's version by sort key.
func (s *Store) projectOrigins(ctx context.Context, project string) (map[string][]string, map[string]int64, error) {
	envs, err := listAll[record.Environment](ctx, s, listing{pk: prefixProject + project, prefix: prefixEnv, what: "environments of " + project})
	if err != nil {
		return nil, nil, err
	}
	origins, versions := map[string][]string{}, map[string]int64{}
	for _, e := range envs {
		versions[prefixEnv+e.Key] = e.Version
		for _, o := range e.AllowedOrigins {
			origins[o] = append(origins[o], domain.OriginIndexEntry(project, e.Key))
		}
	}
	return origins, versions, nil
}
