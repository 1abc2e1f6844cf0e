package domain

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Flags in browsers and mobile apps (issue 17). A client key is an SDK key
// of kind "client": public by design (it sits in page source and app
// bundles), it reads only the flags exposed to clients (Flag.ClientExposed)
// and only their evaluated answers, never the ruleset. Browsers may call
// with it from the origins its environment allows (Environment.AllowedOrigins).

// SDKKeyKind says who holds an SDK key: a server (secret) or a client
// (public).
type SDKKeyKind string

// The SDK key kinds. A key stored without a kind (made before kinds
// existed) is a server key.
const (
	SDKKeyServer SDKKeyKind = "server"
	SDKKeyClient SDKKeyKind = "client"
)

// ParseSDKKeyKind reads a kind as clients send it: empty means server.
func ParseSDKKeyKind(s string) (SDKKeyKind, bool) {
	switch SDKKeyKind(s) {
	case "", SDKKeyServer:
		return SDKKeyServer, true
	case SDKKeyClient:
		return SDKKeyClient, true
	}
	return "", false
}

// Client reports whether k is a client key.
func (k *SDKKey) Client() bool { return k.Kind == SDKKeyClient }

// KindOrServer is k's kind; a key stored without one is a server key.
func (k *SDKKey) KindOrServer() SDKKeyKind {
	if k.Kind == "" {
		return SDKKeyServer
	}
	return k.Kind
}

// Created, Rotated and Revoked are the audit actions of a key of kind k.
func (k SDKKeyKind) Created() AuditAction {
	if k == SDKKeyClient {
		return ActionClientKeyCreated
	}
	return ActionSDKKeyCreated
}

func (k SDKKeyKind) Rotated() AuditAction {
	if k == SDKKeyClient {
		return ActionClientKeyRotated
	}
	return ActionSDKKeyRotated
}

func (k SDKKeyKind) Revoked() AuditAction {
	if k == SDKKeyClient {
		return ActionClientKeyRevoked
	}
	return ActionSDKKeyRevoked
}

// AnyOrigin, alone in an environment's allowed origins, lets every web
// origin call with its client keys.
const AnyOrigin = "*"

// MaxAllowedOrigins bounds an environment's allowed origins.
const MaxAllowedOrigins = 20

// CheckOrigin says why s is not an origin an environment may allow, or ""
// when it is one: a serialized web origin (RFC 6454) as browsers send it in
// the Origin header, http or https, a lower-case host, a port only when it
// is not the scheme's default, and nothing else (no path, not even "/",
// no query, fragment or user). "null" is never one.
func CheckOrigin(s string) string {
	if s == "null" {
		return `"null" (sandboxed pages, files) cannot be allowed: it would let any such page in`
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "must be an origin such as https://app.example.com"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with https:// or http://"
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return "must be an origin only, without a path (not even a trailing /), query or fragment"
	case strings.Contains(u.Hostname(), "*"):
		return `wildcards are not allowed in an origin; list each origin, or give "*" alone`
	}
	canonical := u.Scheme + "://" + strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		canonical = u.Scheme + "://" + strings.ToLower(u.Hostname())
	}
	if canonical != s {
		return fmt.Sprintf("must be written as browsers send it: %s", canonical)
	}
	return ""
}

// validateOrigins checks an environment's allowed origins.
func validateOrigins(v *Validation, origins []string) {
	if len(origins) > MaxAllowedOrigins {
		v.Add("/allowed_origins", "at most %d origins", MaxAllowedOrigins)
		return
	}
	for i, o := range origins {
		p := fmt.Sprintf("/allowed_origins/%d", i)
		switch {
		case o == AnyOrigin && len(origins) > 1:
			v.Add(p, `"*" allows every origin: give it alone`)
		case o == AnyOrigin:
		case slices.Index(origins, o) < i:
			v.Add(p, "%s is listed twice", o)
		default:
			if why := CheckOrigin(o); why != "" {
				v.Add(p, "%s", why)
			}
		}
	}
}

// AllowsOrigin reports whether a browser page of origin may call with the
// environment's client keys: the origin is listed exactly, or "*" is.
// "null" never is.
func (e *Environment) AllowsOrigin(origin string) bool {
	return OriginAllowedBy(e.AllowedOrigins, origin)
}

// OriginAllowedBy reports whether allowed (an environment's allowed
// origins) lets origin in: exactly, or by "*"; "null" never.
func OriginAllowedBy(allowed []string, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	for _, a := range allowed {
		if a == origin || a == AnyOrigin {
			return true
		}
	}
	return false
}

// OriginChanges are the origins after allows that before did not (added)
// and the other way round (removed): what an origin index must learn when
// an environment's allowed origins change.
func OriginChanges(before, after []string) (added, removed []string) {
	for _, o := range after {
		if !slices.Contains(before, o) && !slices.Contains(added, o) {
			added = append(added, o)
		}
	}
	for _, o := range before {
		if !slices.Contains(after, o) && !slices.Contains(removed, o) {
			removed = append(removed, o)
		}
	}
	return added, removed
}

// OriginIndexEntry is how an origin index names an environment.
func OriginIndexEntry(project, env string) string { return project + "/" + env }

// ExposureChangeShows reports whether changing f's client exposure to
// next's changes what browsers and apps see where c is the targeting:
// exposing a flag always does (its answers, variant values included, become
// public), hiding one does where it serves anything (clients fall back to
// their code defaults).
func (f *Flag) ExposureChangeShows(next *Flag, c *FlagConfig) bool {
	switch {
	case f.ClientExposed == next.ClientExposed:
		return false
	case next.ClientExposed:
		return true
	}
	return c.Enabled || (c.OffVariant != "" && c.OffVariant != OffVariantKey)
}
