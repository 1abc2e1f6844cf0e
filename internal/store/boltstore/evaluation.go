package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var (
	bSDKKeys        = []byte("sdk_keys")         // project/env/id → SDKKey
	bSDKKeyHashes   = []byte("sdk_key_hashes")   // hash → project/env/id
	bRulesetVersion = []byte("ruleset_versions") // project → uint64
	bClientOrigins  = []byte("client_origins")   // origin → JSON list of "project/env" allowing it
)

var _ domain.EvaluationRepository = (*Store)(nil)

func init() {
	allBuckets = append(allBuckets, bSDKKeys, bSDKKeyHashes, bRulesetVersion, bClientOrigins)
}

// bumpRuleset moves the project's ruleset version, in the caller's write.
func bumpRuleset(tx *bolt.Tx, project string) error {
	b := tx.Bucket(bRulesetVersion)
	var n uint64
	if raw := b.Get(key(project)); len(raw) == 8 {
		n = binary.BigEndian.Uint64(raw)
	}
	return b.Put(key(project), binary.BigEndian.AppendUint64(nil, n+1))
}

func (s *Store) RulesetVersion(ctx context.Context, project string) (v int64, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bRulesetVersion).Get(key(project)); len(raw) == 8 {
			v = int64(binary.BigEndian.Uint64(raw))
		}
		return nil
	})
	return v, err
}

func (s *Store) Ruleset(ctx context.Context, project, env string) (r *domain.Ruleset, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		e, err := getEnvironment(tx, project, env)
		if err != nil {
			return err
		}
		r = &domain.Ruleset{Flags: []domain.Flag{}, Configs: []domain.FlagConfig{}, Environment: *e}
		if raw := tx.Bucket(bRulesetVersion).Get(key(project)); len(raw) == 8 {
			r.Version = int64(binary.BigEndian.Uint64(raw))
		}
		prefix := key(project, "")
		c := tx.Bucket(bFlags).Cursor()
		for k, raw := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, raw = c.Next() {
			f, err := decode[record.Flag](raw)
			if err != nil {
				return fmt.Errorf("decode %s/%s: %w", bFlags, k, err)
			}
			r.Flags = append(r.Flags, *f)
			cfg, ok, err := get[record.FlagConfig](tx, bConfigs, key(project, f.Key, env))
			if err != nil {
				return err
			}
			if ok {
				r.Configs = append(r.Configs, *cfg)
			}
		}
		r.Segments, err = projectSegments(tx, project)
		return err
	})
	return r, err
}

func (s *Store) CreateSDKKey(ctx context.Context, k *domain.SDKKey, audit ...domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getEnvironment(tx, k.Project, k.Environment); err != nil {
			return err
		}
		id := key(k.Project, k.Environment, k.ID)
		if tx.Bucket(bSDKKeys).Get(id) != nil || tx.Bucket(bSDKKeyHashes).Get([]byte(k.Hash)) != nil {
			return domain.Errorf(domain.CodeConflict, "SDK key %q already exists", k.ID)
		}
		if err := tx.Bucket(bSDKKeyHashes).Put([]byte(k.Hash), id); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bSDKKeys, id, record.FromSDKKey(*k))
	})
}

func (s *Store) GetSDKKeyByHash(ctx context.Context, hash string) (k *domain.SDKKey, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bSDKKeyHashes).Get([]byte(hash))
		if id == nil {
			return domain.Errorf(domain.CodeNotFound, "SDK key not found")
		}
		var ok bool
		k, ok, err = get[record.SDKKey](tx, bSDKKeys, id)
		if err == nil && (!ok || k.RevokedAt != nil) {
			err = domain.Errorf(domain.CodeNotFound, "SDK key not found")
		}
		return err
	})
	return k, err
}

func (s *Store) ListSDKKeys(ctx context.Context, project, env string, page domain.Page) (out []domain.SDKKey, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getEnvironment(tx, project, env); err != nil {
			return err
		}
		out, next, err = list[record.SDKKey](tx, bSDKKeys, key(project, env, ""), page, nil)
		return err
	})
	return out, next, err
}

func (s *Store) RevokeSDKKey(ctx context.Context, project, env, id string, at time.Time, audit ...domain.AuditEntry) (k *domain.SDKKey, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		k, ok, err = get[record.SDKKey](tx, bSDKKeys, key(project, env, id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("SDK key", id)
		}
		if k.RevokedAt != nil {
			return nil
		}
		at := at.UTC()
		k.RevokedAt = &at
		if err := tx.Bucket(bSDKKeyHashes).Delete([]byte(k.Hash)); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bSDKKeys, key(project, env, id), record.FromSDKKey(*k))
	})
	return k, err
}

func (s *Store) RotateSDKKey(ctx context.Context, project, env, id string, next *domain.SDKKey, at, expires time.Time, audit ...domain.AuditEntry) (old *domain.SDKKey, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		oldID := key(project, env, id)
		var ok bool
		old, ok, err = get[record.SDKKey](tx, bSDKKeys, oldID)
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("SDK key", id)
		}
		nextID := key(next.Project, next.Environment, next.ID)
		if tx.Bucket(bSDKKeys).Get(nextID) != nil || tx.Bucket(bSDKKeyHashes).Get([]byte(next.Hash)) != nil {
			return domain.Errorf(domain.CodeConflict, "SDK key %q already exists", next.ID)
		}
		if err := old.RotateTo(next, at, expires); err != nil {
			return err
		}
		if old.RevokedAt != nil {
			if err := tx.Bucket(bSDKKeyHashes).Delete([]byte(old.Hash)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bSDKKeyHashes).Put([]byte(next.Hash), nextID); err != nil {
			return err
		}
		if err := put(tx, bSDKKeys, nextID, record.FromSDKKey(*next)); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bSDKKeys, oldID, record.FromSDKKey(*old))
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

func (s *Store) GetSDKKey(ctx context.Context, project, env, id string) (k *domain.SDKKey, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		k, ok, err = get[record.SDKKey](tx, bSDKKeys, key(project, env, id))
		if err == nil && !ok {
			err = domain.NotFound("SDK key", id)
		}
		return err
	})
	return k, err
}

// ---- the origin index ----

// The client_origins bucket maps each origin some environment allows for
// its client keys ("*" included) to the environments allowing it
// ("project/env", sorted): browsers' preflights are answered on it. It is
// written in the same transaction as the environments.

func (s *Store) OriginAllowed(ctx context.Context, origin string) (ok bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bClientOrigins)
		ok = origin != "" && (b.Get([]byte(origin)) != nil || b.Get([]byte(domain.AnyOrigin)) != nil)
		return nil
	})
	return ok, err
}

// indexOrigins records, in the caller's write, that environment env of
// project now allows the origins added and no longer the ones removed.
func indexOrigins(tx *bolt.Tx, project, env string, added, removed []string) error {
	b := tx.Bucket(bClientOrigins)
	entry := domain.OriginIndexEntry(project, env)
	change := func(origin string, keep func([]string) []string) error {
		var envs []string
		if raw := b.Get([]byte(origin)); raw != nil {
			if err := json.Unmarshal(raw, &envs); err != nil {
				return fmt.Errorf("decode %s/%s: %w", bClientOrigins, origin, err)
			}
		}
		envs = keep(slices.DeleteFunc(envs, func(e string) bool { return e == entry }))
		if len(envs) == 0 {
			return b.Delete([]byte(origin))
		}
		slices.Sort(envs)
		raw, err := json.Marshal(envs)
		if err != nil {
			return err
		}
		return b.Put([]byte(origin), raw)
	}
	for _, o := range added {
		if err := change(o, func(envs []string) []string { return append(envs, entry) }); err != nil {
			return err
		}
	}
	for _, o := range removed {
		if err := change(o, func(envs []string) []string { return envs }); err != nil {
			return err
		}
	}
	return nil
}
