package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A flag item carries config_seq, bumped (in the same transaction) by every
// write of one of its configs. A flag write is conditioned on version and
// config_seq, a config write on the flag's version: so a flag update and a
// config write never interleave, whichever reads first.

func (s *Store) CreateFlag(ctx context.Context, f *domain.Flag, audit []domain.AuditEntry) error {
	f.Version = 1
	return retry(ctx, func() error {
		var b txBuilder
		b.add(s.txUpdate(projectKey(f.Project), expression.Add(expression.Name(attrFlagSeq), expression.Value(1)), itemExists))
		it, err := encode(flagKey(f.Project, f.Key), record.FromFlag(*f), item{attrConfigSeq: num(0)})
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		s.addRulesetBump(&b, f.Project)
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, 0):
			return domain.NotFound("project", f.Project)
		case failedCondition(err, 1):
			return domain.Errorf(domain.CodeConflict, "flag %q already exists in project %q", f.Key, f.Project)
		}
		return outcome(err, audit, from, "create flag "+f.Project+"/"+f.Key)
	})
}

// readFlag reads a flag item; not_found (of the project or the flag) when it
// is missing.
func (s *Store) readFlag(ctx context.Context, project, k string) (item, *domain.Flag, error) {
	it, err := s.get(ctx, flagKey(project, k))
	if err != nil {
		return nil, nil, err
	}
	if it == nil {
		return nil, nil, s.notFoundIn(ctx, project, "flag", k)
	}
	f, err := decode[record.Flag](it)
	if err != nil {
		return nil, nil, err
	}
	return it, f, nil
}

func (s *Store) GetFlag(ctx context.Context, project, k string) (*domain.Flag, error) {
	_, f, err := s.readFlag(ctx, project, k)
	return f, err
}

func (s *Store) ListFlags(ctx context.Context, project string, filter domain.FlagFilter, page domain.Page) ([]domain.Flag, string, error) {
	ok, err := s.exists(ctx, projectKey(project))
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", domain.NotFound("project", project)
	}
	var conds []expression.ConditionBuilder
	if filter.Tag != "" {
		conds = append(conds, expression.Name("tags").Contains(filter.Tag))
	}
	if filter.Archived != nil {
		conds = append(conds, expression.Name("archived").Equal(expression.Value(*filter.Archived)))
	}
	l := listing{pk: prefixProject + project, prefix: prefixFlag, what: "flags of " + project}
	if len(conds) > 0 {
		c := conds[0]
		for _, more := range conds[1:] {
			c = c.And(more)
		}
		l.filter = &c
	}
	if filter.Query == "" {
		return list[record.Flag](ctx, s, l, page)
	}
	// A search has no expression in DynamoDB (contains() matches case):
	// the items are filtered here, and a page is still full when a next
	// cursor follows.
	return listKeep[record.Flag](ctx, s, l, page, filter.Matches)
}

func (s *Store) flagConfigs(ctx context.Context, project, flag string) ([]domain.FlagConfig, error) {
	configs, err := listAll[record.FlagConfig](ctx, s, listing{
		pk: prefixProject + project, prefix: prefixConfig + flag + "#", what: "configs of " + project + "/" + flag,
	})
	if configs == nil && err == nil {
		configs = []domain.FlagConfig{}
	}
	return configs, err
}

func (s *Store) UpdateFlag(ctx context.Context, project, k string, fn func(*domain.Flag, []domain.FlagConfig, *domain.Audit) error) (*domain.Flag, error) {
	return s.WriteFlag(ctx, project, k, func(f *domain.Flag, configs []domain.FlagConfig, w *domain.FlagWrite) error {
		return fn(f, configs, &w.Audit)
	})
}

func (s *Store) WriteFlag(ctx context.Context, project, k string, fn func(*domain.Flag, []domain.FlagConfig, *domain.FlagWrite) error) (*domain.Flag, error) {
	var f *domain.Flag
	err := retry(ctx, func() error {
		read, flag, err := s.readFlag(ctx, project, k)
		if err != nil {
			return err
		}
		// Read after the flag: a config written in between changed
		// config_seq, and the put below fails.
		configs, err := s.flagConfigs(ctx, project, k)
		if err != nil {
			return err
		}
		v := flag.Version
		var w domain.FlagWrite
		if err := fn(flag, configs, &w); err != nil {
			return err
		}
		flag.Version = v + 1
		it, err := encode(flagKey(project, k), record.FromFlag(*flag), keep(read, attrConfigSeq))
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v).And(unchanged(read, attrConfigSeq))
		b.add(s.txPut(it, &cond))
		s.addRulesetBump(&b, project)
		guardFrom, guardTo := s.addSettingsGuard(&b, project, w.Settings, "")
		opensAt := s.addOpens(&b, w.Opens)
		from := s.addAudit(&b, w.Entries)
		if len(b.items) > maxTxItems && guardTo > guardFrom {
			return domain.Errorf(domain.CodeConflict,
				"a change to flag %q is checked against the approval settings of each of the %d environments of project %q, and that is more than one write can check: save the approval settings of the environments that have none (each of those takes two checks)",
				k, len(w.Settings.Environments), project)
		}
		err = s.transact(ctx, &b)
		if err := guardFailed(err, guardFrom, guardTo); err != nil {
			return err // the settings changed since the decision: decide again
		}
		if err := openedExists(err, opensAt, w.Opens); err != nil {
			return err
		}
		if err := outcome(err, w.Entries, from, "put flag "+project+"/"+k); err != nil {
			return err
		}
		f = flag
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Store) DeleteFlag(ctx context.Context, project, k string, check func(*domain.Flag, *domain.Audit) error) error {
	return retry(ctx, func() error {
		read, f, err := s.readFlag(ctx, project, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(f, &audit); err != nil {
			return err
		}
		// The flag's delete and the ruleset version's increment, the
		// configs, and the audit entries: one transaction.
		room := maxTxItems - 2 - itemsPerAuditEntry*len(audit.Entries)
		configs, err := s.sortKeys(ctx, prefixProject+project, prefixConfig+k+"#", max(room, 0))
		if err != nil {
			return err
		}
		if len(configs) > room {
			// configs holds at most room+1 keys: enough to know.
			return fmt.Errorf("dynamodb delete flag %s/%s: the flag, the ruleset version, its configs (%d or more) and %d audit entries (with their outbox items) are more than one transaction can write",
				project, k, len(configs), len(audit.Entries))
		}
		var b txBuilder
		// config_seq unchanged: no config was written that the delete misses.
		cond := versionIs(f.Version).And(unchanged(read, attrConfigSeq))
		b.add(s.txDelete(flagKey(project, k), &cond))
		for _, sk := range configs {
			b.add(s.txDelete(key{prefixProject + project, sk}, nil))
		}
		s.addRulesetBump(&b, project)
		from := s.addAudit(&b, audit.Entries)
		return outcome(s.transact(ctx, &b), audit.Entries, from, "delete flag "+project+"/"+k)
	})
}

// readFlagConfig reads a flag, the environment and the config (and, with
// lock, the pending lock of the flag in the environment) in one strongly
// consistent batch. A config never written is the default, version 0. It
// returns the flag item as read (for its config_seq) and the lock holder.
func (s *Store) readFlagConfig(ctx context.Context, project, flag, env string, lock bool) (item, *domain.Flag, *domain.FlagConfig, string, error) {
	keys := []key{flagKey(project, flag), envKey(project, env), configKey(project, flag, env)}
	if lock {
		keys = append(keys, lockKey(project, flag, env))
	}
	items, err := s.getMany(ctx, keys...)
	if err != nil {
		return nil, nil, nil, "", err
	}
	// A flag or an environment exists only in an existing project (a
	// project is deleted with its environments, and only without flags), so
	// the project is read only to tell which is missing.
	fl, en, co := items[0], items[1], items[2]
	switch {
	case fl == nil:
		return nil, nil, nil, "", s.notFoundIn(ctx, project, "flag", flag)
	case en == nil:
		return nil, nil, nil, "", s.notFoundIn(ctx, project, "environment", env)
	}
	f, err := decode[record.Flag](fl)
	if err != nil {
		return nil, nil, nil, "", err
	}
	var holder string
	if lock {
		holder = stringAttr(items[3], attrLockedBy)
	}
	if co == nil {
		return fl, f, domain.DefaultFlagConfig(f, env), holder, nil
	}
	c, err := decode[record.FlagConfig](co)
	if err != nil {
		return nil, nil, nil, "", err
	}
	return fl, f, c, holder, nil
}

func (s *Store) GetFlagConfig(ctx context.Context, project, flag, env string) (*domain.Flag, *domain.FlagConfig, error) {
	_, f, c, _, err := s.readFlagConfig(ctx, project, flag, env, false)
	return f, c, err
}

// addConfigWrite adds a config write to a transaction: the config put
// (conditioned on the version read, or on being the first), the increment
// of the flag's config_seq conditioned on the flag version read, a check
// that the environment exists, and the increment of the project's ruleset
// version. c carries its new version already.
func (s *Store) addConfigWrite(b *txBuilder, project, flag, env string, c *domain.FlagConfig, readVersion, flagVersion int64) {
	s.addConfigWriteWhere(b, project, flag, env, c, readVersion, flagVersion, itemExists)
}

// addConfigPut adds to b the put of config c, read at readVersion (0:
// never written), alone: the flag's config sequence, the environment's
// check and the ruleset version are the caller's.
func (s *Store) addConfigPut(b *txBuilder, project, flag, env string, c *domain.FlagConfig, readVersion int64) {
	it, err := encode(configKey(project, flag, env), record.FromFlagConfig(*c), item{
		attrGSI1PK: str(prefixEnvConf + project + "#" + env),
		attrGSI1SK: str(flag),
	})
	if err != nil {
		b.add(types.TransactWriteItem{}, err)
		return
	}
	cond := versionOrNew(readVersion)
	b.add(s.txPut(it, &cond))
}

// addConfigWriteWhere is addConfigWrite with envCond as the check of the
// environment item (a settings guard adds its protection to it); it returns
// the check's index in b.
func (s *Store) addConfigWriteWhere(b *txBuilder, project, flag, env string, c *domain.FlagConfig, readVersion, flagVersion int64, envCond expression.ConditionBuilder) (envCheck int) {
	s.addConfigPut(b, project, flag, env, c, readVersion)
	b.add(s.txUpdate(flagKey(project, flag), expression.Add(expression.Name(attrConfigSeq), expression.Value(1)), versionIs(flagVersion)))
	envCheck = len(b.items)
	b.add(s.txCheck(envKey(project, env), envCond))
	s.addRulesetBump(b, project)
	return envCheck
}

func (s *Store) UpdateFlagConfig(ctx context.Context, project, flag, env string, fn func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error) (*domain.FlagConfig, error) {
	var c *domain.FlagConfig
	err := retry(ctx, func() error {
		_, f, config, holder, err := s.readFlagConfig(ctx, project, flag, env, true)
		if err != nil {
			return err
		}
		flagVersion, v := f.Version, config.Version
		w := domain.ConfigWrite{LockedBy: holder}
		if err := fn(f, config, &w); err != nil {
			return err
		}
		config.Version = v + 1
		var b txBuilder
		envCond, pinned := guardedEnv(w.Settings, env)
		envCheck := s.addConfigWriteWhere(&b, project, flag, env, config, v, flagVersion, envCond)
		// The lock is as fn saw it: still held by the same request, or
		// still free.
		b.add(s.txCheck(lockKey(project, flag, env), lockHeldBy(holder)))
		guardFrom, guardTo := s.addSettingsGuard(&b, project, w.Settings, env)
		segFrom, segs := s.addSegmentChecks(&b, project, w.Segments)
		opensAt := s.addOpens(&b, w.Opens)
		from := s.addAudit(&b, w.Entries)
		err = s.transact(ctx, &b)
		if err := openedExists(err, opensAt, w.Opens); err != nil {
			return err
		}
		if i, gone := anyFailedCondition(err, segFrom, segFrom+len(segs)); gone {
			return domain.ErrSegmentGone(segs[i-segFrom])
		}
		if _, stale := anyFailedCondition(err, guardFrom, guardTo); stale || (pinned && failedCondition(err, envCheck)) {
			// The settings the decision was made on changed (or the
			// environment is gone): the application decides again.
			return domain.ErrContention
		}
		// A failed condition means something changed, or the flag or the
		// environment is gone: the next read tells which.
		if err := outcome(err, w.Entries, from, "put flag config "+project+"/"+flag+"/"+env); err != nil {
			return err
		}
		c = config
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
