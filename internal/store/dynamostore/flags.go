package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/countersign/countersign/internal/domain"
)

// A flag item carries config_seq, bumped (in the same transaction) by every
// write of one of its configs. A flag write is conditioned on version and
// config_seq, a config write on the flag's version: so a flag update and a
// config write never interleave, whichever reads first.

func (s *Store) CreateFlag(ctx context.Context, f *domain.Flag) error {
	f.Version = 1
	return retry(ctx, func() error {
		var b txBuilder
		b.add(s.txUpdate(projectKey(f.Project), expression.Add(expression.Name(attrFlagSeq), expression.Value(1)), itemExists))
		it, err := encode(flagKey(f.Project, f.Key), f, item{attrConfigSeq: num(0)})
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		err = s.transact(ctx, &b)
		reasons := cancelled(err)
		switch {
		case err == nil:
			return nil
		case failedCondition(reasons, 0):
			return domain.NotFound("project", f.Project)
		case failedCondition(reasons, 1):
			return domain.Errorf(domain.CodeConflict, "flag %q already exists in project %q", f.Key, f.Project)
		case onlyConflicts(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb create flag %s/%s: %w", f.Project, f.Key, err)
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
	f, err := decode[domain.Flag](it)
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
	return list[domain.Flag](ctx, s, l, page)
}

func (s *Store) flagConfigs(ctx context.Context, project, flag string) ([]domain.FlagConfig, error) {
	configs, err := listAll[domain.FlagConfig](ctx, s, listing{
		pk: prefixProject + project, prefix: prefixConfig + flag + "#", what: "configs of " + project + "/" + flag,
	})
	if configs == nil && err == nil {
		configs = []domain.FlagConfig{}
	}
	return configs, err
}

func (s *Store) UpdateFlag(ctx context.Context, project, k string, fn func(*domain.Flag, []domain.FlagConfig) error) (*domain.Flag, error) {
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
		if err := fn(flag, configs); err != nil {
			return err
		}
		flag.Version = v + 1
		it, err := encode(flagKey(project, k), flag, keep(read, attrConfigSeq))
		if err != nil {
			return err
		}
		err = s.putIf(ctx, it, versionIs(v).And(unchanged(read, attrConfigSeq)))
		switch {
		case err == nil:
			f = flag
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb put flag %s/%s: %w", project, k, err)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Store) DeleteFlag(ctx context.Context, project, k string, check func(*domain.Flag) error) error {
	return retry(ctx, func() error {
		read, f, err := s.readFlag(ctx, project, k)
		if err != nil {
			return err
		}
		if err := check(f); err != nil {
			return err
		}
		configs, err := s.sortKeys(ctx, prefixProject+project, prefixConfig+k+"#", 98)
		if err != nil {
			return err
		}
		if len(configs) > 98 {
			return fmt.Errorf("dynamodb delete flag %s/%s: %d configs are more than one transaction can delete", project, k, len(configs))
		}
		var b txBuilder
		// config_seq unchanged: no config was written that the delete misses.
		cond := versionIs(f.Version).And(unchanged(read, attrConfigSeq))
		b.add(s.txDelete(flagKey(project, k), &cond))
		for _, sk := range configs {
			b.add(s.txDelete(key{prefixProject + project, sk}, nil))
		}
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case lostRace(err):
			return errRetry
		}
		return fmt.Errorf("dynamodb delete flag %s/%s: %w", project, k, err)
	})
}

// readFlagConfig reads a flag, the environment and the config in one batch.
// A config never written is the default, version 0.
func (s *Store) readFlagConfig(ctx context.Context, project, flag, env string) (*domain.Flag, *domain.FlagConfig, error) {
	items, err := s.getMany(ctx, projectKey(project), flagKey(project, flag), envKey(project, env), configKey(project, flag, env))
	if err != nil {
		return nil, nil, err
	}
	proj, fl, en, co := items[0], items[1], items[2], items[3]
	switch {
	case proj == nil:
		return nil, nil, domain.NotFound("project", project)
	case fl == nil:
		return nil, nil, domain.NotFound("flag", flag)
	case en == nil:
		return nil, nil, domain.NotFound("environment", env)
	}
	f, err := decode[domain.Flag](fl)
	if err != nil {
		return nil, nil, err
	}
	if co == nil {
		return f, domain.DefaultFlagConfig(f, env), nil
	}
	c, err := decode[domain.FlagConfig](co)
	if err != nil {
		return nil, nil, err
	}
	return f, c, nil
}

func (s *Store) GetFlagConfig(ctx context.Context, project, flag, env string) (*domain.Flag, *domain.FlagConfig, error) {
	return s.readFlagConfig(ctx, project, flag, env)
}

func (s *Store) UpdateFlagConfig(ctx context.Context, project, flag, env string, fn func(*domain.Flag, *domain.FlagConfig) error) (*domain.FlagConfig, error) {
	var c *domain.FlagConfig
	err := retry(ctx, func() error {
		f, config, err := s.readFlagConfig(ctx, project, flag, env)
		if err != nil {
			return err
		}
		flagVersion, v := f.Version, config.Version
		if err := fn(f, config); err != nil {
			return err
		}
		config.Version = v + 1
		it, err := encode(configKey(project, flag, env), config, item{
			attrGSI1PK: str(prefixEnvConf + project + "#" + env),
			attrGSI1SK: str(flag),
		})
		if err != nil {
			return err
		}
		var b txBuilder
		configCond := versionIs(v)
		if v == 0 {
			configCond = itemMissing
		}
		b.add(s.txPut(it, &configCond))
		b.add(s.txUpdate(flagKey(project, flag), expression.Add(expression.Name(attrConfigSeq), expression.Value(1)), versionIs(flagVersion)))
		b.add(s.txCheck(envKey(project, env), itemExists))
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			c = config
			return nil
		case lostRace(err):
			// Something changed, or the flag or environment is gone: the
			// next read tells which.
			return errRetry
		}
		return fmt.Errorf("dynamodb put flag config %s/%s/%s: %w", project, flag, env, err)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
