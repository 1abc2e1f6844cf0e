// Package devtools holds routes that exist only in development runs
// (COUNTERSIGN_DEV=1): without the flag they are not mounted at all.
package devtools

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/clock"
)

// ClockHandler serves GET and POST /dev/clock over a movable clock:
// {"advance": "25h"} moves it forward, {"set": "2026-01-02T00:00:00Z"} sets it.
// After a move, onMove runs (the local runtime sweeps the timers at once).
func ClockHandler(c *clock.Manual, onMove func()) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/clock", func(w http.ResponseWriter, r *http.Request) { writeNow(w, c) })
	mux.HandleFunc("POST /dev/clock", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Advance string     `json:"advance"`
			Set     *time.Time `json:"set"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			problem(w, http.StatusBadRequest, "malformed", "send {\"advance\": \"25h\"} or {\"set\": \"2026-01-02T00:00:00Z\"}", "")
			return
		}
		switch {
		case in.Advance != "" && in.Set != nil:
			problem(w, http.StatusUnprocessableEntity, "invalid", "give advance or set, not both", "/set")
			return
		case in.Advance != "":
			d, err := time.ParseDuration(in.Advance)
			if err != nil || d <= 0 {
				problem(w, http.StatusUnprocessableEntity, "invalid", "advance is a positive Go duration like 25h or 90m", "/advance")
				return
			}
			c.Advance(d)
		case in.Set != nil:
			c.Set(*in.Set)
		default:
			problem(w, http.StatusUnprocessableEntity, "invalid", "give advance or set", "/advance")
			return
		}
		if onMove != nil {
			onMove()
		}
		writeNow(w, c)
	})
	return mux
}

func writeNow(w http.ResponseWriter, c *clock.Manual) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"now": c.Now().Format(time.RFC3339Nano)})
}

func problem(w http.ResponseWriter, status int, code, detail, pointer string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	p := map[string]any{"type": "https://countersign.dev/problems/" + code, "title": http.StatusText(status), "status": status, "code": code, "detail": detail}
	if pointer != "" {
		p["errors"] = []map[string]string{{"pointer": pointer, "detail": detail}}
	}
	_ = json.NewEncoder(w).Encode(p)
}
