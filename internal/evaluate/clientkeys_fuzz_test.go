package evaluate_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzClientKey sends any body, to any flag key and to every flag, with
// shop's production client key, from any Origin. Properties:
//
//   - nothing panics and no answer is 5xx;
//   - every answer varies on Origin; a page of another origin than the
//     environment's is refused (403) without CORS headers, and an answer
//     carries Access-Control-Allow-Origin only for the allowed origin;
//   - only the exposed flag (banner) is ever answered: any other key
//     (unexposed, archived, missing) answers exactly as a missing flag,
//     and the bulk answer lists banner alone;
//   - nothing of an unexposed flag (its value, its salt) ever shows.
func FuzzClientKey(f *testing.F) {
	e := clientSetup(f) // one store for the whole run: client keys write nothing (no flag is sticky)
	var n atomic.Int64
	for i, body := range []string{userBody, `{}`, ``, `{"context":{"targetingKey":7}}`, `{"context":[1]}`, `{"context":{"targetingKey":"u","pad":"` + strings.Repeat("x", 9000) + `"}}`} {
		for j, key := range []string{"banner", "pricing", "old-banner", "other-banner", "no-such-flag", ""} {
			origin := []string{"", shopOrigin, otherOrigin, "null", "https://shop.example.com.evil.test"}[(i+j)%5]
			f.Add([]byte(body), key, origin)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, key, origin string) {
		e := &clientEnv{t: t, store: e.store, clock: e.clock, h: e.h}
		if strings.ContainsAny(origin, "\r\n\x00") || strings.TrimSpace(origin) != origin {
			return // not a header value a client can send
		}
		// each input from its own address: the rate limit is tested apart
		addr := fmt.Sprintf("10.%d.%d.%d:1234", n.Load()>>16&255, n.Load()>>8&255, n.Add(1)&255)
		headers := []string{"RemoteAddr", addr}
		if origin != "" {
			headers = append(headers, "Origin", origin)
		}
		check := func(path string) []byte {
			w := e.call("POST", path, shopClient, string(body), headers...)
			desc := fmt.Sprintf("POST %s from %q with %q → %d %v %s", path, origin, body, w.Code, w.Header(), w.Body)
			switch acao := w.Header().Get("Access-Control-Allow-Origin"); {
			case w.Code >= 500:
				t.Fatalf("a server error: %s", desc)
			case w.Header().Get("Vary") != "Origin":
				t.Fatalf("no Vary: Origin: %s", desc)
			case origin != "" && origin != shopOrigin && (w.Code != 403 || acao != ""):
				t.Fatalf("another origin was not refused: %s", desc)
			case acao != "" && acao != shopOrigin:
				t.Fatalf("CORS for %q: %s", acao, desc)
			case strings.Contains(w.Body.String(), "salt1234") || strings.Contains(w.Body.String(), `"value"`) && !strings.Contains(w.Body.String(), `"key":"banner"`):
				t.Fatalf("an answer beyond the exposed flag: %s", desc)
			}
			if w.Code == 200 {
				return w.Body.Bytes()
			}
			return nil
		}
		if key != "" && key != "." && key != ".." && !strings.Contains(key, "/") {
			if raw := check("/ofrep/v1/evaluate/flags/" + url.PathEscape(key)); raw != nil && key != "banner" {
				t.Fatalf("flag %q answered for a client key: %s", key, raw)
			}
		}
		if raw := check("/ofrep/v1/evaluate/flags"); raw != nil {
			var out struct {
				Flags []struct {
					Key string `json:"key"`
				} `json:"flags"`
			}
			if json.Unmarshal(raw, &out) != nil || len(out.Flags) != 1 || out.Flags[0].Key != "banner" {
				t.Fatalf("bulk with the client key: %s", raw)
			}
		}
	})
}
