package infra

import (
	"strings"
	"testing"
)

// Flags in browsers (issue 17): the evaluate function answers the OFREP
// routes' CORS preflights itself, per environment. So every OFREP method,
// OPTIONS included, must reach it through the HttpApi route API Gateway
// picks (not the console's catch-all), and no HttpApi may carry a
// CorsConfiguration, with which API Gateway answers preflights itself.
func TestOFREPPreflightsReachTheEvaluateFunction(t *testing.T) {
	tpl := loadTemplate(t)
	routes, _ := tpl.httpRoutes()
	for _, want := range []struct{ method, path string }{
		{"POST", "/ofrep/v1/evaluate/flags"}, {"OPTIONS", "/ofrep/v1/evaluate/flags"},
		{"POST", "/ofrep/v1/evaluate/flags/new-checkout"}, {"OPTIONS", "/ofrep/v1/evaluate/flags/new-checkout"},
		{"GET", "/v1/projects/p/environments/e/ruleset"},
	} {
		best, bestScore := "", -1
		for _, r := range routes {
			if r.method != "ANY" && r.method != want.method {
				continue
			}
			if _, ok := matchRoute(r.path, want.path); ok {
				if sc := specificity(r.path); sc > bestScore {
					best, bestScore = r.fn, sc
				}
			}
		}
		if best != "EvaluateFunction" {
			t.Errorf("%s %s reaches %q through API Gateway, want EvaluateFunction", want.method, want.path, best)
		}
	}
	for _, id := range tpl.ofType("AWS::Serverless::HttpApi") {
		props := asMap(tpl.resources[id]["Properties"])
		for k := range props {
			if strings.EqualFold(k, "CorsConfiguration") {
				t.Errorf("%s has a CorsConfiguration: API Gateway would answer the OFREP preflights itself, from one allowlist for every environment", id)
			}
		}
	}
}
