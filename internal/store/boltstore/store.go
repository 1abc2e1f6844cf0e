// Package boltstore is the embedded store: every repository on one bbolt
// file. bbolt serialises writers, so each read-modify-write runs in one
// read-write transaction and cannot lose an update.
package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var (
	bProjects     = []byte("projects")     // project → Project
	bEnvironments = []byte("environments") // project/env → Environment
	bFlags        = []byte("flags")        // project/flag → Flag
	bConfigs      = []byte("configs")      // project/flag/env → FlagConfig
	bMembers      = []byte("members")      // id → Member
	bMemberEmails = []byte("member_emails")
	bTokens       = []byte("tokens")       // id → Token
	bTokenHashes  = []byte("token_hashes") // hash → id
	allBuckets    = [][]byte{bProjects, bEnvironments, bFlags, bConfigs, bMembers, bMemberEmails, bTokens, bTokenHashes}
)

// Store implements domain.Store on bbolt.
type Store struct {
	db *bolt.DB
}

var _ domain.Store = (*Store)(nil)

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "countersign.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s (is another countersign running on it?): %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func key(parts ...string) []byte { return []byte(strings.Join(parts, "/")) }

// get reads the entity under k: entities are stored as their records
// (internal/store/record), in JSON.
func get[R record.Of[D], D any](tx *bolt.Tx, bucket, k []byte) (*D, bool, error) {
	raw := tx.Bucket(bucket).Get(k)
	if raw == nil {
		return nil, false, nil
	}
	v, err := decode[R](raw)
	if err != nil {
		return nil, false, fmt.Errorf("decode %s/%s: %w", bucket, k, err)
	}
	return v, true, nil
}

// decode reads a stored record as its domain value.
func decode[R record.Of[D], D any](raw []byte) (*D, error) {
	var r R
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	v := r.Domain()
	return &v, nil
}

// put writes an entity's record under k.
func put[R record.Of[D], D any](tx *bolt.Tx, bucket, k []byte, r R) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, k, err)
	}
	return tx.Bucket(bucket).Put(k, raw)
}

func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func decodeCursor(c string) ([]byte, error) {
	k, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, domain.Errorf(domain.CodeInvalid, "the cursor is not one this service gave out")
	}
	return k, nil
}

// list reads one page of the records under prefix that pass keep.
func list[R record.Of[D], D any](tx *bolt.Tx, bucket, prefix []byte, page domain.Page, keep func(*D) bool) ([]D, string, error) {
	return listRaw(tx, bucket, prefix, page, nil, decode[R], keep)
}

// listRaw is list of the values read decodes, with a look at each stored
// value before it is decoded: a value maybe refuses cannot pass keep, and is
// skipped undecoded.
func listRaw[T any](tx *bolt.Tx, bucket, prefix []byte, page domain.Page, maybe func(raw []byte) bool, read func([]byte) (*T, error), keep func(*T) bool) ([]T, string, error) {
	page = page.Normalize()
	c := tx.Bucket(bucket).Cursor()
	var k, raw []byte
	if page.Cursor != "" {
		after, err := decodeCursor(page.Cursor)
		if err != nil {
			return nil, "", err
		}
		if !bytes.HasPrefix(after, prefix) {
			return nil, "", domain.Errorf(domain.CodeInvalid, "the cursor belongs to another list")
		}
		k, raw = c.Seek(after)
		if bytes.Equal(k, after) {
			k, raw = c.Next()
		}
	} else {
		k, raw = c.Seek(prefix)
	}
	out := []T{}
	var last []byte
	for ; k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
		if maybe != nil && !maybe(raw) {
			continue
		}
		v, err := read(raw)
		if err != nil {
			return nil, "", fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		if keep != nil && !keep(v) {
			continue
		}
		if len(out) == page.Limit {
			return out, encodeCursor(last), nil
		}
		out = append(out, *v)
		last = append(last[:0], k...)
	}
	return out, "", nil
}

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// ---- projects and environments ----

func (s *Store) CreateProject(ctx context.Context, p *domain.Project, envs []domain.Environment) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(p.Key)) != nil {
			return domain.Errorf(domain.CodeConflict, "project %q already exists", p.Key)
		}
		p.Version = 1
		if err := put(tx, bProjects, key(p.Key), record.FromProject(*p)); err != nil {
			return err
		}
		for i := range envs {
			envs[i].Project = p.Key
			envs[i].Version = 1
			if err := put(tx, bEnvironments, key(p.Key, envs[i].Key), record.FromEnvironment(envs[i])); err != nil {
				return err
			}
			if err := indexOrigins(tx, p.Key, envs[i].Key, envs[i].AllowedOrigins, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) GetProject(ctx context.Context, k string) (*domain.Project, error) {
	var p *domain.Project
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		p, ok, err = get[record.Project](tx, bProjects, key(k))
		if err == nil && !ok {
			err = domain.NotFound("project", k)
		}
		return err
	})
	return p, err
}

func (s *Store) ListProjects(ctx context.Context, page domain.Page) (out []domain.Project, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = list[record.Project](tx, bProjects, nil, page, nil)
		return err
	})
	return out, next, err
}

// modify is the read-modify-write every Update* method shares; from is the
// record of the entity.
func modify[D any, R record.Of[D]](tx *bolt.Tx, bucket, k []byte, notFound error, from func(D) R, version func(*D) *int64, fn func(*D) error) (*D, error) {
	v, ok, err := get[R](tx, bucket, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound
	}
	read := *version(v)
	if err := fn(v); err != nil {
		return nil, err
	}
	*version(v) = read + 1
	return v, put(tx, bucket, k, from(*v))
}

func (s *Store) UpdateProject(ctx context.Context, k string, fn func(*domain.Project) error) (p *domain.Project, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		p, err = modify(tx, bProjects, key(k), domain.NotFound("project", k), record.FromProject, func(p *domain.Project) *int64 { return &p.Version }, fn)
		return err
	})
	return p, err
}

func (s *Store) DeleteProject(ctx context.Context, k string, at time.Time, audit func(revoked []string) []domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(k)) == nil {
			return domain.NotFound("project", k)
		}
		prefix := key(k, "")
		if fk, _ := tx.Bucket(bFlags).Cursor().Seek(prefix); fk != nil && bytes.HasPrefix(fk, prefix) {
			return domain.Errorf(domain.CodeConflict, "project %q still has flags; delete them first (archive, then delete with ?hard=true)", k)
		}
		if hasSegments(tx, k) {
			return domain.Errorf(domain.CodeConflict, "project %q still has segments; delete them first", k)
		}
		envs := tx.Bucket(bEnvironments)
		var doomed [][]byte
		c := envs.Cursor()
		for ek, raw := c.Seek(prefix); ek != nil && bytes.HasPrefix(ek, prefix); ek, raw = c.Next() {
			doomed = append(doomed, bytes.Clone(ek))
			e, err := decode[record.Environment](raw)
			if err != nil {
				return fmt.Errorf("decode %s/%s: %w", bEnvironments, ek, err)
			}
			if err := indexOrigins(tx, k, e.Key, nil, e.AllowedOrigins); err != nil {
				return err
			}
		}
		for _, ek := range doomed {
			if err := envs.Delete(ek); err != nil {
				return err
			}
		}
		revoked, err := revokeProjectSDKKeys(tx, k, at.UTC())
		if err != nil {
			return err
		}
		if audit != nil {
			if err := writeAudit(tx, audit(revoked)); err != nil {
				return err
			}
		}
		return tx.Bucket(bProjects).Delete(key(k))
	})
}

// revokeProjectSDKKeys revokes, in the caller's write, every SDK key of the
// project that is not revoked yet (rotated keys in their grace period
// included) and forgets their hashes, so that no key outlives its project
// and opens a project created again under the same key. The key items stay.
// The prefix is "<project>/": project keys cannot contain "/", so project
// "p" never reaches "p2"'s keys.
func revokeProjectSDKKeys(tx *bolt.Tx, project string, at time.Time) (ids []string, err error) {
	keys, hashes := tx.Bucket(bSDKKeys), tx.Bucket(bSDKKeyHashes)
	prefix := key(project, "")
	var revoked [][]byte
	var values [][]byte
	c := keys.Cursor()
	for kk, raw := c.Seek(prefix); kk != nil && bytes.HasPrefix(kk, prefix); kk, raw = c.Next() {
		sk, err := decode[record.SDKKey](raw)
		if err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", bSDKKeys, kk, err)
		}
		if sk.RevokedAt != nil {
			continue
		}
		sk.RevokedAt = &at
		if err := hashes.Delete([]byte(sk.Hash)); err != nil {
			return nil, err
		}
		v, err := json.Marshal(record.FromSDKKey(*sk))
		if err != nil {
			return nil, fmt.Errorf("encode %s/%s: %w", bSDKKeys, kk, err)
		}
		revoked, values = append(revoked, bytes.Clone(kk)), append(values, v)
		ids = append(ids, sk.ID)
	}
	// Written after the walk: a cursor must not see its bucket change.
	for i, kk := range revoked {
		if err := keys.Put(kk, values[i]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (s *Store) CreateEnvironment(ctx context.Context, e *domain.Environment) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(e.Project)) == nil {
			return domain.NotFound("project", e.Project)
		}
		if tx.Bucket(bEnvironments).Get(key(e.Project, e.Key)) != nil {
			return domain.Errorf(domain.CodeConflict, "environment %q already exists in project %q", e.Key, e.Project)
		}
		n := 0
		prefix := key(e.Project, "")
		c := tx.Bucket(bEnvironments).Cursor()
		for ek, _ := c.Seek(prefix); ek != nil && bytes.HasPrefix(ek, prefix); ek, _ = c.Next() {
			n++
		}
		if n >= domain.MaxEnvironmentsPerProject {
			return domain.Errorf(domain.CodeConflict, "project %q has %d environments, the most a project may have", e.Project, n)
		}
		e.Version = 1
		if err := indexOrigins(tx, e.Project, e.Key, e.AllowedOrigins, nil); err != nil {
			return err
		}
		return put(tx, bEnvironments, key(e.Project, e.Key), record.FromEnvironment(*e))
	})
}

func (s *Store) GetEnvironment(ctx context.Context, project, k string) (*domain.Environment, error) {
	var e *domain.Environment
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		e, err = getEnvironment(tx, project, k)
		return err
	})
	return e, err
}

func getEnvironment(tx *bolt.Tx, project, k string) (*domain.Environment, error) {
	if tx.Bucket(bProjects).Get(key(project)) == nil {
		return nil, domain.NotFound("project", project)
	}
	e, ok, err := get[record.Environment](tx, bEnvironments, key(project, k))
	if err == nil && !ok {
		err = domain.NotFound("environment", k)
	}
	return e, err
}

func (s *Store) ListEnvironments(ctx context.Context, project string, page domain.Page) (out []domain.Environment, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(project)) == nil {
			return domain.NotFound("project", project)
		}
		out, next, err = list[record.Environment](tx, bEnvironments, key(project, ""), page, nil)
		return err
	})
	return out, next, err
}

func (s *Store) UpdateEnvironment(ctx context.Context, project, k string, fn func(*domain.Environment, *domain.Audit) error) (e *domain.Environment, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		before, err := getEnvironment(tx, project, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		e, err = modify(tx, bEnvironments, key(project, k), domain.NotFound("environment", k), record.FromEnvironment, func(e *domain.Environment) *int64 { return &e.Version },
			func(e *domain.Environment) error { return fn(e, &audit) })
		if err != nil {
			return err
		}
		if added, removed := domain.OriginChanges(before.AllowedOrigins, e.AllowedOrigins); len(added)+len(removed) > 0 {
			if err := indexOrigins(tx, project, k, added, removed); err != nil {
				return err
			}
			if err := bumpRuleset(tx, project); err != nil { // evaluators pick the origins up with the ruleset
				return err
			}
		}
		if err := checkSettings(tx, project, audit.Guard); err != nil {
			return err
		}
		if err := writeApplied(tx, audit.Applies); err != nil {
			return err
		}
		return writeAudit(tx, audit.Entries)
	})
	return e, err
}

// ---- flags ----

func (s *Store) CreateFlag(ctx context.Context, f *domain.Flag, audit []domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		if tx.Bucket(bProjects).Get(key(f.Project)) == nil {
			return domain.NotFound("project", f.Project)
		}
		if tx.Bucket(bFlags).Get(key(f.Project, f.Key)) != nil {
			return domain.Errorf(domain.CodeConflict, "flag %q already exists in project %q", f.Key, f.Project)
		}
		f.Version = 1
		if err := bumpRuleset(tx, f.Project); err != nil {
			return err
		}
		return put(tx, bFlags, key(f.Project, f.Key), record.FromFlag(*f))
	})
}

func getFlag(tx *bolt.Tx, project, k string) (*domain.Flag, error) {
	if tx.Bucket(bProjects).Get(key(project)) == nil {
		return nil, domain.NotFound("project", project)
	}
	f, ok, err := get[record.Flag](tx, bFlags, key(project, k))
	if err == nil && !ok {
		err = domain.NotFound("flag", k)
	}
	return f, err
}

func (s *Store) GetFlag(ctx context.Context, project, k string) (f *domain.Flag, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		f, err = getFlag(tx, project, k)
		return err
	})
	return f, err
}

func (s *Store) ListFlags(ctx context.Context, project string, filter domain.FlagFilter, page domain.Page) (out []domain.Flag, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(project)) == nil {
			return domain.NotFound("project", project)
		}
		out, next, err = listRaw(tx, bFlags, key(project, ""), page, flagQueryPrefilter(filter.Query), decode[record.Flag], filter.Matches)
		return err
	})
	return out, next, err
}

// flagQueryPrefilter looks for a search in a flag's stored JSON before it
// is decoded. A query of letters, digits, spaces and "-_.:/" is written
// as is in the JSON of a key or name that contains it (encoding/json
// escapes none of them), so a record without it, ASCII case folded,
// cannot match; other queries decode every record.
func flagQueryPrefilter(q string) func([]byte) bool {
	if q == "" {
		return nil
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(" -_.:/", c) >= 0) {
			return nil
		}
	}
	return func(raw []byte) bool { return domain.ContainsFoldASCII(string(raw), q) }
}

func flagConfigs(tx *bolt.Tx, project, flag string) ([]domain.FlagConfig, error) {
	out, _, err := list[record.FlagConfig](tx, bConfigs, key(project, flag, ""), domain.Page{Limit: domain.MaxPageLimit}, nil)
	return out, err
}

func (s *Store) UpdateFlag(ctx context.Context, project, k string, fn func(*domain.Flag, []domain.FlagConfig, *domain.Audit) error) (*domain.Flag, error) {
	return s.WriteFlag(ctx, project, k, func(f *domain.Flag, configs []domain.FlagConfig, w *domain.FlagWrite) error {
		return fn(f, configs, &w.Audit)
	})
}

func (s *Store) WriteFlag(ctx context.Context, project, k string, fn func(*domain.Flag, []domain.FlagConfig, *domain.FlagWrite) error) (f *domain.Flag, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getFlag(tx, project, k); err != nil {
			return err
		}
		configs, err := flagConfigs(tx, project, k)
		if err != nil {
			return err
		}
		var w domain.FlagWrite
		f, err = modify(tx, bFlags, key(project, k), domain.NotFound("flag", k), record.FromFlag, func(f *domain.Flag) *int64 { return &f.Version },
			func(f *domain.Flag) error { return fn(f, configs, &w) })
		if err != nil {
			return err
		}
		if err := checkSettings(tx, project, w.Settings); err != nil {
			return err
		}
		if err := bumpRuleset(tx, project); err != nil {
			return err
		}
		if err := opens(tx, w.Opens); err != nil {
			return err
		}
		return writeAudit(tx, w.Entries)
	})
	return f, err
}

func (s *Store) DeleteFlag(ctx context.Context, project, k string, check func(*domain.Flag, *domain.Audit) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		f, err := getFlag(tx, project, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(f, &audit); err != nil {
			return err
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		configs := tx.Bucket(bConfigs)
		prefix := key(project, k, "")
		var doomed [][]byte
		c := configs.Cursor()
		for ck, _ := c.Seek(prefix); ck != nil && bytes.HasPrefix(ck, prefix); ck, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(ck))
		}
		for _, ck := range doomed {
			if err := configs.Delete(ck); err != nil {
				return err
			}
		}
		if err := bumpRuleset(tx, project); err != nil {
			return err
		}
		return tx.Bucket(bFlags).Delete(key(project, k))
	})
}

func getFlagConfig(tx *bolt.Tx, project, flag, env string) (*domain.Flag, *domain.FlagConfig, error) {
	f, err := getFlag(tx, project, flag)
	if err != nil {
		return nil, nil, err
	}
	if _, err := getEnvironment(tx, project, env); err != nil {
		return nil, nil, err
	}
	c, ok, err := get[record.FlagConfig](tx, bConfigs, key(project, flag, env))
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		c = domain.DefaultFlagConfig(f, env)
	}
	return f, c, nil
}

func (s *Store) GetFlagConfig(ctx context.Context, project, flag, env string) (f *domain.Flag, c *domain.FlagConfig, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		f, c, err = getFlagConfig(tx, project, flag, env)
		return err
	})
	return f, c, err
}

func (s *Store) UpdateFlagConfig(ctx context.Context, project, flag, env string, fn func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error) (c *domain.FlagConfig, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var f *domain.Flag
		f, c, err = getFlagConfig(tx, project, flag, env)
		if err != nil {
			return err
		}
		read := c.Version
		w := domain.ConfigWrite{LockedBy: string(tx.Bucket(bLocks).Get(key(project, flag, env)))}
		if err := fn(f, c, &w); err != nil {
			return err
		}
		if err := checkSettings(tx, project, w.Settings); err != nil {
			return err
		}
		if err := segmentsExist(tx, project, w.Segments); err != nil {
			return err
		}
		if err := opens(tx, w.Opens); err != nil {
			return err
		}
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		c.Version = read + 1
		if err := bumpRuleset(tx, project); err != nil {
			return err
		}
		return put(tx, bConfigs, key(project, flag, env), record.FromFlagConfig(*c))
	})
	return c, err
}

// ---- members ----

func emailKey(email string) []byte { return []byte(domain.EmailKey(email)) }

func (s *Store) CreateMember(ctx context.Context, m *domain.Member, audit ...domain.AuditEntry) error {
	return s.AddMember(ctx, m, &domain.Audit{Entries: audit})
}

// AddMember checks the organisation settings w.Guard names (ErrContention
// when they moved) in the member's transaction: a refusal rolls it all
// back.
func (s *Store) AddMember(ctx context.Context, m *domain.Member, w *domain.Audit) error {
	if w == nil {
		w = &domain.Audit{}
	}
	if w.Applies != nil {
		return fmt.Errorf("bbolt add member %s: creating a member applies no request (%s)", m.ID, w.Applies.ID)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := checkSettings(tx, "", w.Guard); err != nil {
			return err
		}
		if tx.Bucket(bMembers).Get(key(m.ID)) != nil {
			return domain.Errorf(domain.CodeConflict, "member %q already exists", m.ID)
		}
		if tx.Bucket(bMemberEmails).Get(emailKey(m.Email)) != nil {
			return domain.Errorf(domain.CodeConflict, "a member with e-mail %s already exists", m.Email)
		}
		m.Version = 1
		if err := tx.Bucket(bMemberEmails).Put(emailKey(m.Email), []byte(m.ID)); err != nil {
			return err
		}
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		return put(tx, bMembers, key(m.ID), record.FromMember(*m))
	})
}

func (s *Store) GetMember(ctx context.Context, id string) (m *domain.Member, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		m, ok, err = get[record.Member](tx, bMembers, key(id))
		if err == nil && !ok {
			err = domain.NotFound("member", id)
		}
		return err
	})
	return m, err
}

func (s *Store) ListMembers(ctx context.Context, page domain.Page) (out []domain.Member, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = list[record.Member](tx, bMembers, nil, page, nil)
		return err
	})
	return out, next, err
}

func (s *Store) UpdateMember(ctx context.Context, id string, fn func(*domain.Member) error) (*domain.Member, error) {
	return s.WriteMember(ctx, id, func(m *domain.Member, _ *domain.MemberWrite) error { return fn(m) })
}

func (s *Store) WriteMember(ctx context.Context, id string, fn func(*domain.Member, *domain.MemberWrite) error) (m *domain.Member, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var oldEmail string
		var w domain.MemberWrite
		m, err = modify(tx, bMembers, key(id), domain.NotFound("member", id), record.FromMember, func(m *domain.Member) *int64 { return &m.Version },
			func(m *domain.Member) error { oldEmail = m.Email; return fn(m, &w) })
		if err != nil {
			return err
		}
		if w.KeepAnAdmin {
			if err := keepAnAdmin(tx, id, oldEmail, false); err != nil {
				return err
			}
		}
		if !bytes.Equal(emailKey(oldEmail), emailKey(m.Email)) {
			emails := tx.Bucket(bMemberEmails)
			if emails.Get(emailKey(m.Email)) != nil {
				return domain.Errorf(domain.CodeConflict, "a member with e-mail %s already exists", m.Email)
			}
			if err := emails.Delete(emailKey(oldEmail)); err != nil {
				return err
			}
			if err := emails.Put(emailKey(m.Email), []byte(m.ID)); err != nil {
				return err
			}
		}
		if err := checkSettings(tx, "", w.Guard); err != nil {
			return err
		}
		if err := writeApplied(tx, w.Applies); err != nil {
			return err
		}
		return writeAudit(tx, w.Entries)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Store) DeleteMember(ctx context.Context, id string) error {
	return s.RemoveMember(ctx, id, nil)
}

func (s *Store) RemoveMember(ctx context.Context, id string, check func(*domain.Member, *domain.MemberWrite) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		m, ok, err := get[record.Member](tx, bMembers, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("member", id)
		}
		var w domain.MemberWrite
		if check != nil {
			if err := check(m, &w); err != nil {
				return err
			}
		}
		if w.KeepAnAdmin {
			if err := keepAnAdmin(tx, id, m.Email, true); err != nil {
				return err
			}
		}
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		if err := tx.Bucket(bMemberEmails).Delete(emailKey(m.Email)); err != nil {
			return err
		}
		return tx.Bucket(bMembers).Delete(key(id))
	})
}

// keepAnAdmin is MemberWrite.KeepAnAdmin on bbolt: in the write
// transaction (bbolt has one writer at a time, so no other write can come
// between the count and the change), it looks for an admin member other
// than id and answers LastAdmin when there is none.
func keepAnAdmin(tx *bolt.Tx, id, email string, removal bool) error {
	c := tx.Bucket(bMembers).Cursor()
	self := key(id)
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		if bytes.Equal(k, self) {
			continue
		}
		m, err := decode[record.Member](raw)
		if err != nil {
			return fmt.Errorf("decode %s/%s: %w", bMembers, k, err)
		}
		if m.Role == domain.RoleAdmin {
			return nil
		}
	}
	return domain.LastAdmin(email, removal)
}

// ---- tokens ----

func (s *Store) CreateToken(ctx context.Context, t *domain.Token) error {
	return s.AddToken(ctx, t, nil)
}

// AddToken checks the organisation settings w.Guard names (ErrContention
// when they moved) in the token's transaction: a refusal rolls it all
// back.
func (s *Store) AddToken(ctx context.Context, t *domain.Token, w *domain.Audit) error {
	if w == nil {
		w = &domain.Audit{}
	}
	if w.Applies != nil {
		return fmt.Errorf("bbolt add token %s: creating a token applies no request (%s)", t.ID, w.Applies.ID)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := checkSettings(tx, "", w.Guard); err != nil {
			return err
		}
		if tx.Bucket(bTokens).Get(key(t.ID)) != nil || tx.Bucket(bTokenHashes).Get([]byte(t.Hash)) != nil {
			return domain.Errorf(domain.CodeConflict, "token %q already exists", t.ID)
		}
		if err := tx.Bucket(bTokenHashes).Put([]byte(t.Hash), []byte(t.ID)); err != nil {
			return err
		}
		if err := writeAudit(tx, w.Entries); err != nil {
			return err
		}
		return put(tx, bTokens, key(t.ID), record.FromToken(*t))
	})
}

func (s *Store) GetToken(ctx context.Context, id string) (t *domain.Token, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		t, ok, err = get[record.Token](tx, bTokens, key(id))
		if err == nil && !ok {
			err = domain.NotFound("token", id)
		}
		return err
	})
	return t, err
}

func (s *Store) GetTokenByHash(ctx context.Context, hash string) (t *domain.Token, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bTokenHashes).Get([]byte(hash))
		if id == nil {
			return domain.Errorf(domain.CodeNotFound, "token not found")
		}
		var ok bool
		t, ok, err = get[record.Token](tx, bTokens, id)
		if err == nil && (!ok || t.RevokedAt != nil) {
			err = domain.Errorf(domain.CodeNotFound, "token not found")
		}
		return err
	})
	return t, err
}

func (s *Store) ListTokens(ctx context.Context, memberID string, page domain.Page) (out []domain.Token, next string, err error) {
	keep := func(t *domain.Token) bool { return memberID == "" || t.MemberID == memberID }
	err = s.view(ctx, func(tx *bolt.Tx) error {
		out, next, err = list[record.Token](tx, bTokens, nil, page, keep)
		return err
	})
	return out, next, err
}

func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit ...domain.AuditEntry) (t *domain.Token, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var ok bool
		t, ok, err = get[record.Token](tx, bTokens, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("token", id)
		}
		if t.RevokedAt != nil {
			return nil
		}
		at := at.UTC()
		t.RevokedAt = &at
		if err := tx.Bucket(bTokenHashes).Delete([]byte(t.Hash)); err != nil {
			return err
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		return put(tx, bTokens, key(id), record.FromToken(*t))
	})
	return t, err
}

func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		t, ok, err := get[record.Token](tx, bTokens, key(id))
		if err != nil {
			return err
		}
		if !ok {
			return domain.NotFound("token", id)
		}
		if t.LastUsedAt != nil && !at.After(*t.LastUsedAt) {
			return nil
		}
		at := at.UTC()
		t.LastUsedAt = &at
		return put(tx, bTokens, key(id), record.FromToken(*t))
	})
}

func hasPrefix(k, prefix []byte) bool { return bytes.HasPrefix(k, prefix) }
