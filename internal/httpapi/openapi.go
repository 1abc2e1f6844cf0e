package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/countersign/countersign/internal/app"
)

// OpenAPI is the API's OpenAPI document. A test keeps it and the route table
// in step, and validates the test suite's requests and responses against it.
//
//go:embed openapi.yaml
var OpenAPI []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request, _ *app.Principal) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(OpenAPI)
	return err
}
