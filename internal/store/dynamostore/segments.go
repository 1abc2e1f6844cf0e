package dynamostore

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// A segment is the item PROJECT#<p> / SEGMENT#<key>: its whole record, the
// included and excluded keys inside (domain.MaxSegmentKeyBytes keeps it
// far below the 400 KB item limit). It sits in its project's partition
// beside the flags, so a project's segments are one Query, which Ruleset
// runs beside the flags' Query. Every segment write is one transaction
// with the increment of the project's ruleset version (addRulesetBump) and
// its audit entries with their outbox items (addAudit):
//
//   - create: an Update of the project item ADD flag_seq :one, conditioned
//     on the item existing (not_found otherwise; and a project delete that
//     saw no segment loses to it, as to a flag created meanwhile), and the
//     segment Put, attribute_not_exists (conflict otherwise);
//   - update: the segment Put, conditioned on the version read (a lost race
//     reads again and calls the update function again);
//   - delete: the segment Delete, conditioned on the version read, and the
//     ruleset version's increment conditioned on the version the caller
//     read before it checked the configs (ErrRulesetMoved otherwise): the
//     increment and the check are one item, since a transaction may not
//     name an item twice.

const prefixSegment = "SEGMENT#" // under PROJECT#<p>: SEGMENT#<key>

func segmentKey(p, k string) key { return key{prefixProject + p, prefixSegment + k} }

var _ domain.SegmentRepository = (*Store)(nil)

// The items of CreateSegment's transaction, before the ruleset version and
// the audit entries.
const (
	createSegmentSeqBump = iota // Update project ADD flag_seq, if the project exists
	createSegmentPut            // the segment, if its key is free
)

func errSegmentTooLarge(k string) error {
	return domain.Errorf(domain.CodeInvalid, "segment %q is larger than one stored item may be; list fewer or shorter keys", k)
}

func (s *Store) CreateSegment(ctx context.Context, seg *domain.Segment, audit []domain.AuditEntry) error {
	v := *seg
	v.Version = 1
	err := retry(ctx, func() error {
		var b txBuilder
		b.add(s.txUpdate(projectKey(seg.Project), expression.Add(expression.Name(attrFlagSeq), expression.Value(1)), itemExists))
		it, err := encode(segmentKey(seg.Project, seg.Key), record.FromSegment(v), nil)
		if err != nil {
			return err
		}
		b.add(s.txPut(it, &itemMissing))
		s.addRulesetBump(&b, seg.Project)
		from := s.addAudit(&b, audit)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, createSegmentSeqBump):
			return domain.NotFound("project", seg.Project)
		case failedCondition(err, createSegmentPut):
			return domain.Errorf(domain.CodeConflict, "segment %q already exists in project %q", seg.Key, seg.Project)
		case tooLarge(err):
			return errSegmentTooLarge(seg.Key)
		}
		return outcome(err, audit, from, "create segment "+seg.Project+"/"+seg.Key)
	})
	if err == nil {
		seg.Version = 1
	}
	return err
}

// readSegment reads a segment, strongly consistent; not_found (of the
// project, else of the segment) without it.
// segmentsExist reads the segments keys name (strongly consistent):
// domain.ErrSegmentGone for the first one project does not have.
func (s *Store) segmentsExist(ctx context.Context, project string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var ks []key
	var names []string
	for _, k := range keys {
		if !slices.Contains(names, k) {
			names = append(names, k)
			ks = append(ks, segmentKey(project, k))
		}
	}
	items, err := s.getMany(ctx, ks...)
	if err != nil {
		return err
	}
	for i, it := range items {
		if it == nil {
			return domain.ErrSegmentGone(names[i])
		}
	}
	return nil
}

// addSegmentChecks adds to b a check that each of keys (each once) is a
// segment of project; it returns where the checks start in b and the keys
// they check, in order.
func (s *Store) addSegmentChecks(b *txBuilder, project string, keys []string) (int, []string) {
	from := len(b.items)
	var checked []string
	for _, k := range keys {
		if !slices.Contains(checked, k) {
			checked = append(checked, k)
			b.add(s.txCheck(segmentKey(project, k), itemExists))
		}
	}
	return from, checked
}

func (s *Store) readSegment(ctx context.Context, project, k string) (*domain.Segment, error) {
	it, err := s.get(ctx, segmentKey(project, k))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, s.notFoundIn(ctx, project, "segment", k)
	}
	return decode[record.Segment](it)
}

func (s *Store) GetSegment(ctx context.Context, project, k string) (*domain.Segment, error) {
	return s.readSegment(ctx, project, k)
}

func (s *Store) ListSegments(ctx context.Context, project string, page domain.Page) ([]domain.Segment, string, error) {
	ok, err := s.exists(ctx, projectKey(project))
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", domain.NotFound("project", project)
	}
	return list[record.Segment](ctx, s, segmentListing(project), page)
}

func segmentListing(project string) listing {
	return listing{pk: prefixProject + project, prefix: prefixSegment, what: "segments of " + project}
}

func (s *Store) UpdateSegment(ctx context.Context, project, k string, fn func(*domain.Segment, *domain.SegmentWrite) error) (*domain.Segment, error) {
	var out *domain.Segment
	err := retry(ctx, func() error {
		seg, err := s.readSegment(ctx, project, k)
		if err != nil {
			return err
		}
		v := seg.Version
		var w domain.SegmentWrite
		if err := fn(seg, &w); err != nil {
			return err
		}
		audit := w.Audit
		seg.Version = v + 1
		it, err := encode(segmentKey(project, k), record.FromSegment(*seg), nil)
		if err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(v)
		b.add(s.txPut(it, &cond))
		rulesetAt := len(b.items)
		if w.RulesetVersion != nil {
			s.addRulesetBumpAt(&b, project, *w.RulesetVersion)
		} else {
			s.addRulesetBump(&b, project)
		}
		guardFrom, guardTo := s.addSettingsGuard(&b, project, w.Settings, "")
		opensAt := s.addOpens(&b, w.Opens)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		if err := openedExists(err, opensAt, w.Opens); err != nil {
			return err
		}
		if tooLarge(err) {
			return errSegmentTooLarge(k)
		}
		if _, stale := anyFailedCondition(err, guardFrom, guardTo); stale || (w.RulesetVersion != nil && failedCondition(err, rulesetAt)) {
			// what the gating decision read changed: the application
			// decides again
			return domain.ErrContention
		}
		// A failed condition: written or deleted meanwhile; the next read
		// tells which.
		if err := outcome(err, audit.Entries, from, "put segment "+project+"/"+k); err != nil {
			return err
		}
		out = seg
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The items of DeleteSegment's transaction, before the audit entries.
const (
	deleteSegmentDelete  = iota // the segment, at the version read
	deleteSegmentRuleset        // the ruleset version's increment, at the caller's version
)

func (s *Store) DeleteSegment(ctx context.Context, project, k string, rulesetVersion int64, check func(*domain.Segment, *domain.Audit) error) error {
	return retry(ctx, func() error {
		seg, err := s.readSegment(ctx, project, k)
		if err != nil {
			return err
		}
		var audit domain.Audit
		if err := check(seg, &audit); err != nil {
			return err
		}
		var b txBuilder
		cond := versionIs(seg.Version)
		b.add(s.txDelete(segmentKey(project, k), &cond))
		s.addRulesetBumpAt(&b, project, rulesetVersion)
		from := s.addAudit(&b, audit.Entries)
		err = s.transact(ctx, &b)
		switch {
		case err == nil:
			return nil
		case failedCondition(err, deleteSegmentRuleset):
			return domain.ErrRulesetMoved
		}
		return outcome(err, audit.Entries, from, "delete segment "+project+"/"+k)
	})
}

// projectSegments reads every segment of the project (Query
// begins_with(SK, "SEGMENT#"), strongly consistent), in key order.
func (s *Store) projectSegments(ctx context.Context, project string) ([]domain.Segment, error) {
	segs, err := listAll[record.Segment](ctx, s, segmentListing(project))
	if segs == nil && err == nil {
		segs = []domain.Segment{}
	}
	return segs, err
}
