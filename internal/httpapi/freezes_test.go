package httpapi_test

import (
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
)

// The freeze routes' refusals: 422 naming each bad field, 404 for a
// freeze that is not there, 409 stale; and a direct write in a frozen
// environment is the frozen problem, naming the freeze.
func TestFreezeRoutes(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	now := a.svc.Now()
	a.do("POST", "/v1/freezes", map[string]any{"name": "", "project": "Not A Key", "environments": []string{"prod", "prod"},
		"start": "0 16 13 * fri", "end": "0 8 * * mon", "time_zone": "Mars/Base", "scheduled": "later"}).
		wantProblem(t, 422, domain.CodeInvalid, "/name", "/project", "/environments/1", "/scheduled", "/time_zone", "/start")
	a.do("POST", "/v1/freezes", map[string]any{"name": "Backwards", "from": now.Add(2 * time.Hour), "to": now.Add(time.Hour)}).
		wantProblem(t, 422, domain.CodeInvalid, "/to")
	a.do("POST", "/v1/freezes", map[string]any{"name": "Nothing"}).wantProblem(t, 422, domain.CodeInvalid, "/from")
	a.do("POST", "/v1/freezes", map[string]any{"name": "x", "unknown": 1}).wantProblem(t, 422, domain.CodeInvalid, "/unknown")
	a.do("GET", "/v1/freezes?active_at=soon", nil).wantProblem(t, 422, domain.CodeInvalid, "?active_at")
	a.do("GET", "/v1/freezes/fz_nothing", nil).wantProblem(t, 404, domain.CodeNotFound)

	var fz struct {
		ID      string `json:"id"`
		Active  bool   `json:"active"`
		Version int64  `json:"version"`
	}
	a.do("POST", "/v1/freezes", map[string]any{"name": "Staging freeze", "project": "shop", "environments": []string{"staging"},
		"from": now, "to": now.Add(time.Hour)}).want(t, 201).json(&fz)
	if !fz.Active || fz.Version != 1 {
		t.Fatalf("created: %+v", fz)
	}
	a.do("PATCH", "/v1/freezes/"+fz.ID, map[string]any{"name": "y"}, mergePatch(), ifMatch("7")).wantProblem(t, 409, domain.CodeConflict)
	a.do("PATCH", "/v1/freezes/"+fz.ID, map[string]any{"active": false}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid)
	a.do("PATCH", "/v1/freezes/"+fz.ID, map[string]any{"time_zone": "Mars/Base"}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/time_zone")

	p := a.do("PATCH", "/v1/projects/shop/flags/new-checkout/environments/staging", map[string]any{"enabled": true}, mergePatch()).
		wantProblem(t, 409, domain.CodeFrozen)
	if p.Freeze == nil || p.Freeze.ID != fz.ID || p.Freeze.Name != "Staging freeze" || !p.Freeze.Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("the problem does not name the freeze: %+v", p)
	}
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout/environments/development", map[string]any{"enabled": true}, mergePatch()).want(t, 200)
	a.do("DELETE", "/v1/freezes/"+fz.ID, nil).want(t, 204)
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout/environments/staging", map[string]any{"enabled": true}, mergePatch()).want(t, 200)
}
