package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

var bSegments = []byte("segments") // project/segment → Segment

var _ domain.SegmentRepository = (*Store)(nil)

func init() { allBuckets = append(allBuckets, bSegments) }

// Every segment write moves the project's ruleset version (bumpRuleset) and
// writes its audit entries in the same transaction. bbolt has one writer at
// a time, so a read-modify-write in one transaction cannot lose an update.

func (s *Store) CreateSegment(ctx context.Context, seg *domain.Segment, audit []domain.AuditEntry) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(seg.Project)) == nil {
			return domain.NotFound("project", seg.Project)
		}
		if tx.Bucket(bSegments).Get(key(seg.Project, seg.Key)) != nil {
			return domain.Errorf(domain.CodeConflict, "segment %q already exists in project %q", seg.Key, seg.Project)
		}
		if err := writeAudit(tx, audit); err != nil {
			return err
		}
		if err := bumpRuleset(tx, seg.Project); err != nil {
			return err
		}
		v := *seg
		v.Version = 1
		if err := put(tx, bSegments, key(seg.Project, seg.Key), record.FromSegment(v)); err != nil {
			return err
		}
		seg.Version = 1
		return nil
	})
}

// segmentsExist refuses (domain.ErrSegmentGone) when one of keys is not a
// segment of project.
func segmentsExist(tx *bolt.Tx, project string, keys []string) error {
	for _, k := range keys {
		if tx.Bucket(bSegments).Get(key(project, k)) == nil {
			return domain.ErrSegmentGone(k)
		}
	}
	return nil
}

func getSegment(tx *bolt.Tx, project, k string) (*domain.Segment, error) {
	if tx.Bucket(bProjects).Get(key(project)) == nil {
		return nil, domain.NotFound("project", project)
	}
	seg, ok, err := get[record.Segment](tx, bSegments, key(project, k))
	if err == nil && !ok {
		err = domain.NotFound("segment", k)
	}
	return seg, err
}

func (s *Store) GetSegment(ctx context.Context, project, k string) (seg *domain.Segment, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		seg, err = getSegment(tx, project, k)
		return err
	})
	return seg, err
}

func (s *Store) ListSegments(ctx context.Context, project string, page domain.Page) (out []domain.Segment, next string, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bProjects).Get(key(project)) == nil {
			return domain.NotFound("project", project)
		}
		out, next, err = list[record.Segment](tx, bSegments, key(project, ""), page, nil)
		return err
	})
	return out, next, err
}

func (s *Store) UpdateSegment(ctx context.Context, project, k string, fn func(*domain.Segment, *domain.SegmentWrite) error) (seg *domain.Segment, err error) {
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getSegment(tx, project, k); err != nil {
			return err
		}
		var w domain.SegmentWrite
		audit := &w.Audit
		seg, err = modify(tx, bSegments, key(project, k), domain.NotFound("segment", k), record.FromSegment,
			func(seg *domain.Segment) *int64 { return &seg.Version },
			func(seg *domain.Segment) error { return fn(seg, &w) })
		if err != nil {
			return err
		}
		if err := checkSettings(tx, project, w.Settings); err != nil {
			return err
		}
		if w.RulesetVersion != nil && rulesetVersionIn(tx, project) != *w.RulesetVersion {
			return domain.ErrContention
		}
		if err := bumpRuleset(tx, project); err != nil {
			return err
		}
		if err := opens(tx, w.Opens); err != nil {
			return err
		}
		return writeAudit(tx, audit.Entries)
	})
	return seg, err
}

func (s *Store) DeleteSegment(ctx context.Context, project, k string, rulesetVersion int64, check func(*domain.Segment, *domain.Audit) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		seg, err := getSegment(tx, project, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(seg, &audit); err != nil {
			return err
		}
		if current := rulesetVersionIn(tx, project); current != rulesetVersion {
			return domain.ErrRulesetMoved
		}
		if err := writeAudit(tx, audit.Entries); err != nil {
			return err
		}
		if err := bumpRuleset(tx, project); err != nil {
			return err
		}
		return tx.Bucket(bSegments).Delete(key(project, k))
	})
}

// rulesetVersionIn reads the project's ruleset version in tx (0 before the
// first write).
func rulesetVersionIn(tx *bolt.Tx, project string) int64 {
	if raw := tx.Bucket(bRulesetVersion).Get(key(project)); len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw))
	}
	return 0
}

// projectSegments reads every segment of the project, in key order.
func projectSegments(tx *bolt.Tx, project string) ([]domain.Segment, error) {
	out := []domain.Segment{}
	prefix := key(project, "")
	c := tx.Bucket(bSegments).Cursor()
	for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
		seg, err := decode[record.Segment](raw)
		if err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", bSegments, k, err)
		}
		out = append(out, *seg)
	}
	return out, nil
}

// hasSegments reports whether the project has a segment (a project is
// deleted only without them, as without flags).
func hasSegments(tx *bolt.Tx, project string) bool {
	prefix := key(project, "")
	k, _ := tx.Bucket(bSegments).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}
