// Package record holds the stored form of every entity the stores keep:
// one record type per domain type, with conversions both ways next to it
// (FromX and Domain). Their `json` tags are the storage schema of both
// stores: the embedded store writes records as JSON, the DynamoDB store
// marshals them into items under the same names. Domain structs never reach
// an encoder here, so renaming a field or a tag of a domain struct (or of an
// API view) changes nothing stored; renaming a record's tag would, and the
// goldens in testdata refuse it.
//
// The DynamoDB store's sign-in links and sessions keep their own records
// (dynamostore/identity.go): their times are stored as sortable strings and
// they carry a ttl, so their items differ from the records here.
package record

// Of is a storage record of the domain type D.
type Of[D any] interface {
	Domain() D
}

// each converts a list element by element, keeping nil nil and empty empty:
// the two are stored differently (null and []).
func each[A, B any](s []A, f func(A) B) []B {
	if s == nil {
		return nil
	}
	out := make([]B, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

// optional converts an optional value.
func optional[A, B any](p *A, f func(A) B) *B {
	if p == nil {
		return nil
	}
	v := f(*p)
	return &v
}

// eachValue converts a map value by value, keeping nil nil and empty empty.
func eachValue[A, B any](m map[string]A, f func(A) B) map[string]B {
	if m == nil {
		return nil
	}
	out := make(map[string]B, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}
