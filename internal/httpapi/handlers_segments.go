package httpapi

import (
	"net/http"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// ---- segments ----

func segmentPath(s *domain.Segment) string {
	return "/v1/projects/" + esc(s.Project) + "/segments/" + esc(s.Key)
}

func (s *Server) listSegments(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	return listed(w, r, func(pg domain.Page) ([]domain.Segment, string, error) {
		return s.svc.ListSegments(r.Context(), p, r.PathValue("project"), pg)
	}, segmentView)
}

func (s *Server) createSegment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in segmentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	seg, err := s.svc.CreateSegment(r.Context(), p, r.PathValue("project"), in.toApp())
	if err != nil {
		return err
	}
	return created(w, segmentPath(seg), seg.Version, segmentView(seg))
}

func (s *Server) getSegment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	seg, err := s.svc.GetSegment(r.Context(), p, r.PathValue("project"), r.PathValue("segment"))
	if err != nil {
		return err
	}
	return writeVersioned(w, http.StatusOK, seg.Version, segmentView(seg))
}

// putSegment replaces a segment whole, at the version the client read
// (If-Match or version: required, 428 without).
func (s *Server) putSegment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	var in segmentPut
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	expected, err := requiredVersion(r, in.Version, "segment")
	if err != nil {
		return err
	}
	project, key := r.PathValue("project"), r.PathValue("segment")
	if err := matchesURL([3]string{"project", in.Project, project}, [3]string{"key", in.Key, key}); err != nil {
		return err
	}
	out, err := s.svc.UpdateSegment(r.Context(), p, project, key, expected, changeOptions(r), func(seg *domain.Segment) error {
		next := in.SegmentView.toDomain()
		next.Project, next.Key, next.Version, next.CreatedAt, next.UpdatedAt = seg.Project, seg.Key, seg.Version, seg.CreatedAt, seg.UpdatedAt
		*seg = next
		return nil
	})
	if err != nil {
		return notifyHeaderErrors(err)
	}
	return writeOutcome(w, out, segmentView, segmentVersion)
}

func (s *Server) patchSegment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	patch, err := readPatch(w, r)
	if err != nil {
		return err
	}
	expected, err := expectedVersion(r, nil)
	if err != nil {
		return err
	}
	out, err := s.svc.UpdateSegment(r.Context(), p, r.PathValue("project"), r.PathValue("segment"), expected, changeOptions(r), func(seg *domain.Segment) error {
		return patchView(patch, "segment", seg, segmentView, (*SegmentView).toDomain, segmentReadOnly...)
	})
	if err != nil {
		return notifyHeaderErrors(err)
	}
	return writeOutcome(w, out, segmentView, segmentVersion)
}

// deleteSegment deletes a segment no targeting uses (409 naming a flag
// and environment that uses it).
func (s *Server) deleteSegment(w http.ResponseWriter, r *http.Request, p *app.Principal) error {
	if err := s.svc.DeleteSegment(r.Context(), p, r.PathValue("project"), r.PathValue("segment")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
