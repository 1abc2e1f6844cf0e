package devtools

import (
	"encoding/json"
	"net/http"

	"github.com/countersign/countersign/internal/notify/eventbus"
)

// EventsHandler lists the domain events a local run published (newest last).
func EventsHandler(p *eventbus.LogPublisher) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": p.Events()})
	})
}
